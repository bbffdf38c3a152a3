"""The executor: carries out a plan's actions with the exactly-once protocol (see docs/ARCHITECTURE.md).

Per thread group, one wiki edit per page: the intent is recorded before the edit and confirmed
after it; link replies are drafted before the edit, due once it is confirmed, sent at the end of
the pass; mail is flagged or moved only after its edit was confirmed. One mail that cannot be
rendered, or that the wiki refuses, fails alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import structlog

from bridge.adapters.state.ports import SyncState
from bridge.adapters.state.statuses import QuarantineStatus
from bridge.adapters.state.store import IntendedMessage, QuarantinedMail
from bridge.core.model import Message
from bridge.core.render.escape import single_line
from bridge.core.render.page import (
    merge_marker,
    render_merge_note,
)
from bridge.core.subjects import subject_key
from bridge.core.threads import ThreadGroup
from bridge.errors import WikiRefusedError
from bridge.service.config import MailboxSettings
from bridge.sync.actions import (
    Action,
    MailAction,
    MergeNote,
    PublishGroup,
    Quarantine,
    RecordFailure,
    Reply,
    Skip,
    Source,
)
from bridge.sync.continuation import Placement
from bridge.sync.lanes import Lanes, pages_of
from bridge.sync.outbox import Outbox
from bridge.sync.people import NO_PEOPLE, PagePeople
from bridge.sync.ports import Mailbox, Wiki
from bridge.sync.preparing import GroupPreparer, Prepared
from bridge.sync.results import FailureLog, PassResult
from bridge.sync.spaces import Spaces
from bridge.sync.uploads import Uploads

log = structlog.get_logger("bridge.sync.executor")


# Plans one message again as its own group (its thread looked up afresh, in the group's route),
# for a refused group.
Regroup = Callable[[Message, Source, str | None], list[Action]]


class Executor:
    """Carries out the plans of one mapping's pass against the mailbox, the wiki and the store."""

    def __init__(
        self,
        settings: MailboxSettings,
        wiki: Wiki,
        state: SyncState,
        outbox: Outbox | None,
        regroup: Regroup,
        stop: threading.Event,
        concurrency: int = 1,
        people: PagePeople = NO_PEOPLE,
    ) -> None:
        self.settings = settings
        self.wiki = wiki
        self.state = state
        self.outbox = outbox
        self.regroup = regroup
        self.stop = stop
        self.concurrency, self.people = concurrency, people  # people: account links, participants note
        # Edits of different pages confirm on their own threads; one confirmation at a time.
        self._confirming = threading.Lock()
        self.failures = FailureLog(settings, state)
        self.spaces = Spaces(settings, wiki, state)
        self.pages = self.spaces[None].pages
        self._published = False
        self.uploads = Uploads(settings.name, wiki)
        self.preparer = GroupPreparer(settings.name, state, self.spaces, self.uploads, people, self.failures)
        self._log = log.bind(mailbox=settings.name)

    def run(self, imap: Mailbox | None, actions: Sequence[Action], result: PassResult) -> None:
        """Carry out `actions` in order; once the pass is asked to stop, no further group is published.

        Groups are published on `concurrency` edit lanes (`Lanes`), never two on one page. While a
        lane records, edits and confirms a group, this thread prepares the next (uploads its files,
        renders it), so the wiki does not wait for the bridge's own work between two edits. Mail
        actions and merge notes wait until the groups before them are confirmed, and all of them
        are confirmed when this returns.
        """
        with Lanes(self.concurrency) as lanes:
            self._run(imap, actions, result, lanes)

    def _run(self, imap: Mailbox | None, actions: Sequence[Action], result: PassResult, lanes: Lanes) -> None:
        skips: list[Skip] = []
        outcome: list[bool] = []  # of the group last handed to a lane: published as planned?
        for action in actions:
            if isinstance(action, Skip):
                skips.append(action)
                continue
            self._skip(skips, result)
            skips = []
            match action:
                case RecordFailure(source=source, message_id=message_id, reason=reason):
                    self.failures.record(source, message_id, reason, result)
                case Quarantine():
                    assert imap is not None
                    self._quarantine(imap, action, result)
                case Reply(kind="refusal", refusal=refusal) if refusal is not None:
                    if self.outbox is not None:
                        self.outbox.plan_refusal(action)
                case Reply():
                    if self.outbox is not None:
                        self.outbox.draft_link_replies([action])
                case MailAction(folder=folder):
                    assert imap is not None
                    lanes.drain()
                    self.mail_actions(imap, folder)
                case PublishGroup() if not self.stop.is_set():
                    outcome = self._publish_alongside(lanes, action, result)
                case MergeNote() if not self.stop.is_set():
                    lanes.drain()
                    self._published = outcome == [True]
                    if self._published:
                        self.write_merge_notes()
        self._skip(skips, result)

    def _publish_alongside(self, lanes: Lanes, action: PublishGroup, result: PassResult) -> list[bool]:
        """Prepare the group here, then publish it on a lane; its counts join `result` when it is done.

        Return where its outcome (published as planned) is put once it is done.
        """
        keys = pages_of(action, self.state.merge_target)
        # Prepared once no running work shares a page with it: it reads what that work confirms.
        lanes.wait_clear(keys)
        prepared = self.preparer.prepare(action, result)
        if prepared is None:
            return [False]
        own = PassResult(mailbox=result.mailbox)
        outcome: list[bool] = []

        def done(published: bool) -> None:
            result.add(own)
            outcome.append(published)

        lanes.submit(keys, lambda: self.commit(prepared, own), done)
        return outcome

    def _skip(self, skips: Sequence[Skip], result: PassResult) -> None:
        """Known mail: its failures are cleared, and pending mail actions follow it to its new UID."""
        if not skips:
            return
        result.duplicates += len(skips)
        self.state.clear_failures(
            self.settings.name, [(s.source.folder, s.source.uidvalidity, s.source.uid) for s in skips]
        )
        relocated = {s.message_id: s.source.uid for s in skips if s.relocate}
        if relocated:
            self.state.relocate_mail_actions(self.settings.name, skips[0].source.folder, relocated)

    def _quarantine(self, imap: Mailbox, action: Quarantine, result: PassResult) -> None:
        """Record the refused mail, then flag or move it."""
        source, message = action.source, action.message
        result.quarantined += 1
        self.state.quarantine_mail(
            QuarantinedMail(
                mailbox=self.settings.name,
                message_id=message.message_id,
                folder=source.folder,
                uidvalidity=source.uidvalidity,
                uid=source.uid,
                sender=message.sender_address,
                subject=single_line(message.subject),
                reason=action.refusal.detail,
                status=QuarantineStatus.QUARANTINED,
                created_at="",
                content_hash=source.content_hash,
                raw_size=source.raw_size,
            )
        )
        self._log.warning(
            "message.quarantined",
            folder=source.folder,
            uid=source.uid,
            message_id=message.message_id,
            reason=action.refusal.detail,
        )
        if action.verb == "flag":
            imap.add_flags([source.uid], [action.target])
        else:
            imap.move([source.uid], action.target)

    def mail_actions(self, imap: Mailbox, folder: str) -> None:
        """Flag or move published mail whose wiki write is confirmed (the store says which)."""
        action = self.settings.mail_actions.after_publish
        uids = self.state.pending_mail_actions(self.settings.name, folder)
        if action == "keep" or not uids:
            return
        if action == "flag":
            imap.add_flags(uids, [self.settings.mail_actions.publish_flag])
        else:
            imap.move(uids, self.settings.mail_actions.archive_folder)
        self.state.mail_actions_done(self.settings.name, folder, uids)
        self._log.info("mail.after_publish", folder=folder, action=action, count=len(uids))

    def write_merge_notes(self) -> None:
        """Give each merged thread's page its note; a note already on the page is not added again."""
        for note in self.state.pending_merge_notes(self.settings.name):
            page = self.wiki.page_content(note.page_title)
            if page is not None and merge_marker(note.into_title) not in page.text:
                summary = f"Conversation continues on [[{note.into_title}]] ({self.settings.name} mailbox)"
                # In the language of the page's route.
                language = self.settings.for_page(note.page_title).space.language
                self.wiki.append_to_page(
                    note.page_title, render_merge_note(note.into_title, language), summary
                )
            self.state.merge_note_done(note.thread_id)
            self._log.info("thread.merged", page=note.page_title, into=note.into_title)

    # -- publishing --------------------------------------------------------------------------

    def publish(self, action: PublishGroup, result: PassResult) -> bool:
        """Upload, render and publish one thread group, recording intent and outcome.

        Return whether the group is on the wiki as planned (its merge note may follow).
        """
        prepared = self.preparer.prepare(action, result)
        return prepared is not None and self.commit(prepared, result)

    def commit(self, prepared: Prepared, result: PassResult) -> bool:
        """Publish a prepared group: intent, edit (one per page part), confirmation; True when all is on."""
        action, space, group, sources = prepared.action, prepared.space, prepared.group, prepared.sources
        thread_id, messages = prepared.thread_id, prepared.messages
        intents = [
            IntendedMessage(
                message_id=m.message_id,
                linked_ids=m.links,
                folder=sources[m.message_id].folder,
                uid=sources[m.message_id].uid,
                content_hash=sources[m.message_id].content_hash,
                raw_size=sources[m.message_id].raw_size,
                sender=m.sender_address,
            )
            for m in messages
        ]
        if thread_id is not None:
            # Recorded before the edit: if its answer is lost, recovery still knows the threads joined.
            for newer in prepared.also_linked:
                self.state.mark_merged(newer, into=thread_id)
        if self.outbox is not None:
            # Drafted before the edit: if its answer is lost, recovery confirms the mail and still replies.
            rendered = {m.message_id for m in messages}
            self.outbox.draft_link_replies([r for r in action.replies if r.message.message_id in rendered])
        published: set[str] = set()

        def confirmed(placement: Placement) -> None:
            with self._confirming:
                self._confirmed(placement, group, sources, result)
            published.update(m.message_id for m in placement.messages)
            self.people.confirmed(placement, messages)

        try:
            space.pages.publish(thread_id, messages, prepared.sections, intents, confirmed, prepared.opening)
        except WikiRefusedError as exc:
            # Parts confirmed before the refusal stay published.
            messages = [m for m in messages if m.message_id not in published]
            self.state.discard_pending(self.settings.name, [m.message_id for m in messages])
            if len(messages) == 1:
                only = messages[0].message_id
                self.failures.record(sources[only], only, str(exc), result)
                return False
            # One of them may be what the wiki refuses: publish them one by one, so only that one fails.
            self._log.info("group.refused_split", messages=len(messages), reason=str(exc))
            for message in messages:
                for single in self.regroup(message, sources[message.message_id], action.route):
                    if isinstance(single, PublishGroup):
                        self._published = self.publish(single, result)
                    elif self._published:
                        self.write_merge_notes()
            return False
        return True

    def _confirmed(
        self,
        placement: Placement,
        group: ThreadGroup,
        sources: dict[str, Source],
        result: PassResult,
    ) -> None:
        """Record what one edit put on one page: messages done, replies due, failures cleared."""
        name = self.settings.name
        edit, messages = placement.edit, placement.messages
        self.state.confirm(
            name,
            placement.thread_id,
            edit.title,
            [m.message_id for m in messages],
            edit.revision,
            mail_action=self.settings.mail_actions.after_publish != "keep",
        )
        if self.outbox is not None:
            self.outbox.promote_confirmed()
        self.state.record_subject(
            name, subject_key(group.first.subject), placement.thread_id, group.last_date
        )
        (result.pages_created if placement.created else result.pages_extended).append(edit.title)
        published = [sources[message.message_id] for message in messages]
        self.state.clear_failures(name, [(s.folder, s.uidvalidity, s.uid) for s in published])
        for message in messages:
            source = sources[message.message_id]
            self._log.info(
                "message.published",
                folder=source.folder,
                uid=source.uid,
                message_id=message.message_id,
                page=edit.title,
                revision=edit.revision,
            )
        result.published += len(messages)
