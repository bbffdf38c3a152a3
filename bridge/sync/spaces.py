"""The spaces one mapping publishes into: its own and one per route, each with its look, pages and redaction.

A route's mail is rendered in the route's language and address display, under its prefix with
its categories, and redacted as the route says (`MailboxSettings.for_route`); the executor takes
the space a group's plan names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.adapters.state.ports import PageLedger
from bridge.core.redact import Redaction, redact_message
from bridge.core.render.page import RenderOptions
from bridge.core.threads import ThreadGroup
from bridge.service.config import MailboxSettings
from bridge.sync.continuation import ThreadPages
from bridge.sync.ports import WikiPages


@dataclass(frozen=True, slots=True)
class Space:
    """One space of a mapping: its settings, render options, thread pages and redaction."""

    settings: MailboxSettings
    options: RenderOptions
    pages: ThreadPages
    redaction: Redaction

    def redacted(self, group: ThreadGroup) -> ThreadGroup:
        """The group as it may be published here: every message redacted."""
        if not self.redaction.active:
            return group
        messages = tuple(redact_message(message, self.redaction) for message in group.messages)
        return ThreadGroup(messages, group.thread_id, group.also_linked)


@dataclass
class Spaces:
    """The spaces of one mapping, made when first asked for (None: the mapping's own)."""

    settings: MailboxSettings
    wiki: WikiPages
    state: PageLedger
    _made: dict[str | None, Space] = field(default_factory=dict)

    def __getitem__(self, route: str | None) -> Space:
        """The space of `route` (an unknown route, as of a changed config, is the mapping's own)."""
        if route not in self._made:
            settings = self.settings.for_route(route)
            space = settings.space
            options = RenderOptions(
                mailbox=settings.name, language=space.language, show_addresses=space.show_addresses
            )
            pages = ThreadPages(settings.name, space, self.wiki, self.state, options)
            self._made[route] = Space(settings, options, pages, settings.redaction.rules(space.language))
        return self._made[route]
