#!/usr/bin/env bash
# scripts/demo.sh [--no-wait] - show the bridge at work on throwaway local servers.
#
# Sets up the machine (scripts/setup.sh), then scripts/demo.py starts Dovecot and MediaWiki on
# 127.0.0.1, loads the sample mailbox, runs one sync pass and prints the pages it wrote.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
"$REPO/scripts/setup.sh"
exec "$REPO/.venv/bin/python" "$REPO/scripts/demo.py" "$@"
