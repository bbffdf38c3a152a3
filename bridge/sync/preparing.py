"""Preparing a thread group for its edit: redacted, its files uploaded, its mails rendered.

Runs on the pass's own thread while an edit lane publishes the group before (`Executor.run`), so
it writes nothing of the group to the store; only mail that cannot be rendered is recorded as
failed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from bridge.adapters.state.ports import SyncState
from bridge.core.attachments import all_attachments
from bridge.core.model import Attachment, Message
from bridge.core.render.page import FileRef, render_message, render_variant_note
from bridge.core.threads import ThreadGroup
from bridge.sync.actions import PublishGroup, Source
from bridge.sync.people import PagePeople
from bridge.sync.planner import describe_failure
from bridge.sync.results import FailureLog, PassResult
from bridge.sync.spaces import Space, Spaces
from bridge.sync.uploads import Uploads

log = structlog.get_logger("bridge.sync.preparing")


@dataclass(frozen=True)
class Prepared:
    """A group ready to publish: redacted, its files uploaded, its mails rendered (`sections`)."""

    action: PublishGroup
    space: Space
    group: ThreadGroup
    sources: dict[str, Source]
    thread_id: int | None
    also_linked: tuple[int, ...]
    messages: list[Message]
    sections: list[str]
    opening: str


class GroupPreparer:
    """Prepares one mapping's thread groups for publishing."""

    def __init__(
        self,
        mailbox: str,
        state: SyncState,
        spaces: Spaces,
        uploads: Uploads,
        people: PagePeople,
        failures: FailureLog,
    ) -> None:
        self.mailbox = mailbox
        self.state = state
        self.spaces = spaces
        self.uploads = uploads
        self.people = people
        self.failures = failures
        self._log = log.bind(mailbox=mailbox)

    def prepare(self, action: PublishGroup, result: PassResult) -> Prepared | None:
        """Redact, upload and render a group; None when none of its mails can be rendered."""
        space = self.spaces[action.route]
        # Redacted before anything of it is rendered, named or uploaded.
        group = space.redacted(action.group)
        sources = {m.message_id: s for m, s in zip(group.messages, action.sources, strict=True)}
        thread_id, also_linked = group.thread_id, group.also_linked
        if thread_id is not None:
            # An earlier group of the same batch may have merged one of these threads meanwhile.
            linked = sorted({self.state.merge_target(t) for t in (thread_id, *also_linked)})
            thread_id, also_linked = linked[0], tuple(linked[1:])
        files = self.uploads.store([a for m in group.messages for a in all_attachments(m)], space)
        space, opening = self.people.prepare(space, group.messages)
        sections: list[str] = []
        messages: list[Message] = []
        for message in group.messages:
            try:
                sections.append(self._fitted(message, sources[message.message_id], files, space))
            except Exception as exc:  # one mail must never stop the mailbox
                self._log.warning("message.unrenderable", message_id=message.message_id, exc_info=True)
                reason = describe_failure("rendering the mail", exc)
                self.failures.record(sources[message.message_id], message.message_id, reason, result)
                continue
            messages.append(message)
        if not messages:
            return None
        return Prepared(action, space, group, sources, thread_id, also_linked, messages, sections, opening)

    def _fitted(self, message: Message, source: Source, files: dict[str, FileRef], space: Space) -> str:
        """The message's section; a mail larger than a whole page is shortened, its full text a file."""

        def render(shortened: Message, note: str) -> str:
            return self._render(shortened, source, files, space, note)

        def upload(attachments: Sequence[Attachment]) -> dict[str, FileRef]:
            return self.uploads.store(attachments, space)

        return space.pages.fit(message, self._render(message, source, files, space), render, upload)

    def _render(
        self, message: Message, source: Source, files: dict[str, FileRef], space: Space, note: str = ""
    ) -> str:
        """The message's section; a variant says which earlier message shares its Message-ID."""
        if source.variant_of is not None:
            threads = self.state.threads_for_ids(self.mailbox, [source.variant_of])
            thread_id = threads.get(source.variant_of)
            page = self.state.thread_page(thread_id) if thread_id is not None else None
            note = render_variant_note(source.variant_of, page, space.options.language) + note
        return render_message(message, space.options, files, note)
