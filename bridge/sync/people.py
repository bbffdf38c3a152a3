"""Colleagues on the pages of one mapping: links to their wiki accounts, and the participants note.

`Directory` turns addresses into confirmed account names: a candidate from the admin's file or
the rule, asked of the wiki (`list=users`, 50 names a request) unless the store remembers the
answer from within `people_cache_hours`. `PeoplePages` gives a group's rendering its links, the
new thread page its participants note, and after each confirmed edit updates the note on the
conversation's first page when people joined: read, replace the note only if nobody edited it,
save on the revision read (an edit conflict leaves it for the next newcomer).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog

from bridge.adapters.state.parts import PartLookup
from bridge.adapters.state.people import AccountCache, PeopleLedger
from bridge.core.model import Message
from bridge.core.people import AccountRules, Insiders, Person, people_of_all, wiki_user_name
from bridge.core.render.people import PeopleLinks, render_participants, replace_participants
from bridge.errors import WikiError, WikiUnavailableError
from bridge.service.config import MailboxSettings, OrganisationSettings, Settings
from bridge.sync.continuation import Placement
from bridge.sync.ports import AccountWiki, PeopleWiki
from bridge.sync.spaces import Space

log = structlog.get_logger("bridge.sync.people")


class Directory:
    """Which colleagues have a wiki account: candidates by file or rule, confirmed by the wiki."""

    def __init__(
        self,
        organisation: OrganisationSettings,
        wiki: AccountWiki,
        cache: AccountCache | None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.rules = AccountRules(organisation.wiki_user_from_address, organisation.file_accounts())
        self.enabled = organisation.links_people
        self.expiry = timedelta(hours=organisation.people_cache_hours)
        self.wiki = wiki
        self.cache = cache
        self.now = now

    def accounts(self, addresses: Iterable[str]) -> dict[str, str]:
        """The existing account of each address that has one (lower-case address → user name)."""
        if not self.enabled:
            return {}
        candidates = {
            address.lower(): wiki_user_name(name)
            for address in addresses
            if (name := self.rules.candidate(address)) is not None
        }
        names = set(candidates.values())
        if not names:
            return {}
        known = self.cache.known_accounts(names, self.now() - self.expiry) if self.cache else {}
        unknown = sorted(names - known.keys())
        if unknown:
            found = self.wiki.user_accounts(unknown)
            if self.cache is not None:
                self.cache.record_accounts(found)
            known = {**known, **found}
        return {address: name for address, name in candidates.items() if known.get(name)}


class ParticipantState(PeopleLedger, PartLookup, Protocol):
    """What the participants note uses of the store: people, parts, and the first part's page."""

    def thread_page(self, thread_id: int) -> str | None: ...


class PagePeople:
    """People on a mapping's pages as they are without links or note: names as text."""

    def prepare(self, space: Space, group: Sequence[Message]) -> tuple[Space, str]:
        """The space a group is rendered in, and the note a new first page starts with ("": none)."""
        return space, ""

    def confirmed(self, placement: Placement, group: Sequence[Message]) -> None:
        """What follows an edit that put `placement`'s messages on their page (nothing here)."""


NO_PEOPLE = PagePeople()


class PeoplePages(PagePeople):
    """Links and the participants note for one mapping's pages."""

    def __init__(
        self,
        settings: MailboxSettings,
        insiders: Insiders,
        own_addresses: frozenset[str],
        directory: Directory,
        wiki: PeopleWiki,
        state: ParticipantState,
    ) -> None:
        self.mailbox = settings.name
        self.settings = settings
        self.insiders = insiders
        self.own_addresses = own_addresses
        self.directory = directory
        self.wiki = wiki
        self.state = state
        self._namespace: str | None = None
        self._log = log.bind(mailbox=settings.name)

    def people(self, messages: Sequence[Message]) -> list[Person]:
        """The people of `messages` (senders and recipients, without the team addresses)."""
        return people_of_all(messages, self.insiders, self.own_addresses)

    def links(self, people: Sequence[Person]) -> PeopleLinks:
        """The accounts of the colleagues among `people` (the wiki asked only when it has to be)."""
        accounts = self.directory.accounts(person.address for person in people if person.inside)
        if not accounts:
            return PeopleLinks()
        if self._namespace is None:
            self._namespace = self.wiki.user_namespace()
        return PeopleLinks(self._namespace, accounts)

    def prepare(self, space: Space, group: Sequence[Message]) -> tuple[Space, str]:
        """The space rendering the group with its colleagues' links, and the note for a new first page."""
        people = self.people(group)
        links = self.links(people)
        options = space.options
        note = render_participants(people, options.show_addresses, options.language, links)
        return dataclasses.replace(space, options=dataclasses.replace(options, people=links)), note

    def confirmed(self, placement: Placement, group: Sequence[Message]) -> None:
        """Remember who took part; when people joined an existing conversation, update its note."""
        conversation = self.state.thread_part(placement.thread_id).first_id
        if placement.created and placement.thread_id == conversation:
            # The new page's note already lists the whole group.
            self.state.add_thread_people(conversation, self.people(group))
            return
        if self.state.add_thread_people(conversation, self.people(placement.messages)):
            self._update_note(conversation)

    def _update_note(self, conversation: int) -> None:
        title = self.state.thread_page(conversation)
        page = self.wiki.page_content(title) if title is not None else None
        if title is None or page is None:
            return
        people = self.state.thread_people(conversation)
        space = self.settings.for_page(title).space  # a route's page: its language and look
        note = render_participants(people, space.show_addresses, space.language, self.links(people))
        text = replace_participants(page.text, note)
        if text is None:
            return
        summary = f"Participants of the conversation ({self.mailbox} mailbox)"
        try:
            self.wiki.replace_page(title, text, summary, page.revision)
        except WikiUnavailableError:
            raise
        except WikiError as exc:
            # Someone saved meanwhile (edit conflict) or the wiki refuses: the next newcomer tries again.
            self._log.info("participants.not_updated", page=title, reason=str(exc))
            return
        self._log.info("participants.updated", page=title, people=len(people))


def people_pages(
    mailbox: MailboxSettings, settings: Settings, wiki: PeopleWiki, state: ParticipantState
) -> PeoplePages:
    """The links and participants note of `mailbox`'s pages, as `settings` set them up."""
    directory = Directory(settings.organisation, wiki, state)
    return PeoplePages(mailbox, settings.insiders(mailbox), settings.own_addresses(), directory, wiki, state)
