"""The orchestrator: one sync pass of one mailbox mapping, wiring IMAP, parsing, threading,
rendering, the wiki and the state store.

Exactly-once protocol (see docs/ARCHITECTURE.md): per thread touched by new mail, one wiki edit.
The intent is recorded before the edit and confirmed after it; a pass cut short leaves
`pending` rows that the next pass checks against the page itself before writing anything again.
A folder's read position only advances past mail that is published, a duplicate, or recorded
as failed, so nothing is skipped and nothing is lost.
"""

from __future__ import annotations

import hashlib
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from bridge.adapters.imap import FolderStatus, ImapMailbox
from bridge.adapters.state.ports import SyncState
from bridge.adapters.state.statuses import QuarantineStatus
from bridge.adapters.state.store import IntendedMessage, QuarantinedMail
from bridge.core.attachments import all_attachments, refusal_reason, wiki_file_name
from bridge.core.model import Attachment, FolderPosition, Message
from bridge.core.render.escape import single_line
from bridge.core.render.page import (
    FileRef,
    RenderOptions,
    merge_marker,
    message_marker,
    render_merge_note,
    render_message,
    render_variant_note,
)
from bridge.core.senders import policy_refusal
from bridge.core.subjects import subject_key
from bridge.core.threads import ThreadGroup, group_messages, subject_keys_of, thread_ids_of
from bridge.errors import BridgeError, WikiRefusedError
from bridge.service.config import MailboxSettings
from bridge.sync.continuation import Placement, ThreadPages
from bridge.sync.intake import BatchReader, FailureLog, Source, describe_failure
from bridge.sync.outbox import Outbox
from bridge.sync.ports import Mailbox, OpenMailbox, Sender, Wiki

log = structlog.get_logger("bridge.sync.mailbox_pass")


@dataclass
class PassResult:
    """What one pass of one mailbox did."""

    mailbox: str
    fetched: int = 0
    published: int = 0
    duplicates: int = 0
    failed: int = 0
    quarantined: int = 0
    replies_sent: int = 0
    replies_due: int = 0
    replies_suppressed: int = 0
    backlog: int = 0
    pages_created: list[str] = field(default_factory=list)
    pages_extended: list[str] = field(default_factory=list)


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def open_imap(settings: MailboxSettings) -> ImapMailbox:
    """An IMAP session (not yet connected) on the account of `settings`."""
    return ImapMailbox(settings.name, settings.account)


class MailboxSync:
    """Runs passes for one mapping. `open_mailbox` is injectable so faults can be provoked."""

    def __init__(
        self,
        settings: MailboxSettings,
        wiki: Wiki,
        state: SyncState,
        stop: threading.Event | None = None,
        open_mailbox: OpenMailbox = open_imap,
        outbox: Outbox | None = None,
        sender: Sender | None = None,
        plan: list[str] | None = None,
    ) -> None:
        self.settings = settings
        self.wiki = wiki
        self.state = state
        self.stop = stop or threading.Event()
        self._open_mailbox = open_mailbox
        self.outbox = outbox
        self.sender = sender
        # In a dry run, mailbox changes are described here instead of carried out.
        self.plan = plan
        self._log = log.bind(mailbox=settings.name)
        self.failures = FailureLog(settings.name, settings.polling, state)
        self.reader = BatchReader(settings.name, settings.mail_actions, state, self.failures)
        space = settings.space
        self.render_options = RenderOptions(
            mailbox=settings.name, language=space.language, show_addresses=space.show_addresses
        )
        self.pages = ThreadPages(settings.name, space, wiki, state, self.render_options)

    def run(self) -> PassResult:
        """Run one pass over every folder of the mapping; raise on mailbox- or wiki-wide failure."""
        result = PassResult(mailbox=self.settings.name)
        self.recover()
        with self._open_mailbox(self.settings) as imap:
            for folder in self.settings.account.folders:
                if self.stop.is_set():
                    break
                self._sync_folder(imap, folder, result)
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

    # -- recovery ----------------------------------------------------------------------------

    def _write_merge_notes(self) -> None:
        """Give each merged thread's page its note; a note already on the page is not added again."""
        for note in self.state.pending_merge_notes(self.settings.name):
            page = self.wiki.page_content(note.page_title)
            if page is not None and merge_marker(note.into_title) not in page.text:
                summary = f"Conversation continues on [[{note.into_title}]] ({self.settings.name} mailbox)"
                self.wiki.append_to_page(
                    note.page_title, render_merge_note(note.into_title, self.settings.space.language), summary
                )
            self.state.merge_note_done(note.thread_id)
            self._log.info("thread.merged", page=note.page_title, into=note.into_title)

    def recover(self) -> None:
        """Settle intents of a pass that was cut short: the page itself tells what happened."""
        by_page: dict[tuple[int, str], list[str]] = defaultdict(list)
        for pending in self.state.pending_messages(self.settings.name):
            by_page[(pending.thread_id, pending.page_title)].append(pending.message_id)
        for (thread_id, title), ids in by_page.items():
            page = self.wiki.page_content(title)
            text = page.text if page else ""
            present = [message_id for message_id in ids if message_marker(message_id) in text]
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
        self.pages.settle()
        self._write_merge_notes()

    # -- reading -----------------------------------------------------------------------------

    def _sync_folder(self, imap: Mailbox, folder: str, result: PassResult) -> None:
        name = self.settings.name
        policy = bool(self.settings.senders.allowed_senders or self.settings.senders.require_authenticated)
        # Read-only unless mail may be flagged or moved: a read-only folder silently ignores
        # the \\Deleted of a COPY-based move on servers without MOVE.
        writable = self.plan is None and (self.settings.mail_actions.after_publish != "keep" or policy)
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
            self.state.unhook_mail_actions(name, folder)
        else:
            last_uid = self._starting_point(status)
        retry = self._retry_uids(folder, status.uidvalidity, last_uid)
        considered = imap.uids_after(last_uid)
        new_uids = considered
        if self.settings.polling.start_date is not None:
            # Mail received before start_at is passed over, also when it turns up later.
            since = set(imap.uids_since(self.settings.polling.start_date))
            new_uids = [uid for uid in considered if uid in since]
        for done, batch in enumerate(_chunks(retry + new_uids, self.settings.polling.batch_size)):
            if not self.stop.is_set():
                self._sync_batch(imap, folder, status.uidvalidity, batch, result)
                self._apply_mail_actions(imap, folder)
            if self.stop.is_set():
                # The batch may have been cut short: it is read again next time (known mail is
                # skipped), so the position stays before it.
                result.backlog += len(retry) + len(new_uids) - done * self.settings.polling.batch_size
                return
            highest = max(batch)
            if highest > last_uid:
                last_uid = highest
                self.state.save_folder_position(name, folder, FolderPosition(status.uidvalidity, last_uid))
        self._apply_mail_actions(imap, folder)
        last_uid = max(last_uid, *considered) if considered else last_uid
        self.state.save_folder_position(name, folder, FolderPosition(status.uidvalidity, last_uid))

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

    def _apply_mail_actions(self, imap: Mailbox, folder: str) -> None:
        """Flag or move published mail (only ever after its wiki write was confirmed)."""
        action = self.settings.mail_actions.after_publish
        uids = self.state.pending_mail_actions(self.settings.name, folder)
        if action == "keep" or not uids:
            return
        if self.plan is not None:
            target = (
                f"move to {self.settings.mail_actions.archive_folder!r}"
                if action == "move"
                else f"flag {self.settings.mail_actions.publish_flag}"
            )
            self.plan.append(f"{self.settings.name}: {target}: {len(uids)} mail(s) in {folder!r}")
        elif action == "flag":
            imap.add_flags(uids, [self.settings.mail_actions.publish_flag])
        else:
            imap.move(uids, self.settings.mail_actions.archive_folder)
        self.state.mail_actions_done(self.settings.name, folder, uids)
        self._log.info("mail.after_publish", folder=folder, action=action, count=len(uids))

    def _sync_batch(
        self, imap: Mailbox, folder: str, uidvalidity: int, uids: Sequence[int], result: PassResult
    ) -> None:
        batch = self.reader.read(imap, folder, uidvalidity, uids, result)
        self._apply_sender_policy(imap, batch.messages, batch.sources, result)
        for group in self._group(list(batch.messages.values())):
            if self.stop.is_set():
                return
            self.publish_group(group, batch.sources, result)

    def _apply_sender_policy(
        self, imap: Mailbox, messages: dict[str, Message], sources: dict[str, Source], result: PassResult
    ) -> None:
        """Keep mail that fails the sender policy off the wiki: quarantine it (flag or move), record why."""
        settings = self.settings
        if not settings.senders.allowed_senders and not settings.senders.require_authenticated:
            return
        statuses = self.state.quarantine_status(settings.name, messages)
        for message_id in list(messages):
            message = messages[message_id]
            if statuses.get(message_id) == QuarantineStatus.RELEASED:
                continue
            try:
                refusal = policy_refusal(
                    message,
                    settings.senders.allowed_senders,
                    settings.senders.require_authenticated,
                    settings.senders.trusted_authserv_ids,
                )
            except Exception as exc:  # one mail must never stop the mailbox
                reason = describe_failure("checking the sender", exc)
                self.failures.record(sources.pop(message_id), message_id, reason, result)
                del messages[message_id]
                continue
            if refusal is None:
                continue
            source = sources.pop(message_id)
            del messages[message_id]
            result.quarantined += 1
            self.state.quarantine_mail(
                QuarantinedMail(
                    mailbox=settings.name,
                    message_id=message_id,
                    folder=source.folder,
                    uidvalidity=source.uidvalidity,
                    uid=source.uid,
                    sender=message.sender_address,
                    subject=single_line(message.subject),
                    reason=refusal.detail,
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
                message_id=message_id,
                reason=refusal.detail,
            )
            if self.plan is not None:
                self.plan.append(
                    f"{settings.name}: quarantine uid {source.uid} in {source.folder!r}: {refusal}"
                )
            elif settings.senders.quarantine == "flag":
                imap.add_flags([source.uid], [settings.senders.quarantine_flag])
            else:
                imap.move([source.uid], settings.senders.quarantine_folder)
            if self.outbox is not None:
                self.outbox.plan_refusal(message, refusal)

    def _group(self, messages: list[Message]) -> list[ThreadGroup]:
        """Group a batch, joining threads known from earlier passes (and by subject when enabled)."""
        name = self.settings.name
        known_threads = self.state.threads_for_ids(name, thread_ids_of(messages))
        if not self.settings.space.thread_by_subject:
            return group_messages(messages, known_threads)
        known_subjects = self.state.known_subjects(name, subject_keys_of(messages))
        window = timedelta(days=self.settings.space.subject_window_days)
        return group_messages(messages, known_threads, window, known_subjects)

    # -- publishing --------------------------------------------------------------------------

    def publish_group(self, group: ThreadGroup, sources: dict[str, Source], result: PassResult) -> None:
        """Upload, render and publish one thread group with one edit, recording intent and outcome."""
        name = self.settings.name
        if group.thread_id is not None:
            # An earlier group of the same batch may have merged one of these threads meanwhile.
            linked = sorted({self.state.merge_target(t) for t in (group.thread_id, *group.also_linked)})
            group = ThreadGroup(group.messages, linked[0], tuple(linked[1:]))
        files = self._upload_files(group.messages)
        sections: list[str] = []
        messages: list[Message] = []
        for message in group.messages:
            try:
                sections.append(self._fitted(message, sources[message.message_id], files))
            except Exception as exc:  # one mail must never stop the mailbox
                self._log.warning("message.unrenderable", message_id=message.message_id, exc_info=True)
                reason = describe_failure("rendering the mail", exc)
                self.failures.record(sources[message.message_id], message.message_id, reason, result)
                continue
            messages.append(message)
        if not messages:
            return
        intents = [
            IntendedMessage(
                message_id=m.message_id,
                linked_ids=m.links,
                folder=sources[m.message_id].folder,
                uid=sources[m.message_id].uid,
                content_hash=sources[m.message_id].content_hash,
                raw_size=sources[m.message_id].raw_size,
            )
            for m in messages
        ]
        if group.thread_id is not None:
            # Recorded before the edit: if its answer is lost, recovery still knows the threads joined.
            for newer in group.also_linked:
                self.state.mark_merged(newer, into=group.thread_id)
        if self.outbox is not None:
            # Drafted before the edit: if its answer is lost, recovery confirms the mail and still replies.
            self.outbox.draft_link_replies(messages)
        published: set[str] = set()

        def confirmed(placement: Placement) -> None:
            self._confirmed(placement, group, sources, result)
            published.update(m.message_id for m in placement.messages)

        try:
            self.pages.publish(group.thread_id, messages, sections, intents, confirmed)
        except WikiRefusedError as exc:
            # Parts confirmed before the refusal stay published.
            messages = [m for m in messages if m.message_id not in published]
            self.state.discard_pending(name, [m.message_id for m in messages])
            if len(messages) == 1:
                self.failures.record(
                    sources[messages[0].message_id], messages[0].message_id, str(exc), result
                )
                return
            # One of them may be what the wiki refuses: publish them one by one, so only that one fails.
            self._log.info("group.refused_split", messages=len(messages), reason=str(exc))
            for message in messages:
                for single in self._group([message]):
                    self.publish_group(single, sources, result)
            return
        if group.also_linked:
            self._write_merge_notes()

    def _confirmed(
        self, placement: Placement, group: ThreadGroup, sources: dict[str, Source], result: PassResult
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
        key = subject_key(group.first.subject)
        self.state.record_subject(name, key, placement.thread_id, group.last_date)
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

    def _fitted(self, message: Message, source: Source, files: dict[str, FileRef]) -> str:
        """The message's section; a mail larger than a whole page is shortened, its full text a file."""

        def render(shortened: Message, note: str) -> str:
            return self._render(shortened, source, files, note)

        return self.pages.fit(message, self._render(message, source, files), render, self._upload)

    def _render(self, message: Message, source: Source, files: dict[str, FileRef], note: str = "") -> str:
        """The message's section; a variant says which earlier message shares its Message-ID."""
        if source.variant_of is not None:
            threads = self.state.threads_for_ids(self.settings.name, [source.variant_of])
            thread_id = threads.get(source.variant_of)
            page = self.state.thread_page(thread_id) if thread_id is not None else None
            note = render_variant_note(source.variant_of, page, self.settings.space.language) + note
        return render_message(message, self.render_options, files, note)

    def _upload_files(self, messages: Sequence[Message]) -> dict[str, FileRef]:
        """Upload the attachments of `messages` (idempotent: files are named by content)."""
        return self._upload([a for m in messages for a in all_attachments(m)])

    def _upload(self, attachments: Sequence[Attachment]) -> dict[str, FileRef]:
        """Upload files (or find them on the wiki by content); say why where the wiki will not take one."""
        files: dict[str, FileRef] = {}
        if not attachments:
            return files
        limits = self.wiki.upload_limits()
        max_bytes = self.settings.space.max_attachment_mb * 1024 * 1024
        for attachment in attachments:
            if attachment.sha256 in files:
                continue
            reason = refusal_reason(attachment, limits, max_bytes, self.settings.space.language)
            if reason is None:
                try:
                    sha1 = hashlib.sha1(attachment.data).hexdigest()  # noqa: S324 - MediaWiki's own file key
                    title = self.wiki.file_with_sha1(sha1) or self.wiki.upload(
                        wiki_file_name(attachment),
                        attachment.data,
                        f"Attachment from the {self.settings.name} mailbox",
                    )
                except Exception as exc:  # one mail must never stop the mailbox
                    if isinstance(exc, BridgeError) and not isinstance(exc, WikiRefusedError):
                        raise
                    reason = describe_failure("uploading the file", exc)
                else:
                    files[attachment.sha256] = FileRef(title)
                    self._log.info("attachment.uploaded", file=title, size=attachment.size)
                    continue
            files[attachment.sha256] = FileRef(None, reason)
            self._log.info("attachment.refused", filename_length=len(attachment.filename), reason=reason)
        return files
