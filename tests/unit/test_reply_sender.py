"""The replies' sender: `smtp.from_address` with a display name, RFC 2047-encoded in the From header."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from bridge.core.model import Message
from bridge.core.replies import ReplyContext, ReplySeed, ReplyTexts, compose_refusal, compose_reply
from bridge.errors import ConfigError
from bridge.service.config import Settings, load_settings

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SEED = ReplySeed.of(
    Message(
        message_id="m1@example.de",
        references=(),
        subject="Budget",
        sender_name="Anna Schmidt",
        sender_address="anna@example.de",
        date=NOW,
        body_text="Passt.",
    )
)


def _settings(tmp_path: Path, from_address: str) -> Settings:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n", encoding="utf-8")
    secret.chmod(0o600)
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[wiki]
api_url = "https://wiki.example.org/w/api.php"
username = "Bridge@bridge"
password_file = "{secret}"

[smtp]
host = "smtp.example.org"
from_address = {json.dumps(from_address)}

[[mailboxes]]
name = "sales"
host = "imap.example.org"
username = "sales@example.org"
password_file = "{secret}"
page_prefix = "Sales/Mail"
""",
        encoding="utf-8",
    )
    return load_settings(path, environ={})


@pytest.mark.parametrize(
    ("written", "name", "address"),
    [
        ("wiki@firma.de", "", "wiki@firma.de"),
        ("Wiki-Brücke <wiki@firma.de>", "Wiki-Brücke", "wiki@firma.de"),
        ('"Wiki, Brücke \\"IT\\" <intern>" <wiki@firma.de>', 'Wiki, Brücke "IT" <intern>', "wiki@firma.de"),
        ("<wiki@firma.de>", "", "wiki@firma.de"),
    ],
)
def test_from_address_takes_a_display_name(tmp_path: Path, written: str, name: str, address: str) -> None:
    """The address alone, `Name <address>` or a quoted name: kept as written, split for use."""
    settings = _settings(tmp_path, written)
    assert settings.smtp is not None
    assert settings.smtp.from_address == written
    assert (settings.smtp.display_name, settings.smtp.address) == (name, address)
    # The bridge never answers its own address, whatever the display name.
    assert address in settings.own_addresses()


@pytest.mark.parametrize(
    "written",
    [
        "Wiki-Brücke",
        "Wiki <not an address>",
        "Wiki <wiki@firma.de> and more",
        "Wiki <wiki@firma.de",
        "Wiki\r\nBcc: all@firma.de <wiki@firma.de>",
        '"unterminated <wiki@firma.de>',
    ],
)
def test_malformed_from_address_is_named_by_key(tmp_path: Path, written: str) -> None:
    """A value that is no address with an optional display name is refused under its key."""
    with pytest.raises(ConfigError) as info:
        _settings(tmp_path, written)
    assert info.value.problems == [
        'smtp.from_address: must be an e-mail address, optionally with a display name ("Name <address>")'
    ]


def _context(name: str) -> ReplyContext:
    page = "https://wiki.example.de/index.php?title=Sales/Mail/Budget"
    return ReplyContext("wiki@firma.de", "team@firma.de", "sales", page, f"{page}#msg-1", from_name=name)


def _parsed(reply: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(reply.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_display_name_is_rfc2047_encoded_on_the_wire() -> None:
    """A non-ASCII display name travels as encoded words and decodes to the name and the address."""
    texts = ReplyTexts.load("de", None)
    for reply in (
        compose_reply(SEED, _context("Wiki-Brücke"), texts, NOW),
        compose_refusal(SEED, "nicht erlaubt", _context("Wiki-Brücke"), texts, NOW),
    ):
        wire = reply.as_bytes()
        assert b"From: =?utf-8?q?Wiki-Br=C3=BCcke?= <wiki@firma.de>" in wire
        assert wire.partition(b"\n\n")[0].isascii()  # every header, the From header too
        (sender,) = _parsed(reply)["From"].addresses
        assert (sender.display_name, sender.addr_spec) == ("Wiki-Brücke", "wiki@firma.de")
        # The reply's own Message-ID is made from the address only, as before.
        assert str(reply["Message-ID"]).endswith("@firma.de>")


def test_without_display_name_the_from_header_is_the_address() -> None:
    """No display name: the From header is the bare address, as replies were before."""
    reply = compose_reply(SEED, _context(""), ReplyTexts.load("en", None), NOW)
    assert b"\nFrom: wiki@firma.de\n" in reply.as_bytes()
