"""Fakes with crash points, for the stateful model test (tests/unit/test_state_machine.py).

On top of the in-memory IMAP account, wiki and SMTP server of tests/fakes.py: a wiki write or a
state-store call after which the process dies, a stop event that is set mid-pass, and a sender
that tells which message each reply links to; and the settings of the mapping the machine runs.
A crash is `tests.fakes.Crash`, a `BaseException` as SIGKILL would be.
"""

from __future__ import annotations

import re
import threading
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from typing import Any

from bridge.adapters.state.store import SqliteStateStore
from bridge.adapters.wiki import EditResult
from bridge.service.config import MailboxSettings, ReplyMode, SmtpSettings
from tests.fakes import Crash, FakeSender, FakeWiki
from tests.settings import mailbox_settings

_ANCHOR = re.compile(r"msg-[0-9a-f]{16}")


def mapping_settings(
    name: str, folders: tuple[str, ...], prefix: str, reply: ReplyMode, batch_size: int, refused: int
) -> MailboxSettings:
    """The mapping the machine runs: link replies on, every person but p<refused>@example.org allowed."""
    return mailbox_settings(
        name=name,
        folders=folders,
        page_prefix=prefix,
        categories=("Mail archive",),
        batch_size=batch_size,
        address="team@example.org",
        reply=reply,
        allowed_senders=tuple(f"p{n}@example.org" for n in range(3) if n != refused),
    )


SMTP_SETTINGS = SmtpSettings(host="smtp.example.org", from_address="wiki@example.org").model_copy(
    # Rows are timed by the wall clock, the outbox by the test's clock: no hourly limit may interfere
    # (beyond what a config file may set, so copied in unchecked).
    update={"max_replies_per_sender_per_hour": 1_000_000}
)


class CrashingWiki(FakeWiki):
    """The fake wiki, plus a process crash right after the write numbered `crash_at` is applied."""

    crash_at: int | None = None

    def create_page(self, title: str, text: str, summary: str) -> EditResult | None:
        """Create as the fake does, then die if this was the chosen write."""
        result = super().create_page(title, text, summary)
        self._crash_here()
        return result

    def append_to_page(self, title: str, text: str, summary: str) -> EditResult | None:
        """Append as the fake does, then die if this was the chosen write."""
        result = super().append_to_page(title, text, summary)
        self._crash_here()
        return result

    def _crash_here(self) -> None:
        if self.writes == self.crash_at:
            raise Crash


class CrashingState:
    """The state store, with the process dying right after its `calls`-th call returns (any call)."""

    def __init__(self, store: SqliteStateStore, calls: int) -> None:
        self._store = store
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            self._calls -= 1
            if self._calls == 0:
                raise Crash
            return result

        return call


class StopAfter(threading.Event):
    """A stop event that is set once the pass has looked at it `checks` times (SIGTERM mid-pass)."""

    def __init__(self, checks: int) -> None:
        super().__init__()
        self._checks = checks

    def is_set(self) -> bool:
        """Report set from the `checks`-th look on."""
        self._checks -= 1
        return self._checks < 0 or super().is_set()


class RecordingSender(FakeSender):
    """The fake SMTP server, telling of each reply it took which message it links to."""

    @property
    def sent(self) -> list[tuple[str, str]]:
        """(anchor of the message the reply links to, recipient) of each reply taken."""
        return [(_anchor(message), recipient) for recipient, message in self.delivered]


def _anchor(message: bytes) -> str:
    """The one `#msg-…` anchor a link reply's plain text points to."""
    mail = message_from_bytes(message, policy=email_policy.default)
    assert isinstance(mail, EmailMessage)
    body = mail.get_body(("plain",))
    assert body is not None
    anchors = set(_ANCHOR.findall(body.get_content()))
    assert len(anchors) == 1, anchors
    return str(anchors.pop())
