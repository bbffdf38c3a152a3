"""The shipped example config stays true to the code: it loads, and it documents every key."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from bridge.service.config import (
    MailboxRoute,
    MailboxSettings,
    OrganisationSettings,
    SmtpSettings,
    WikiSettings,
    load_settings,
    toml_keys,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.toml"
README = Path(__file__).resolve().parents[2] / "README.md"
# The secret sources other than password_file are documented as alternatives in its comment.
DOCUMENTED_WITH_PASSWORD_FILE = {"password_env", "credential"}


def test_example_config_loads(tmp_path: Path) -> None:
    """config/example.toml is valid once its secret files exist."""
    shutil.copy(EXAMPLE, tmp_path / "config.toml")
    (tmp_path / "secrets").mkdir()
    for name in ("wiki", "sales"):
        (tmp_path / "secrets" / name).write_text("secret\n")
        (tmp_path / "secrets" / name).chmod(0o600)
    settings = load_settings(tmp_path / "config.toml", environ={})
    assert [mailbox.name for mailbox in settings.mailboxes] == ["sales"]
    assert settings.smtp is not None and settings.smtp.from_address == "wiki-bridge@example.com"


def test_every_setting_is_documented_in_the_example_and_the_readme() -> None:
    """Each key of [wiki], [smtp], [[mailboxes]] and routes appears in the example config and the README."""
    example = EXAMPLE.read_text(encoding="utf-8")
    readme = README.read_text(encoding="utf-8")
    for settings_class in (WikiSettings, SmtpSettings, MailboxSettings, MailboxRoute, OrganisationSettings):
        for key in toml_keys(settings_class):
            if key in DOCUMENTED_WITH_PASSWORD_FILE:
                continue
            if key == "routes":  # written as [[mailboxes.routes]] tables
                key = "mailboxes.routes"
                assert "# [[mailboxes.routes]]" in example and "[[mailboxes.routes]]" in readme
                continue
            assert re.search(rf"^#?\s*{key} =", example, re.MULTILINE), (
                f"{key} missing in config/example.toml"
            )
            assert f"`{key}`" in readme or f"{key}`" in readme or f".{key}" in readme, (
                f"{key} missing in README"
            )
