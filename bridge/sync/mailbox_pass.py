"""One sync pass of one mailbox mapping: read each batch, plan it, carry the plan out (or print it).

Exactly-once protocol (see docs/ARCHITECTURE.md): per thread touched by new mail, one wiki edit.
The intent is recorded before the edit and confirmed after it; a pass cut short leaves
`pending` rows that the next pass checks against the page itself before writing anything again.
A folder's read position only advances past mail that is published, a duplicate, or recorded
as failed, so nothing is skipped and nothing is lost. A dry run (`plan`) reads the same and
returns the plan instead: it writes nothing, to the mailbox, the wiki or the store.
"""

from __future__ import annotations

import functools
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TextIO

import structlog

from bridge.adapters.imap import FolderStatus, ImapMailbox
from bridge.adapters.state.ports import SyncState
from bridge.adapters.state.statuses import QuarantineStatus
from bridge.core.markers import read_markers
from bridge.core.model import FolderPosition, Message
from bridge.core.threads import subject_keys_of, thread_ids_of
from bridge.service.config import MailboxSettings
from bridge.sync.actions import Action, PublishGroup, Quarantine, RecordFailure, Skip, Source
from bridge.sync.backlog import Prefetch, Progress, SharedMailbox, Watermark, plan_backlog
from bridge.sync.executor import Executor
from bridge.sync.intake import BatchReader, Loaded, load
from bridge.sync.outbox import Outbox
from bridge.sync.people import NO_PEOPLE, PagePeople
from bridge.sync.planner import (
    Batch,
    PlanSettings,
    Routing,
    plan_groups,
    plan_mail_action,
    plan_policy,
    plan_routes,
)
from bridge.sync.ports import Mailbox, OpenMailbox, Sender, Wiki
from bridge.sync.results import PassResult

__all__ = ["MailboxSync", "PassResult", "open_imap"]
log = structlog.get_logger("bridge.sync.mailbox_pass")


def tally(result: PassResult, actions: Sequence[Action]) -> PassResult:
    """Count what a plan would do, as a pass carrying it out would count it."""
    for action in actions:
        if isinstance(action, Skip):
            result.duplicates += 1
        elif isinstance(action, RecordFailure):
            result.failed += 1
        elif isinstance(action, Quarantine):
            result.quarantined += 1
        elif isinstance(action, PublishGroup):
            result.published += len(action.group.messages)
            if action.page is None:
                result.pages_created.append(action.new_title)
            else:
                result.pages_extended.append(action.page)
    return result


def open_imap(settings: MailboxSettings) -> ImapMailbox:
    """An IMAP session (not yet connected) on the account of `settings`."""
    return ImapMailbox(settings.name, settings.account)


class MailboxSync:
    """Runs passes for one mapping. `open_mailbox` is injectable so faults can be provoked.

    `concurrency` (`[wiki] concurrency`) is how many edits to different pages run at once.
    """

    def __init__(
        self,
        settings: MailboxSettings,
        wiki: Wiki,
        state: SyncState,
        stop: threading.Event | None = None,
        open_mailbox: OpenMailbox = open_imap,
        outbox: Outbox | None = None,
        sender: Sender | None = None,
        concurrency: int = 1,
        people: PagePeople = NO_PEOPLE,
    ) -> None:
        self.settings = settings
        self.wiki = wiki
        self.state = state
        self.stop = stop or threading.Event()
        self._open_mailbox = open_mailbox
        self.outbox = outbox
        self.sender = sender
        self._log = log.bind(mailbox=settings.name)
        self.reader = BatchReader(settings.name, settings.mail_actions, state)
        self.plan_settings = PlanSettings(
            settings,
            can_mail=outbox is not None and outbox.smtp is not None,
            own_addresses=outbox.rules.own_addresses if outbox is not None else frozenset(),
            insiders=outbox.insiders if outbox is not None else None,
        )
        self.executor = Executor(settings, wiki, state, outbox, self._regroup, self.stop, concurrency, people)

    def run(self) -> PassResult:
        """Run one pass over every folder of the mapping; raise on mailbox- or wiki-wide failure."""
        result = PassResult(mailbox=self.settings.name)
        self.recover()
        with self._open_mailbox(self.settings) as imap:
            for folder in self.settings.account.folders:
                if self.stop.is_set():
                    break
                self._sync_folder(imap, folder, result, None)
        # Refusals go out even where link replies are off; send_due has nothing to do otherwise.
        if self.outbox is not None and self.outbox.smtp is not None and self.sender is not None:
            result.replies_sent, result.replies_due = self.outbox.send_due(self.sender)
        if self.outbox is not None:
            result.replies_suppressed = self.outbox.suppressed
        self._log.info(
            "pass.finished",
            fetched=result.fetched,
            published=result.published,
            duplicates=result.duplicates,
            failed=result.failed,
            quarantined=result.quarantined,
            replies_sent=result.replies_sent,
            pages_created=len(result.pages_created),
            pages_extended=len(result.pages_extended),
        )
        return result

    def plan(self) -> tuple[PassResult, list[Action]]:
        """Plan a pass without carrying it out (a dry run): read everything, write nothing.

        Each batch is planned from the store as it is; mail of a later batch answering mail of
        an earlier one is planned as if the earlier one were not published yet.
        """
        result = PassResult(mailbox=self.settings.name)
        actions: list[Action] = []
        with self._open_mailbox(self.settings) as imap:
            for folder in self.settings.account.folders:
                self._sync_folder(imap, folder, result, actions)
        return tally(result, actions), actions

    # -- recovery ----------------------------------------------------------------------------

    def recover(self) -> None:
        """Settle intents of a pass that was cut short: the page itself tells what happened."""
        by_page: dict[tuple[int, str], list[str]] = defaultdict(list)
        for pending in self.state.pending_messages(self.settings.name):
            by_page[(pending.thread_id, pending.page_title)].append(pending.message_id)
        for (thread_id, title), ids in by_page.items():
            page = self.wiki.page_content(title)
            text = page.text if page else ""
            # Markers spell ids as the mail wrote them (older pages: canonical); read back, normalized.
            marked = set(read_markers(text).message_ids)
            present = [message_id for message_id in ids if message_id in marked]
            absent = [message_id for message_id in ids if message_id not in present]
            if page and present:
                self.state.confirm(self.settings.name, thread_id, page.title, present, page.revision)
            if absent:
                self.state.discard_pending(self.settings.name, absent)
            self._log.info("recovery.settled", page=title, confirmed=len(present), republish=len(absent))
        if self.outbox is not None:
            # Replies of mail confirmed just now (or before a crash cut the pass short) become due.
            self.outbox.drop_discarded_drafts()
            self.outbox.promote_confirmed()
        self.executor.pages.settle()
        self.executor.write_merge_notes()

    # -- reading and planning ----------------------------------------------------------------

    def _sync_folder(self, imap: Mailbox, folder: str, result: PassResult, plan: list[Action] | None) -> None:
        """Read, plan and carry out (or with `plan`, only plan) the new mail of one folder."""
        name = self.settings.name
        # Read-only unless mail may be flagged or moved: a read-only folder silently ignores
        # the \\Deleted of a COPY-based move on servers without MOVE.
        writable = plan is None and (
            self.settings.mail_actions.after_publish != "keep" or self.settings.may_quarantine
        )
        status = imap.select(folder, writable=writable)
        position = self.state.folder_position(name, folder)
        last_uid = 0
        if position is not None and position.uidvalidity == status.uidvalidity:
            last_uid = position.last_uid
        elif position is not None:
            # The server renumbered the folder: read it all again; Message-IDs keep it from
            # publishing anything twice.
            self._log.warning(
                "folder.uidvalidity_changed", folder=folder, old=position.uidvalidity, new=status.uidvalidity
            )
            if plan is None:
                self.state.unhook_mail_actions(name, folder)
        else:
            last_uid = self._starting_point(status)
        retry = self._retry_uids(folder, status.uidvalidity, last_uid)
        # SELECT's UIDNEXT already tells a quiet folder: no search (servers omitting it say 0).
        considered = imap.uids_after(last_uid) if status.uidnext - 1 != last_uid else []
        new_uids = considered
        if self.settings.polling.start_date is not None and considered:
            # Mail received before start_at is passed over, also when it turns up later.
            since = set(imap.uids_since(self.settings.polling.start_date))
            new_uids = [uid for uid in considered if uid in since]
        watermark = Watermark(new_uids)

        def handled(batch: Sequence[int]) -> None:
            nonlocal last_uid
            highest = watermark.handled(batch)
            if highest is not None and highest > last_uid:
                last_uid = highest
                if plan is None:
                    moved = FolderPosition(status.uidvalidity, last_uid)
                    self.state.save_folder_position(name, folder, moved)

        if not self.read_mail(imap, folder, status.uidvalidity, retry + new_uids, result, plan, handled):
            # A batch may have been cut short: it is read again next time (known mail is
            # skipped), so the position stays before it.
            result.backlog += watermark.left
            return
        if plan is None:
            self.executor.mail_actions(imap, folder)
            # Past mail deleted before it was read too, so the next quiet pass needs no search.
            last_uid = max(last_uid, status.uidnext - 1, *considered)
            self.state.save_folder_position(name, folder, FolderPosition(status.uidvalidity, last_uid))

    def read_mail(
        self,
        imap: Mailbox,
        folder: str,
        uidvalidity: int,
        uids: Sequence[int],
        result: PassResult,
        plan: list[Action] | None,
        handled: Callable[[Sequence[int]], None],
        out: TextIO | None = None,
    ) -> bool:
        """Read, plan and carry out (or only plan) `uids` of the selected folder in batches of whole threads.

        `handled` hears of each batch fully handled; False when the pass was asked to stop first.
        """
        if not uids:
            return True
        size = self.settings.polling.batch_size
        # The probes carry no subjects: batches are cut by references alone.
        by_references = functools.partial(self.plan_groups, by_subject=False)
        batches, probes = plan_backlog(imap, folder, uidvalidity, uids, by_references, size)
        triaged = [self.reader.triage(folder, uidvalidity, batch, probes) for batch in batches]
        shared = SharedMailbox(imap) if len(batches) > 1 else imap
        progress = Progress(len(uids), self.settings.name, out) if len(batches) > 1 else None

        def read(item: tuple[list[int], list[Skip]]) -> Loaded:
            return load(self.settings.name, shared, folder, uidvalidity, item[0], probes)

        ahead = Prefetch(read, triaged)
        try:
            for batch, (_, skips), loaded in zip(batches, triaged, ahead, strict=True):
                if self.stop.is_set():
                    return False
                # Planned only once the batch before is confirmed: its copies, threads and
                # subjects must be known to the store when this batch's are looked up.
                actions = self._plan_batch(folder, skips, loaded, result)
                if plan is not None:
                    plan.extend(actions)
                else:
                    self.executor.run(shared, actions, result)
                if self.stop.is_set():
                    return False
                handled(batch)
                if progress is not None:
                    progress.advance(len(batch))
        finally:
            ahead.close()
            if progress is not None:
                progress.finish()
        return True

    def _starting_point(self, status: FolderStatus) -> int:
        """Where a folder read for the first time starts: `start_at = "now"` skips all mail there."""
        return max(status.uidnext - 1, 0) if self.settings.polling.start_at == "now" else 0

    def _retry_uids(self, folder: str, uidvalidity: int, last_uid: int) -> list[int]:
        """UIDs behind the read position to read again: failed mail and quarantined mail released since."""
        name = self.settings.name
        now = datetime.now(UTC).isoformat(timespec="seconds")
        uids = {
            f.uid
            for f in self.state.failures(name, folder)
            if f.uidvalidity == uidvalidity
            and f.uid <= last_uid
            and not f.parked
            and (f.next_attempt_at is None or f.next_attempt_at <= now)
        }
        released = [
            q
            for q in self.state.quarantined(name, status=QuarantineStatus.RELEASED)
            if q.folder == folder and q.uidvalidity == uidvalidity and 0 < q.uid <= last_uid
        ]
        known = self.state.known_message_ids(name, [q.message_id for q in released])
        uids.update(q.uid for q in released if q.message_id not in known)
        return sorted(uids)

    def _plan_batch(self, folder: str, skips: list[Skip], loaded: Loaded, result: PassResult) -> list[Action]:
        """Plan one read batch: skips and failures, quarantines, thread groups, mail actions."""
        actions, batch = self.reader.identify(loaded, result)
        actions = [*skips, *actions]
        statuses: dict[str, QuarantineStatus] = {}
        if self.settings.may_quarantine:
            statuses = self.state.quarantine_status(self.settings.name, batch.messages)
        released = [mid for mid, status in statuses.items() if status == QuarantineStatus.RELEASED]
        routing = self.route(batch, released)
        batch, refused = plan_policy(batch, statuses, self.plan_settings, routing)
        actions += refused
        actions += self.plan_groups(batch, routing=routing)
        if self.settings.mail_actions.after_publish != "keep":
            pending = self.state.pending_mail_actions(self.settings.name, folder)
            mail = plan_mail_action(self.settings, folder, pending, actions)
            actions += [mail] if mail is not None else []
        return actions

    def _known(self, messages: Sequence[Message]) -> tuple[dict[str, int], dict[int, str]]:
        """The known threads `messages` link to, and the pages of those threads."""
        known_threads = self.state.threads_for_ids(self.settings.name, thread_ids_of(messages))
        pages = {t: p for t in set(known_threads.values()) if (p := self.state.thread_page(t)) is not None}
        return known_threads, pages

    def route(self, batch: Batch, released: Sequence[str] = ()) -> Routing:
        """Route a batch's mail by its recipients; mail of a thread with a page keeps that page's route.

        Unrouted mail `released` from quarantine goes to the mapping's own space.
        """
        if not self.settings.routes:
            return Routing()
        messages = list(batch.messages.values())
        routing = plan_routes(messages, *self._known(messages), self.settings, released)
        for message_id, elsewhere in routing.followed.items():
            self._log.info(
                "message.route_follows_thread",
                message_id=message_id,
                route=routing.routes[message_id],
                recipients_route=elsewhere,
            )
        return routing

    def plan_groups(
        self, batch: Batch, by_subject: bool | None = None, routing: Routing | None = None
    ) -> list[Action]:
        """Plan a batch's thread groups, joining threads known from earlier passes (and by subject).

        `by_subject` overrides the mapping's `thread_by_subject` (history is threaded by references);
        `routing` (from `route`) puts each group in its route; without it (cutting the backlog into
        batches of whole threads) every group is planned in the mapping's own space.
        """
        name = self.settings.name
        messages: list[Message] = list(batch.messages.values())
        known_threads, pages = self._known(messages)
        subjects = None
        if self.settings.space.thread_by_subject if by_subject is None else by_subject:
            subjects = self.state.known_subjects(name, subject_keys_of(messages))
            pages |= {
                s.thread_id: p
                for s in subjects.values()
                if (p := self.state.thread_page(s.thread_id)) is not None
            }
        return plan_groups(batch, known_threads, pages, self.plan_settings, subjects, routing)

    def _regroup(self, message: Message, source: Source, route: str | None) -> list[Action]:
        """Plan one message of a refused group again as its own group, in the group's route."""
        batch = Batch({message.message_id: message}, {message.message_id: source})
        return self.plan_groups(batch, routing=Routing({message.message_id: route}))
