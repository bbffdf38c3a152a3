"""Fakes with crash points, for the stateful model test (tests/unit/test_state_machine.py).

On top of the in-memory IMAP account and wiki of tests/fakes.py: keyword flags and header search
(what the quarantine in flag mode and its release use), a wiki write or a state-store call after
which the process dies, a stop event that is set mid-pass, and an SMTP server that takes every
reply and notes which message it links to; and the settings of the mapping the machine runs.
A crash is a `BaseException`, as SIGKILL would be: no `except Exception` in the bridge can catch
it and carry on.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Sequence
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from typing import Any

from bridge.adapters.imap import FolderStatus
from bridge.adapters.state.store import SqliteStateStore
from bridge.adapters.wiki import EditResult
from bridge.service.config import MailboxSettings, ReplyMode, SmtpSettings
from tests.fakes import FakeMailbox, FakeWiki, message_id_field
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


class Crash(BaseException):
    """The bridge process dies (SIGKILL): nothing after this point of the pass runs."""


class QuarantineMailbox(FakeMailbox):
    """The fake IMAP account with keyword flags, which the quarantine (flag mode) and its release use."""

    def __init__(self, folders: Sequence[str]) -> None:
        super().__init__(folders)
        self.flags: dict[tuple[str, int], set[str]] = {}
        self.writable = False

    def select(self, folder: str, writable: bool = False) -> FolderStatus:
        """Select as the fake does, remembering whether flags may be changed."""
        status = super().select(folder, writable)
        self.writable = writable
        return status

    def add_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        """Set keywords on mail of the folder selected writable (absent UIDs are ignored, as by a server)."""
        assert self.writable and self.selected is not None, "flags changed in a read-only folder"
        for uid in uids:
            self.flags.setdefault((self.selected, uid), set()).update(flags)

    def remove_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        """Clear keywords on mail of the folder selected writable."""
        assert self.writable and self.selected is not None, "flags changed in a read-only folder"
        for uid in uids:
            self.flags.get((self.selected, uid), set()).difference_update(flags)

    def find_message(self, message_id: str) -> list[int]:
        """UIDs in the selected folder whose Message-ID header contains `message_id` (SEARCH HEADER)."""
        box = self._box()
        return sorted(
            uid for uid, raw in box.mails.items() if message_id.lower() in message_id_field(raw).lower()
        )

    def renumber(self, folder: str, uidvalidity: int, mails: Sequence[bytes], first_uid: int = 1) -> None:
        """Renumber as the fake does; the old UIDs' flags go with the old epoch."""
        self.flags = {place: flags for place, flags in self.flags.items() if place[0] != folder}
        super().renumber(folder, uidvalidity, mails, first_uid)


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


@dataclasses.dataclass
class RecordingSender:
    """An SMTP server that takes every reply; `sent` holds (anchor of the message, recipient)."""

    sent: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def send(self, message: bytes, recipient: str) -> None:
        """Take the reply and note which message it links to (its `#msg-…` anchor)."""
        mail = message_from_bytes(message, policy=email_policy.default)
        assert isinstance(mail, EmailMessage)
        body = mail.get_body(("plain",))
        assert body is not None
        anchors = set(_ANCHOR.findall(body.get_content()))
        assert len(anchors) == 1, anchors
        self.sent.append((anchors.pop(), recipient))
