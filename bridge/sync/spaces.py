"""The spaces one mapping publishes into: its own and one per route, each with its look, pages and redaction.

A route's mail is rendered in the route's language and address display, under its prefix with
its categories, and redacted as the route says (`MailboxSettings.for_route`); the executor takes
the space a group's plan names.
"""

from __future__ import annotations

from dataclasses import dataclass

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


class Spaces:
    """The spaces of one mapping (None: the mapping's own), made up front: publishing runs on
    several threads (`lanes`), which then only read them."""

    def __init__(self, settings: MailboxSettings, wiki: WikiPages, state: PageLedger) -> None:
        self._spaces = {route: _space(settings.for_route(route), wiki, state) for route in _routes(settings)}

    def __getitem__(self, route: str | None) -> Space:
        """The space of `route` (an unknown route, as of a changed config, is the mapping's own)."""
        return self._spaces.get(route, self._spaces[None])


def _routes(settings: MailboxSettings) -> list[str | None]:
    return [None, *(route.name for route in settings.routes)]


def _space(settings: MailboxSettings, wiki: WikiPages, state: PageLedger) -> Space:
    space = settings.space
    options = RenderOptions(
        mailbox=settings.name, language=space.language, show_addresses=space.show_addresses
    )
    pages = ThreadPages(settings.name, space, wiki, state, options)
    return Space(settings, options, pages, settings.redaction.rules(space.language))
