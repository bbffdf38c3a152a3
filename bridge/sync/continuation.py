"""Writing a thread group to its page, and to continuation pages when the page would get too big.

MediaWiki stores no page larger than `$wgMaxArticleSize`. Before appending, the bridge measures
the thread's current page (`prop=info` length, so people's edits count) and splits the group's
sections, in order, between the room left there and as many new parts (`Subject (part 2)`,
`Subject (Teil 2)` …) as needed. Each part is its own thread row and its own edit under the
usual intent/confirm protocol: intent recorded, page edited, messages confirmed on that page.
A new part starts with a link back to the previous one and carries the mapping's categories;
once it is confirmed, later mail of the thread goes there, and the previous page gets a link to
it (the marker `data-continued-on="…"` is looked for first when a pass was cut short).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import structlog

from bridge.adapters.state.parts import ThreadPart
from bridge.adapters.state.ports import PageLedger
from bridge.adapters.state.store import IntendedMessage
from bridge.adapters.wiki import EditResult
from bridge.core.model import Attachment, Message
from bridge.core.render.html import html_to_text
from bridge.core.render.page import (
    FileRef,
    RenderOptions,
    continuation_marker,
    join_sections,
    render_continuation_link,
    render_new_page,
    render_shortened_note,
)
from bridge.core.render.parts import (
    Rooms,
    byte_size,
    fit_excerpt,
    page_capacity,
    section_cost,
    split_sections,
)
from bridge.core.render.titles import MAX_TITLE_BYTES, page_title
from bridge.errors import WikiRefusedError
from bridge.service.config import MailboxSpace
from bridge.sync.ports import WikiPages

# Pages people made under the thread's title are skipped; this many in a row means something else.
MAX_TITLE_ATTEMPTS = 100
# The longest title the bridge makes, to reserve room for links to titles not chosen yet.
_LONGEST_TITLE = "x" * MAX_TITLE_BYTES
log = structlog.get_logger("bridge.sync.continuation")


@dataclass(frozen=True, slots=True)
class Placement:
    """Messages one edit put on one page: the thread (part) and the wiki's answer."""

    thread_id: int
    messages: tuple[Message, ...]
    edit: EditResult
    created: bool


def messages_text(count: int) -> str:
    """Return "1 message" or "n messages" for edit summaries."""
    return f"{count} message" if count == 1 else f"{count} messages"


def full_text(message: Message) -> str:
    """Return the whole readable text of a mail (forwarded mails included), for the full-text file."""
    body = message.body_text if message.body_text.strip() else html_to_text(message.body_html)
    parts = [body]
    for forwarded in message.forwarded:
        parts.append(f"\n\n---------- {forwarded.subject} ----------\n\n{full_text(forwarded)}")
    return "".join(parts)


class ThreadPages:
    """Puts a thread group's rendered sections on the thread's pages (one mapping, one pass)."""

    def __init__(
        self, mailbox: str, space: MailboxSpace, wiki: WikiPages, state: PageLedger, options: RenderOptions
    ) -> None:
        self.mailbox = mailbox
        self.space = space
        self.wiki = wiki
        self.state = state
        self.options = options
        self._log = log.bind(mailbox=mailbox)

    # -- sizes ---------------------------------------------------------------------------------

    def new_page_room(self) -> int:
        """Bytes of sections a new part holds (with its intro, categories and both part links)."""
        capacity = page_capacity(self.wiki.max_article_size())
        frame = render_new_page([], self.options, self.space.categories, previous=_LONGEST_TITLE)
        return capacity - byte_size(frame) - self._link_reserve()

    def _link_reserve(self) -> int:
        return byte_size(render_continuation_link(_LONGEST_TITLE, self.options.language))

    def _rooms(self, current: str | None) -> Rooms:
        new_page = self.new_page_room()
        if current is None:
            return Rooms(None, new_page)
        length = self.wiki.page_length(current)
        if length is None:  # someone deleted the page: it is created again under its title
            return Rooms(new_page, new_page)
        capacity = page_capacity(self.wiki.max_article_size())
        # An append adds a blank line before and a line break after the sections.
        return Rooms(capacity - length - self._link_reserve() - 3, new_page)

    def fit(
        self,
        message: Message,
        section: str,
        render: Callable[[Message, str], str],
        upload: Callable[[Sequence[Attachment]], Mapping[str, FileRef]],
    ) -> str:
        """Return `section` when it fits a page; else the mail shortened, its full text uploaded as a file.

        `render(message, note)` renders a message with a note of the bridge's; `upload` is the
        attachment path (content-hash names, so a retry finds the file already there).
        """
        room = self.new_page_room()
        if section_cost(section) <= room:
            return section
        text = full_text(message)
        name = f"{message.subject.strip() or 'mail'}.txt"
        document = Attachment(filename=name, content_type="text/plain", data=text.encode())
        note = render_shortened_note(upload([document])[document.sha256], self.options.language)
        shortened = dataclasses.replace(message, body_html="", forwarded=())
        self._log.info("message.shortened", message_id=message.message_id, size=byte_size(section))

        def with_excerpt(excerpt: str) -> str:
            return render(dataclasses.replace(shortened, body_text=excerpt), note)

        return fit_excerpt(with_excerpt, text, room)

    # -- publishing ----------------------------------------------------------------------------

    def publish(
        self,
        thread_id: int | None,
        messages: Sequence[Message],
        sections: Sequence[str],
        intents: Sequence[IntendedMessage],
        confirmed: Callable[[Placement], None],
        opening: str = "",
    ) -> None:
        """Publish `messages` (rendered as `sections`) on the thread `thread_id` (None: a new thread).

        `confirmed` is called after each edit, before the next one, so a refusal or an outage
        later in the group leaves the earlier parts fully recorded. `opening` is the note a new
        thread's first page starts with (the participants).
        """
        current = self.state.thread_page(thread_id) if thread_id is not None else None
        if current is None:
            thread_id = None  # a thread without a confirmed page starts afresh, as a new thread
        rooms = self._rooms(current)
        if current is None and opening:
            # The first page holds the note too; what does not fit goes on to the next part.
            rooms = Rooms(rooms.new_page - byte_size(opening) - 1, rooms.new_page)
        chunks = split_sections([section_cost(s) for s in sections], rooms)
        by_id = {intent.message_id: intent for intent in intents}
        for number, chunk in enumerate(chunks):
            if not chunk:
                continue  # the current page is full: the group starts on a new part
            batch = [messages[i] for i in chunk]
            text = [sections[i] for i in chunk]
            planned = [by_id[m.message_id] for m in batch]
            if thread_id is None:
                placement = self._new_thread(batch, text, planned, opening)
            elif number == 0 and current is not None:
                placement = self._append(thread_id, current, batch, text, planned)
            else:
                placement = self._new_part(self.state.thread_part(thread_id), batch, text, planned)
            confirmed(placement)
            if thread_id is not None and placement.thread_id != thread_id:
                self._link_parts(placement.thread_id, current, placement.edit.title, check=False)
            thread_id, current = placement.thread_id, placement.edit.title

    def settle(self) -> None:
        """Finish continuations a pass cut short: make the confirmed part current, link to it."""
        for pending in self.state.pending_part_links(self.mailbox):
            self._link_parts(pending.thread_id, pending.previous_title, pending.page_title, check=True)

    def _append(
        self,
        thread_id: int,
        title: str,
        messages: Sequence[Message],
        sections: Sequence[str],
        intents: Sequence[IntendedMessage],
    ) -> Placement:
        self.state.record_intent(self.mailbox, thread_id, intents)
        summary = f"Add {messages_text(len(messages))} from {self.mailbox} mailbox"
        edit = self.wiki.append_to_page(title, "\n\n" + join_sections(sections), summary)
        if edit is not None:
            return Placement(thread_id, tuple(messages), edit, created=False)
        # Someone deleted the page: start it again under its title.
        part = self.state.thread_part(thread_id)
        previous = self.state.thread_page(part.previous_id) if part.previous_id is not None else None
        text = render_new_page(sections, self.options, self.space.categories, previous=previous)
        edit = self._create_page(thread_id, text, len(messages), self._titles(part, messages[0]), 1, title)
        return Placement(thread_id, tuple(messages), edit, created=True)

    def _new_thread(
        self,
        messages: Sequence[Message],
        sections: Sequence[str],
        intents: Sequence[IntendedMessage],
        opening: str,
    ) -> Placement:
        titles = self._titles(None, messages[0])
        attempt, title = self._free_title(titles, 1)
        thread_id = self.state.new_thread(self.mailbox, title)
        self.state.record_intent(self.mailbox, thread_id, intents)
        text = render_new_page(sections, self.options, self.space.categories, opening=opening)
        edit = self._create_page(thread_id, text, len(messages), titles, attempt, title)
        return Placement(thread_id, tuple(messages), edit, created=True)

    def _new_part(
        self,
        previous: ThreadPart,
        messages: Sequence[Message],
        sections: Sequence[str],
        intents: Sequence[IntendedMessage],
    ) -> Placement:
        previous_title = self.state.thread_page(previous.thread_id)
        part = ThreadPart(0, previous.first_id, previous.number + 1, previous.thread_id)
        titles = self._titles(part, messages[0])
        attempt, title = self._free_title(titles, 1)
        thread_id = self.state.new_part(self.mailbox, title, previous)
        self.state.record_intent(self.mailbox, thread_id, intents)
        text = render_new_page(sections, self.options, self.space.categories, previous=previous_title)
        edit = self._create_page(thread_id, text, len(messages), titles, attempt, title)
        self._log.info("thread.continued", page=edit.title, previous=previous_title, part=previous.number + 1)
        return Placement(thread_id, tuple(messages), edit, created=True)

    def _link_parts(self, thread_id: int, previous_title: str | None, title: str, *, check: bool) -> None:
        """Make the confirmed part current, then link the previous page to it (once)."""
        self.state.make_current_part(thread_id)
        if previous_title is not None:
            page = self.wiki.page_content(previous_title) if check else None
            if not check or (page is not None and continuation_marker(title) not in page.text):
                summary = f"Continued on [[{title}]] ({self.mailbox} mailbox)"
                text = render_continuation_link(title, self.options.language)
                try:
                    self.wiki.append_to_page(previous_title, text, summary)
                except WikiRefusedError as exc:
                    # The new part links back; a full or protected previous page is not worth a stop.
                    self._log.warning("thread.link_refused", page=previous_title, reason=str(exc))
        self.state.part_link_done(thread_id)

    # -- titles --------------------------------------------------------------------------------

    def _titles(self, part: ThreadPart | None, first: Message) -> Callable[[int], str]:
        """Return the title of each attempt for a thread's first page or for a later part."""
        prefix, language = self.space.page_prefix, self.options.language
        if part is None or part.number <= 1:
            return lambda attempt: page_title(prefix, first.subject, attempt)
        # Later parts are named after the first part's page, whatever later mails are called.
        first_title = self.state.thread_page(part.first_id) or page_title(prefix, first.subject)
        subject = first_title.rpartition("/")[2]
        return lambda attempt: page_title(prefix, subject, attempt, part.number, language)

    def _free_title(self, titles: Callable[[int], str], attempt: int) -> tuple[int, str]:
        """Return the first title from `attempt` on that no thread of the store uses.

        One indexed query fetches the titles of this family already in use, so the 500th weekly
        "Wochenbericht" costs what the second does.
        """
        base = titles(1)
        taken = self.state.titles_taken(base)
        while True:
            title = titles(attempt)
            # A long subject is shortened to make room for " (n)", leaving the `base` family.
            if title not in taken and (title.startswith(base) or not self.state.title_taken(title)):
                return attempt, title
            attempt += 1

    def _create_page(
        self, thread_id: int, text: str, count: int, titles: Callable[[int], str], attempt: int, title: str
    ) -> EditResult:
        """Create a page; when the title exists on the wiki (a person's page), try the next."""
        summary = f"New thread from {self.mailbox} mailbox ({messages_text(count)})"
        for _ in range(MAX_TITLE_ATTEMPTS):
            edit = self.wiki.create_page(title, text, summary)
            if edit is not None:
                return edit
            self._log.info("page.title_taken", page=title)
            attempt, title = self._free_title(titles, attempt + 1)
            self.state.set_candidate_title(thread_id, title)
        raise WikiRefusedError(f"{MAX_TITLE_ATTEMPTS} titles for this subject exist on the wiki already")
