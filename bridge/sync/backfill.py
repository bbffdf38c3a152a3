"""Importing a mailbox's history: `email-wiki-bridge backfill --mailbox NAME [--since] [--until]`.

Two phases keep the wiki's load minimal and memory bounded: first only the threading headers
of the whole range are read and grouped into threads, then each thread's mails are fetched and
published with ONE edit (the whole known thread at once), oldest thread first. The planner and
the executor of a normal pass plan and publish the groups, with the same exactly-once machinery,
so an interrupted backfill (even SIGKILL) is resumed by running it again: published mail is
skipped by its Message-ID. No link replies are sent for history, and the mail itself is never
flagged or moved.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TextIO

import structlog

from bridge.adapters.imap import ImapMailbox
from bridge.adapters.state.ports import SyncState
from bridge.core.model import Message
from bridge.core.parsing import parse_message
from bridge.core.threads import ThreadGroup
from bridge.core.variants import content_hash
from bridge.service.config import MailboxSettings
from bridge.sync.actions import Action, MergeNote, PublishGroup, Source
from bridge.sync.executor import FailureLog, PassResult
from bridge.sync.mailbox_pass import MailboxSync
from bridge.sync.planner import Batch, describe_failure
from bridge.sync.ports import HistoryMailbox, Wiki

log = structlog.get_logger("bridge.sync.backfill")
_HEADER_BATCH = 500


@dataclass
class Progress:
    """Counts, rate and ETA, drawn as a bar on a terminal and logged every 10 s otherwise."""

    total: int
    out: TextIO = sys.stderr
    done: int = 0
    started: float = dataclasses.field(default_factory=time.monotonic)
    _last_log: float = 0.0

    def advance(self, count: int) -> None:
        """Record `count` more handled mails and redraw."""
        self.done += count
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        if self.out.isatty():
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            self.out.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} mails "
                f"{rate:5.1f}/s ETA {int(eta // 60)}m{int(eta % 60):02d}s"
            )
            self.out.flush()
        elif time.monotonic() - self._last_log >= 10 or self.done >= self.total:
            self._last_log = time.monotonic()
            log.info(
                "backfill.progress", done=self.done, total=self.total, rate=round(rate, 1), eta_s=int(eta)
            )

    def finish(self) -> None:
        """End the bar's line."""
        if self.out.isatty():
            self.out.write("\n")


def backfill(
    settings: MailboxSettings,
    wiki: Wiki,
    state: SyncState,
    since: date | None,
    until: date | None,
    stop: Callable[[], bool] = lambda: False,
    out: TextIO = sys.stderr,
) -> PassResult:
    """Publish the history of `settings`' folders between `since` and `until` (exclusive)."""
    # History is published as it is: no replies, and the mailbox is left untouched.
    quiet = settings.model_copy(
        update={
            "mail_actions": settings.mail_actions.model_copy(update={"after_publish": "keep"}),
            "replies": settings.replies.model_copy(update={"reply": "never"}),
        }
    )
    sync = MailboxSync(quiet, wiki, state)
    result = PassResult(mailbox=settings.name)
    sync.recover()
    with ImapMailbox(quiet.name, quiet.account) as imap:
        plan: list[tuple[str, list[Action], dict[str, Source]]] = []
        for folder in quiet.account.folders:
            status = imap.select(folder)
            uids = imap.uids_between(since, until)
            actions, sources = _plan_folder(imap, sync, folder, status.uidvalidity, uids, result)
            plan.append((folder, actions, sources))
        progress = Progress(
            total=sum(
                len(a.group.messages)
                for _, actions, _ in plan
                for a in actions
                if isinstance(a, PublishGroup)
            ),
            out=out,
        )
        for folder, actions, sources in plan:
            imap.select(folder)
            for index, action in enumerate(actions):
                if not isinstance(action, PublishGroup):
                    continue
                if stop():
                    progress.finish()
                    return result
                full = _fetch_group(imap, folder, action, sources, state, sync.executor.failures, result)
                if full is not None:
                    # The group's merge note, if any, follows it in the plan.
                    notes = [a for a in actions[index + 1 : index + 2] if isinstance(a, MergeNote)]
                    sync.executor.run(None, [full, *notes], result)
                progress.advance(len(action.group.messages))
        progress.finish()
    log.info(
        "backfill.finished",
        mailbox=settings.name,
        published=result.published,
        pages_created=len(result.pages_created),
        pages_extended=len(result.pages_extended),
        failed=result.failed,
        duplicates=result.duplicates,
    )
    return result


def _plan_folder(
    imap: HistoryMailbox,
    sync: MailboxSync,
    folder: str,
    uidvalidity: int,
    uids: list[int],
    result: PassResult,
) -> tuple[list[Action], dict[str, Source]]:
    """Read the threading headers of `uids` and plan the mails not yet published as thread groups."""
    headers = Batch()
    sources: dict[str, Source] = {}
    for start in range(0, len(uids), _HEADER_BATCH):
        for uid, raw in imap.thread_headers(uids[start : start + _HEADER_BATCH]).items():
            try:
                message = parse_message(raw + b"\r\n")
            except Exception:  # noqa: S112 - the body fetch records why this mail cannot be read
                continue
            if not message.has_own_id:
                # Its id is derived from the body too; it is read in full in the second phase.
                message = dataclasses.replace(message, message_id=f"uid-{folder}-{uid}@backfill.invalid")
            if message.message_id not in sources:
                headers.messages[message.message_id] = message
                sources[message.message_id] = headers.sources[message.message_id] = Source(
                    folder, uid, uidvalidity
                )
    known = sync.state.known_message_ids(sync.settings.name, sources)
    result.duplicates += len(known)
    for message_id in known:
        del headers.messages[message_id], headers.sources[message_id]
    return sync.plan_groups(headers, by_subject=False), sources


def _fetch_group(
    imap: HistoryMailbox,
    folder: str,
    planned: PublishGroup,
    sources: dict[str, Source],
    state: SyncState,
    failures: FailureLog,
    result: PassResult,
) -> PublishGroup | None:
    """Fetch and parse the full mails of a planned group; None when none of them is publishable."""
    group = planned.group
    by_uid = {sources[m.message_id].uid: m.message_id for m in group.messages}
    messages: list[Message] = []
    for mail in imap.fetch(folder, sorted(by_uid)):
        result.fetched += 1
        header_id = by_uid[mail.uid]
        try:
            message = parse_message(mail.raw, mail.internal_date)
        except Exception as exc:  # one mail must never stop the backfill
            failures.record(sources[header_id], None, describe_failure("reading the mail", exc), result)
            continue
        # Recorded with the message, so a later pass tells this copy from other content by size.
        sources[message.message_id] = dataclasses.replace(
            sources[header_id], raw_size=len(mail.raw), content_hash=content_hash(message)
        )
        messages.append(message)
    known = state.known_message_ids(failures.mailbox, [m.message_id for m in messages])
    fresh = sorted((m for m in messages if m.message_id not in known), key=lambda m: (m.date, m.message_id))
    if not fresh:
        return None
    full = ThreadGroup(messages=tuple(fresh), thread_id=group.thread_id, also_linked=group.also_linked)
    return dataclasses.replace(planned, group=full, sources=tuple(sources[m.message_id] for m in fresh))
