"""Forgetting a person or a message on the wiki and in the state (`email-wiki-bridge forget`).

GDPR Art. 17. Every thread page of the chosen mappings is read; where the person's messages
appear they are replaced by a dated note (markers kept: the mail counts as published and is never
published again), their name and address leave the other messages' header fields; the page's
earlier revisions that still show them are hidden by revision deletion (text and summary), files
that only their messages showed are deleted, and the state keeps only a keyed hash of their
address. Human text on the pages stays. Nothing here needs the daemon stopped: page rewrites are
saved on the revision they were computed from and redone after a concurrent edit.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import structlog

from bridge.adapters.state.ports import PrivacyLedger
from bridge.adapters.wiki import PageContent
from bridge.core.forget import (
    FORGOTTEN_CLASS,
    ForgetRequest,
    PageRewrite,
    file_names,
    forget_on_page,
    names_of,
)
from bridge.errors import ForgetError, WikiError
from bridge.service.config import MailboxSettings
from bridge.sync.ports import HistoryWiki

log = structlog.get_logger("bridge.sync.forget")
_SUMMARY = {"de": "Nachricht entfernt (Datenschutz)", "en": "Message removed (data protection)"}
_REASON = "Data protection erasure (GDPR Art. 17) by email-wiki-bridge"
_CONFLICT_RETRIES = 3


@dataclass
class ForgetReport:
    """What a forget changed (or, in a dry run, would change): titles and counts, no personal data."""

    pages: list[str] = field(default_factory=list)
    messages: int = 0
    scrubbed_blocks: int = 0
    revisions: dict[str, list[int]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # page → why it was left alone
    state_rows: int = 0

    def summary(self) -> str:
        """The audit line: counts only."""
        hidden = sum(len(ids) for ids in self.revisions.values())
        return (
            f"pages={len(self.pages)} messages={self.messages} header_mentions={self.scrubbed_blocks} "
            f"revisions_hidden={hidden} files_deleted={len(self.files)} state_rows={self.state_rows} "
            f"pages_left_for_hand={len(self.refused)}"
        )


@dataclass(frozen=True)
class _PlannedPage:
    page: PageContent
    language: str
    rewrite: PageRewrite


def forget(
    mappings: Sequence[MailboxSettings],
    wiki: HistoryWiki,
    state: PrivacyLedger,
    request: ForgetRequest,
    today: date,
    dry_run: bool = False,
) -> ForgetReport:
    """Forget `request` on the pages of `mappings` and in the state; with `dry_run`, only report."""
    missing = wiki.missing_rights()
    if missing and not dry_run:
        raise ForgetError(
            f"the wiki account lacks {', '.join(missing)}, which forget needs to hide old revisions and "
            "delete files; give it the grant 'Delete pages, revisions, and log entries' "
            "(Special:BotPasswords) and a group with these rights (e.g. sysop), then run forget again"
        )
    if request.addresses:
        request = request.with_ids(state.messages_from(request.addresses))
    pages = _pages(mappings, wiki)
    names: set[str] = set()
    for page, _ in pages:
        names |= names_of(page.text, request.addresses)
    request = request.with_names(names)
    report = ForgetReport()
    planned: list[_PlannedPage] = []
    still_shown: set[str] = set()
    for page, language in pages:
        try:
            rewrite = forget_on_page(page.text, request, language, today.isoformat())
        except ForgetError as exc:
            report.refused[page.title] = str(exc)
            still_shown |= file_names(page.text)
            continue
        still_shown |= file_names(rewrite.text)
        # A page forgotten on before keeps its history checked: a run cut short after the edit
        # and before the revision deletion is finished by running forget again.
        if rewrite.changed(page.text) or FORGOTTEN_CLASS in page.text:
            planned.append(_PlannedPage(page, language, rewrite))
    forgotten_ids: set[str] = set(request.message_ids)
    candidates: set[str] = set()
    for plan in planned:
        current = plan.page.revision
        if plan.rewrite.changed(plan.page.text):
            report.pages.append(plan.page.title)
            report.messages += len(plan.rewrite.forgotten_ids)
            report.scrubbed_blocks += plan.rewrite.scrubbed_blocks
            forgotten_ids |= set(plan.rewrite.forgotten_ids)
            candidates |= plan.rewrite.files
            current = current if dry_run else _save(wiki, plan, request, today)
        revealing = _revealing(wiki, plan.page.title, current, plan.language, request, today)
        if revealing:
            report.revisions[plan.page.title] = revealing
    report.files = sorted(candidates - still_shown)
    if not dry_run:
        _erase(wiki, state, request, forgotten_ids, report)
    log.info("forget.done" if not dry_run else "forget.dry_run", **_counts(report))
    return report


def _pages(mappings: Sequence[MailboxSettings], wiki: HistoryWiki) -> list[tuple[PageContent, str]]:
    seen: dict[str, tuple[PageContent, str]] = {}
    for mapping in mappings:
        for page in wiki.pages_under(mapping.space.page_prefix):
            seen.setdefault(page.title, (page, mapping.space.language))
    return list(seen.values())


def _save(wiki: HistoryWiki, plan: _PlannedPage, request: ForgetRequest, today: date) -> int:
    """Save the rewrite on the revision it was made from; after a concurrent edit, redo it on the new text."""
    page, rewrite = plan.page, plan.rewrite
    for _ in range(_CONFLICT_RETRIES):
        try:
            return wiki.replace_page(
                page.title, rewrite.text, _SUMMARY.get(plan.language, _SUMMARY["en"]), page.revision
            ).revision
        except WikiError as exc:
            if exc.code != "editconflict":
                raise
        fresh = wiki.page_content(page.title)
        if fresh is None:
            return 0
        page, rewrite = fresh, forget_on_page(fresh.text, request, plan.language, today.isoformat())
        if not rewrite.changed(page.text):
            return page.revision
    raise ForgetError(f"the page {page.title!r} kept changing while forget rewrote it; run forget again")


def _revealing(
    wiki: HistoryWiki, title: str, current: int, language: str, request: ForgetRequest, today: date
) -> list[int]:
    """The revisions of `title` other than `current` whose text still shows what is forgotten."""
    found: list[int] = []
    for revision in wiki.revisions(title):
        if revision.revision == current or revision.text_hidden:
            continue
        try:
            reveals = forget_on_page(revision.text, request, language, today.isoformat()).changed(
                revision.text
            )
        except ForgetError:
            reveals = True  # a text the blocks cannot be read from is hidden rather than trusted
        if reveals:
            found.append(revision.revision)
    return found


def _erase(
    wiki: HistoryWiki, state: PrivacyLedger, request: ForgetRequest, ids: set[str], report: ForgetReport
) -> None:
    for title, revisions in report.revisions.items():
        if revisions:
            wiki.hide_revisions(title, revisions, _REASON)
    for name in report.files:
        wiki.delete_page(f"File:{name}", _REASON)
    rows = state.forget_in_state(request.addresses, ids)
    report.state_rows = rows.replies + rows.drafts + rows.quarantined
    state.record_audit(getpass.getuser(), "forget", report.summary())


def _counts(report: ForgetReport) -> dict[str, int]:
    return {
        "pages": len(report.pages),
        "messages": report.messages,
        "revisions": sum(len(ids) for ids in report.revisions.values()),
        "files": len(report.files),
        "left_for_hand": len(report.refused),
    }
