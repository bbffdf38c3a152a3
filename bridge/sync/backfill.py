"""Importing a mailbox's history: `email-wiki-bridge backfill --mailbox NAME [--since] [--until]`.

The machinery of a pass (`MailboxSync.read_mail`, see `bridge.sync.backlog`): the header probes
of the whole range are read and grouped into threads first, then each thread's mails are
fetched and published with ONE edit, oldest thread first, the next threads read ahead while
the wiki saves. What makes it history: the range is by arrival date and leaves the folder
position alone, no link replies are sent, the mail itself is never flagged or moved, and
threads are joined by their references only. An interrupted backfill (even SIGKILL) is resumed
by running it again: published mail is skipped by its Message-ID.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from datetime import date
from typing import TextIO

import structlog

from bridge.adapters.imap import ImapMailbox
from bridge.adapters.state.ports import SyncState
from bridge.service.config import MailboxSettings
from bridge.sync.mailbox_pass import MailboxSync
from bridge.sync.people import NO_PEOPLE, PagePeople
from bridge.sync.ports import Wiki
from bridge.sync.results import PassResult

log = structlog.get_logger("bridge.sync.backfill")


def backfill(
    settings: MailboxSettings,
    wiki: Wiki,
    state: SyncState,
    since: date | None,
    until: date | None,
    stop: threading.Event | None = None,
    out: TextIO = sys.stderr,
    concurrency: int = 1,
    people: PagePeople = NO_PEOPLE,
) -> PassResult:
    """Publish the history of `settings`' folders between `since` and `until` (exclusive).

    `concurrency` edits to different pages run at once (`[wiki] concurrency`); `people` links
    colleagues to their wiki accounts and writes the participants note, as a pass does.
    """
    quiet = settings.model_copy(
        update={
            "mail_actions": settings.mail_actions.model_copy(update={"after_publish": "keep"}),
            "replies": settings.replies.model_copy(update={"reply": "never"}),
            "space": settings.space.model_copy(update={"thread_by_subject": False}),
        }
    )
    sync = MailboxSync(quiet, wiki, state, stop=stop, concurrency=concurrency, people=people)
    result = PassResult(mailbox=settings.name)
    sync.recover()

    def handled(batch: Sequence[int]) -> None:
        """History leaves the folder position where the passes have it."""

    with ImapMailbox(quiet.name, quiet.account) as imap:
        for folder in quiet.account.folders:
            if sync.stop.is_set():
                break
            status = imap.select(folder)
            uids = imap.uids_between(since, until)
            sync.read_mail(imap, folder, status.uidvalidity, uids, result, None, handled, out)
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
