"""Allows `python -m bridge`, the same as the `email-wiki-bridge` command."""

import sys

from bridge.service.cli import main

sys.exit(main())
