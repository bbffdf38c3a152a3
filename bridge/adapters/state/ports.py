"""The state store's interfaces: one small `Protocol` per consumer, and `StateStore`, all of them.

Each consumer types against the interface of the methods it calls (the batch reader against
`BatchLedger`, the thread pages against `PageLedger`, the outbox against `ReplyLedger`, `status`
against `StatusReader`, …); each method is declared once, in the smallest interface that has
it, and the larger ones combine the smaller. `StateStore` is everything a backend must provide
(SQLite now; PostgreSQL later); tests/contract/test_state_contract.py holds a backend to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from bridge.adapters.state.ledger import Fingerprint, IntendedMessage, PendingMessage
from bridge.adapters.state.parts import PartLookup, ThreadPartLedger
from bridge.adapters.state.passes import Failure, MailboxStatus
from bridge.adapters.state.people import PeopleLedger, ReplyCounter
from bridge.adapters.state.privacy import AuditEntry, ForgottenRows
from bridge.adapters.state.quarantine import QuarantinedMail
from bridge.adapters.state.recovery import LedgerPage
from bridge.adapters.state.replies import ReplyLedger
from bridge.adapters.state.report import PageHistory, ThreadRecord
from bridge.adapters.state.statuses import QuarantineStatus
from bridge.adapters.state.thread_index import PendingMergeNote
from bridge.core.model import FolderPosition
from bridge.core.retry import RetryPolicy
from bridge.core.threads import KnownSubject


class FailureRecorder(Protocol):
    """What the failure log uses: recording a mail that could not be published."""

    def record_failure(
        self,
        mailbox: str,
        folder: str,
        uidvalidity: int,
        uid: int,
        message_id: str | None,
        reason: str,
        policy: RetryPolicy,
    ) -> int: ...


class FailureList(Protocol):
    """Reading the recorded failures (the pass retries them, `failures list` shows them)."""

    def failures(self, mailbox: str, folder: str | None = None) -> list[Failure]: ...


class FailureDesk(FailureList, Protocol):
    """What `failures list|retry` uses."""

    def retry_failures(self, mailbox: str, message_id: str | None = None) -> int: ...


class KnownMessages(Protocol):
    """Which Message-IDs a mailbox has published or is publishing."""

    def known_message_ids(self, mailbox: str, ids: Iterable[str]) -> set[str]: ...


class BatchLedger(KnownMessages, Protocol):
    """What reading a batch uses: fingerprints of known ids, clearing failures, relocating actions."""

    def fingerprints(self, mailbox: str, ids: Iterable[str]) -> dict[str, Fingerprint]: ...
    def clear_failures(self, mailbox: str, places: Iterable[tuple[str, int, int]]) -> None: ...
    def relocate_mail_actions(self, mailbox: str, folder: str, uids_by_id: Mapping[str, int]) -> None: ...


class ThreadLookup(Protocol):
    """Finding a thread by a linked id, and recording a thread's latest activity under its subject."""

    def threads_for_ids(self, mailbox: str, ids: Iterable[str]) -> dict[str, int]: ...
    def record_subject(self, mailbox: str, key: str, thread_id: int, last_date: datetime) -> None: ...


class PageLedger(ThreadPartLedger, Protocol):
    """What the thread pages use: titles, new threads and parts, intents before each edit."""

    def thread_page(self, thread_id: int) -> str | None: ...
    def title_taken(self, title: str) -> bool: ...
    def titles_taken(self, base: str) -> set[str]: ...
    def new_thread(self, mailbox: str, candidate_title: str) -> int: ...
    def set_candidate_title(self, thread_id: int, title: str) -> None: ...
    def record_intent(self, mailbox: str, thread_id: int, messages: Sequence[IntendedMessage]) -> None: ...


class QuarantineList(Protocol):
    """Reading the quarantine (the pass re-reads released mail, `quarantine list` shows it)."""

    def quarantined(
        self, mailbox: str | None = None, status: QuarantineStatus | None = None
    ) -> list[QuarantinedMail]: ...


class Releaser(Protocol):
    """Releasing a quarantined mail for the next pass."""

    def release(self, mailbox: str, message_id: str, folder: str, uidvalidity: int, uid: int) -> None: ...


class QuarantineDesk(QuarantineList, Releaser, Protocol):
    """What `quarantine list|release` uses."""


class SyncState(
    FailureRecorder,
    BatchLedger,
    PageLedger,
    ThreadLookup,
    FailureList,
    QuarantineList,
    PeopleLedger,
    Protocol,
):
    """What one pass of a mapping (`MailboxSync`) uses, with its batch reader and thread pages."""

    def folder_position(self, mailbox: str, folder: str) -> FolderPosition | None: ...
    def save_folder_position(self, mailbox: str, folder: str, position: FolderPosition) -> None: ...
    def known_subjects(self, mailbox: str, keys: Iterable[str]) -> dict[str, KnownSubject]: ...
    def mark_merged(self, thread_id: int, into: int) -> None: ...
    def merge_target(self, thread_id: int) -> int: ...
    def pending_merge_notes(self, mailbox: str) -> list[PendingMergeNote]: ...
    def merge_note_done(self, thread_id: int) -> None: ...
    def confirm(
        self,
        mailbox: str,
        thread_id: int,
        page_title: str,
        ids: Sequence[str],
        revision: int,
        mail_action: bool = False,
    ) -> None: ...
    def pending_messages(self, mailbox: str) -> list[PendingMessage]: ...
    def discard_pending(self, mailbox: str, ids: Sequence[str]) -> None: ...
    def pending_mail_actions(self, mailbox: str, folder: str) -> list[int]: ...
    def mail_actions_done(self, mailbox: str, folder: str, uids: Sequence[int]) -> None: ...
    def unhook_mail_actions(self, mailbox: str, folder: str) -> int: ...
    def quarantine_mail(self, entry: QuarantinedMail) -> None: ...
    def quarantine_status(self, mailbox: str, ids: Iterable[str]) -> dict[str, QuarantineStatus]: ...


class WikiCheckRecord(Protocol):
    """Remembering that the wiki under a prefix holds nothing the store does not know."""

    def record_wiki_check(self, mailbox: str, page_prefix: str) -> None: ...


class LostStateGuard(WikiCheckRecord, Protocol):
    """What the lost-state guard before each pass uses."""

    def has_ledger(self, mailbox: str) -> bool: ...
    def known_anywhere(self, ids: Iterable[str]) -> set[str]: ...
    def wiki_checked(self, mailbox: str, page_prefix: str) -> bool: ...


class LedgerImport(ThreadLookup, WikiCheckRecord, Protocol):
    """What `state rebuild` uses."""

    def import_ledger(self, mailbox: str, pages: Sequence[LedgerPage]) -> int: ...


class StatusReader(ReplyCounter, Protocol):
    """What `status` and the metrics read."""

    def mailbox_status(self, mailbox: str) -> MailboxStatus: ...
    def published_per_page(self, mailbox: str) -> dict[str, int]: ...


class ReportRuns(Protocol):
    """When a report or status page was last brought up to date (for their intervals)."""

    def report_ran(self, page_title: str) -> str | None: ...
    def record_report_run(self, page_title: str) -> None: ...


class ReportLedger(ReportRuns, Protocol):
    """What the adoption report reads (threads, mail times, link replies) and caches (page histories)."""

    def report_threads(self, mailbox: str) -> list[ThreadRecord]: ...
    def page_histories(self, titles: Iterable[str]) -> dict[str, PageHistory]: ...
    def save_page_histories(self, histories: Mapping[str, PageHistory]) -> None: ...


class OutboxLedger(ReplyLedger, PartLookup, Protocol):
    """What the outbox uses: the reply ledger, and the first part of a reply's thread."""


class BackfillState(SyncState, LostStateGuard, Protocol):
    """What `backfill` uses: the lost-state guard, then the pass's ledgers."""


class PassState(BackfillState, OutboxLedger, StatusReader, Protocol):
    """What running a pass of one mailbox uses: guard, pass, outbox, the pass's record, the gauges."""

    def record_pass(self, mailbox: str, error: str | None, backlog: int | None = None) -> None: ...


class PrivacyLedger(Protocol):
    """What `forget` uses: pseudonymizing a person in the store, and the audit."""

    def pseudonym(self, address: str) -> str: ...

    def messages_from(self, addresses: Iterable[str]) -> set[str]: ...

    def forget_in_state(self, addresses: Iterable[str], message_ids: Iterable[str]) -> ForgottenRows: ...

    def record_audit(self, actor: str, action: str, summary: str) -> None: ...

    def audit_entries(self) -> list[AuditEntry]: ...


class StateStore(PassState, LedgerImport, FailureDesk, QuarantineDesk, PrivacyLedger, ReportLedger, Protocol):
    """Everything a state store backend provides (SQLite now, PostgreSQL later)."""

    def close(self) -> None: ...
