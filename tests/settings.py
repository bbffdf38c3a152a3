"""Settings for tests that build them in code: one mailbox mapping with overrides, as the file spells them."""

from __future__ import annotations

from typing import Any

from bridge.service.config import MailboxSettings, Secret


def mailbox_settings(**overrides: Any) -> MailboxSettings:
    """The mapping `team` on imap.example.org, pages under Mail/Team; `overrides` are flat config keys.

    Validated as the config file is (tuples stand for lists), so a test cannot build settings the
    bridge would refuse to load.
    """
    flat: dict[str, Any] = {
        "name": "team",
        "host": "imap.example.org",
        "username": "team",
        "password": Secret("unused"),
        "page_prefix": "Mail/Team",
        **overrides,
    }
    return MailboxSettings.model_validate(flat)
