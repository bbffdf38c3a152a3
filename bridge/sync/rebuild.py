"""The wiki is the truth when the state is gone: the lost-state guard and `state rebuild`.

A state store that knows nothing of a mailbox while the mailbox's page prefix already holds the
bridge's message markers has been lost, reset or replaced: publishing would put every mail on
the wiki a second time. The guard refuses that pass. `state rebuild` reads the markers of every
page under the prefix, and the threading headers of those mails that are still in the mailbox,
and records them as published, so the next pass publishes only what is really new.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from bridge.adapters.imap_probe import HeaderProbe
from bridge.adapters.state.ports import LedgerImport, LostStateGuard, ThreadLookup
from bridge.adapters.state.store import LedgerMessage, LedgerPage
from bridge.adapters.wiki import PageContent
from bridge.core.markers import PageMarkers, read_markers
from bridge.core.parsing import parse_message
from bridge.core.subjects import subject_key
from bridge.errors import MailboxError, StateError
from bridge.service.config import MailboxSettings
from bridge.sync.mailbox_pass import open_imap
from bridge.sync.ports import OpenMailReader, WikiListing

# The guard's look: the first few pages under the prefix, read in one request.
GUARD_PAGES = 5
log = structlog.get_logger("bridge.sync.rebuild")


def guard_lost_state(
    mailbox: MailboxSettings, wiki: WikiListing, state: LostStateGuard, remember: bool = True
) -> None:
    """Refuse (StateError) to publish a mailbox whose pages are on the wiki while the store knows none.

    Free in the normal case: once the store holds a message of the mailbox, or has looked at
    its prefix before, it is one indexed look-up. Otherwise one request reads the first pages
    under the prefix; an empty prefix (a new mapping) is remembered as looked at (unless not
    `remember`: a dry run writes nothing).
    """
    name, prefix = mailbox.name, mailbox.space.page_prefix
    if state.has_ledger(name) or state.wiki_checked(name, prefix):
        return
    # A mapping with routes publishes under each route's prefix as well.
    pages = (page for each in mailbox.page_prefixes for page in wiki.pages_under(each, limit=GUARD_PAGES))
    for page in pages:
        ids = read_markers(page.text).message_ids
        # Ids the store knows for another mapping sharing the prefix are not a sign of loss.
        if set(ids) - state.known_anywhere(ids):
            raise StateError(
                f"the state store has no record of mailbox {name}, but the wiki already holds its "
                f"pages under {page.title.rpartition('/')[0]}/ (e.g. {page.title!r}): the state was lost "
                "or replaced, and "
                f"publishing now would put that mail on the wiki again. Run `email-wiki-bridge state "
                f"rebuild --mailbox {name}` to rebuild the state from the wiki, or restore the state "
                "file from a backup"
            )
    if remember:
        state.record_wiki_check(name, prefix)


@dataclass(frozen=True, slots=True)
class FoundMail:
    """A published mail found in the mailbox: where it is, what it links to, its subject and date."""

    folder: str
    uid: int
    links: tuple[str, ...]
    subject: str
    date: datetime


@dataclass(frozen=True, slots=True)
class RebuildResult:
    """What `state rebuild` found and recorded."""

    pages: int
    on_wiki: int
    added: int
    in_mailbox: int


def rebuild_state(
    mailbox: MailboxSettings,
    wiki: WikiListing,
    state: LedgerImport,
    open_mailbox: OpenMailReader = open_imap,
) -> RebuildResult:
    """Record every message marked on the mapping's pages as published (known ones stay as they are).

    Threads get the pages' titles; merge notes and continuation links become the threads' links;
    mails still in the mailbox contribute their References/In-Reply-To, so late replies join
    their pages. Folder positions are left alone: the next pass reads the folders again, by
    headers only, and skips every known mail.
    """
    pages = [
        (page, markers)
        for prefix in mailbox.page_prefixes
        for page in wiki.pages_under(prefix)
        if _is_thread_page(markers := read_markers(page.text))
    ]
    wanted = {message_id for _, markers in pages for message_id in markers.message_ids}
    found = find_mails(mailbox, wanted, open_mailbox)
    ledger = [_ledger_page(mailbox, page, markers, found) for page, markers in pages]
    added = state.import_ledger(mailbox.name, ledger)
    _record_subjects(mailbox.name, state, ledger, found)
    state.record_wiki_check(mailbox.name, mailbox.space.page_prefix)
    result = RebuildResult(pages=len(pages), on_wiki=len(wanted), added=added, in_mailbox=len(found))
    log.info(
        "state.rebuilt",
        mailbox=mailbox.name,
        pages=result.pages,
        on_wiki=result.on_wiki,
        added=result.added,
        in_mailbox=result.in_mailbox,
    )
    return result


def _is_thread_page(markers: PageMarkers) -> bool:
    return bool(markers.message_ids or markers.merged_into or markers.continued_on)


def _ledger_page(
    mailbox: MailboxSettings, page: PageContent, markers: PageMarkers, found: dict[str, FoundMail]
) -> LedgerPage:
    acting = mailbox.mail_actions.after_publish != "keep"
    messages = []
    for message_id in markers.message_ids:
        mail = found.get(message_id)
        if mail is None:  # no longer in the mailbox: its own id is all that is known
            messages.append(LedgerMessage(message_id))
            continue
        # Mail still in a read folder may lack its after-publish flag or move: it is done again.
        pending = acting and mail.folder in mailbox.account.folders
        messages.append(LedgerMessage(message_id, mail.links, mail.folder, mail.uid, pending))
    return LedgerPage(page.title, page.revision, tuple(messages), markers.merged_into, markers.continued_on)


def _record_subjects(
    name: str, state: ThreadLookup, ledger: Sequence[LedgerPage], found: dict[str, FoundMail]
) -> None:
    """Rebuild the subject index (for `thread_by_subject`) from the mails still in the mailbox."""
    for page in ledger:
        mails = [found[m.message_id] for m in page.messages if m.message_id in found]
        threads = state.threads_for_ids(name, [page.messages[0].message_id]) if page.messages else {}
        if mails and threads:
            first = min(mails, key=lambda mail: mail.date)
            latest = max(mail.date for mail in mails)
            state.record_subject(name, subject_key(first.subject), next(iter(threads.values())), latest)


def find_mails(
    mailbox: MailboxSettings, wanted: set[str], open_mailbox: OpenMailReader
) -> dict[str, FoundMail]:
    """Find the `wanted` mails in the mapping's folders (and its archive folder, if mail is moved there).

    Only the Message-ID headers are read of every mail; bodies only of wanted mails and of mails
    without a Message-ID (whose id is derived from their content).
    """
    folders = list(mailbox.account.folders)
    if mailbox.mail_actions.after_publish == "move" and mailbox.mail_actions.archive_folder not in folders:
        folders.append(mailbox.mail_actions.archive_folder)
    found: dict[str, FoundMail] = {}
    if not wanted:
        return found
    with open_mailbox(mailbox) as imap:
        for folder in folders:
            try:
                imap.select(folder)
            except MailboxError as exc:
                if folder in mailbox.account.folders:
                    raise
                log.info("rebuild.folder_skipped", mailbox=mailbox.name, folder=folder, error=str(exc))
                continue
            for batch in _batches(imap.uids_after(0), mailbox.polling.batch_size):
                headers = imap.message_id_headers(batch)
                fetch = [
                    uid for uid in batch if uid not in headers or _may_be_wanted(headers[uid], wanted, found)
                ]
                for mail in imap.fetch(folder, fetch):
                    try:
                        message = parse_message(mail.raw, mail.internal_date)
                    except Exception as exc:  # any unreadable mail only loses its links
                        log.warning(
                            "rebuild.unreadable",
                            mailbox=mailbox.name,
                            folder=folder,
                            uid=mail.uid,
                            error=type(exc).__name__,
                        )
                        continue
                    if message.message_id in wanted and message.message_id not in found:
                        found[message.message_id] = FoundMail(
                            folder, mail.uid, message.links, message.subject, message.date
                        )
    return found


def _may_be_wanted(probe: HeaderProbe, wanted: set[str], found: dict[str, FoundMail]) -> bool:
    message_id = probe.message_id
    # A mail without a (readable) Message-ID is known by an id derived from its content: only
    # its body tells.
    return message_id is None or (message_id in wanted and message_id not in found)


def _batches(uids: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(uids), size):
        yield uids[start : start + size]
