"""Properties of the incremental sync over generated conversations (Hypothesis).

The real `MailboxSync` and the real `SqliteStateStore` (in a temporary directory) run against the
in-memory IMAP account and wiki of tests/fakes.py. A conversation is a forest of reply trees;
each mail carries Message-ID, In-Reply-To (the parent) and References in one of three styles:
the full chain of ancestors, only the parent (clients that drop References), or the root and the
parent (truncated as RFC 5322 allows). Whatever the arrival order, the folders, the split into
passes, the batch size, crashes and duplicates, every message must end up on the wiki exactly
once, and the pages, joined where a merge note links them, must be the trees of the forest.
"""

from __future__ import annotations

import email.policy
import email.utils
import functools
import itertools
import os
import re
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

import structlog
from hypothesis import HealthCheck, Phase, event, example, given, note, settings
from hypothesis import strategies as st

from bridge.adapters.state.store import SqliteStateStore
from bridge.core.render.page import merge_marker, message_marker
from bridge.core.render.titles import page_title
from bridge.errors import WikiUnavailableError
from bridge.service.config import MailboxSettings
from bridge.sync.mailbox_pass import MailboxSync, PassResult
from tests.fakes import FakeMailbox, FakeWiki, FaultMode
from tests.settings import mailbox_settings

ReferenceStyle = Literal["chain", "parent", "truncated"]
# "parent" first and drawn most often: only replies that do not name the root can reach a page
# before their thread is known to be one, which is what merges (and their bugs) need.
ALL_STYLES: tuple[ReferenceStyle, ...] = ("parent", "parent", "truncated", "chain")
FOLDERS = ("INBOX", "Archive")
PREFIX = "Mail/Team"
SUBJECTS = ("Angebot Förderband", "Lieferung 4711", "Meeting")
BODIES = ("Hallo,\nbitte prüfen.", "[[Hauptseite]] {{Vorlage}} | ~~~~", "Gruß\n-- \nAnna", "")
BASE_DATE = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
MAX_SETTLING_PASSES = 6
# The state store is real SQLite; on a RAM disk its fsyncs cost nothing, so a busy machine's disk
# does not decide whether hundreds of examples fit the time budget (same code, same file format).
MEMORY_DIR = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


def examples(count: int) -> settings:
    """Return the settings of a property: `count` examples, no deadline (passes run real SQLite).

    The explain phase is left out: it re-runs a failing case many times (tens of seconds here)
    only to comment which parts vary freely; the shrunk example alone says what failed.
    """
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    )


# -- conversations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    """One generated mail: its ancestors (root first), References style, subject, date and body."""

    index: int
    chain: tuple[int, ...]
    style: ReferenceStyle
    subject: str
    minute: int  # minutes after BASE_DATE
    body: str

    @property
    def message_id(self) -> str:
        return message_id(self.index)

    @functools.cached_property
    def raw(self) -> bytes:
        """The mail as an IMAP server serves it (CRLF line ends)."""
        mail = EmailMessage()
        mail["From"] = f"Person {self.index % 3} <p{self.index % 3}@example.org>"
        mail["To"] = "team@example.org"
        mail["Subject"] = f"Re: {self.subject}" if self.chain else self.subject
        mail["Date"] = email.utils.format_datetime(BASE_DATE + timedelta(minutes=self.minute))
        mail["Message-ID"] = f"<{self.message_id}>"
        if self.chain:
            mail["In-Reply-To"] = f"<{message_id(self.chain[-1])}>"
            references = {
                "chain": self.chain,
                "parent": (),
                "truncated": tuple(sorted({self.chain[0], self.chain[-1]})),
            }[self.style]
            if references:
                mail["References"] = " ".join(f"<{message_id(ref)}>" for ref in references)
        mail.set_content(self.body or "\n")
        return mail.as_bytes(policy=email.policy.SMTP)


@dataclass(frozen=True)
class Conversation:
    """A forest of reply trees, mails in creation order (a parent before its replies)."""

    mails: tuple[Mail, ...]

    @property
    def ids(self) -> list[str]:
        return [mail.message_id for mail in self.mails]

    def threads(self) -> set[frozenset[str]]:
        """Return the true partition: the trees of the forest, as sets of Message-IDs."""
        trees: dict[int, set[str]] = {}
        for mail in self.mails:
            trees.setdefault(mail.chain[0] if mail.chain else mail.index, set()).add(mail.message_id)
        return {frozenset(tree) for tree in trees.values()}


def message_id(index: int) -> str:
    """Return the Message-ID (normalized, without brackets) of the mail of this index."""
    return f"m{index}@example.org"


@st.composite
def conversations(
    draw: st.DrawFn, styles: Sequence[ReferenceStyle] = ("chain",), min_size: int = 3, max_size: int = 7
) -> Conversation:
    """Draw a forest of `min_size` to `max_size` mails; dates increase from a parent to its replies.

    A mail's parent is drawn as an absolute index (clamped to the mail before it), so the shrinker
    can delete unrelated mails without re-wiring the others; a negative draw makes a root (about
    one mail in four), and shrinking leans towards replies to the first mail.
    """
    shapes = st.tuples(
        st.integers(-2, max_size - 2),
        st.sampled_from(styles),
        st.sampled_from(SUBJECTS),
        st.integers(1, 600),
        st.sampled_from(BODIES),
    )
    mails: list[Mail] = []
    for index, (parent, style, subject, step, body) in enumerate(
        draw(st.lists(shapes, min_size=min_size, max_size=max_size))
    ):
        if parent < 0 or index == 0:
            mails.append(Mail(index, (), "chain", subject, step, body))
        else:
            parent = min(parent, index - 1)
            up = mails[parent]
            mails.append(Mail(index, (*up.chain, parent), style, up.subject, up.minute + step, body))
    return Conversation(tuple(mails))


@dataclass(frozen=True)
class Delivery:
    """One mail put into one folder."""

    mail: int
    folder: str


@dataclass(frozen=True)
class Plan:
    """A conversation, the order its mails (and copies) arrive in, and the cuts between passes."""

    conversation: Conversation
    deliveries: tuple[Delivery, ...]
    cuts: tuple[int, ...]
    batch_size: int
    occupied: tuple[str, ...] = ()  # titles a person's page already has before the first pass

    def passes(self) -> list[tuple[Delivery, ...]]:
        """Return the deliveries that arrive before each pass (1 to 4 passes)."""
        bounds = [0, *self.cuts, len(self.deliveries)]
        return [self.deliveries[start:end] for start, end in itertools.pairwise(bounds)]


@st.composite
def plans(draw: st.DrawFn, styles: Sequence[ReferenceStyle] = ("chain",), duplicates: bool = False) -> Plan:
    """Draw a conversation, a folder per mail (and copies), an arrival order, 1–4 passes, people's pages."""
    conversation = draw(conversations(styles))
    indices = [mail.index for mail in conversation.mails]
    deliveries = [Delivery(index, draw(st.sampled_from(FOLDERS))) for index in indices]
    if duplicates:
        copies = st.builds(Delivery, st.sampled_from(indices), st.sampled_from(FOLDERS))
        deliveries += draw(st.lists(copies, min_size=1, max_size=len(indices)))
    order = tuple(draw(st.permutations(deliveries)))
    cuts = tuple(sorted(draw(st.lists(st.integers(0, len(order)), max_size=3))))
    batch_size = draw(st.sampled_from((1, 2, 3, 50)))
    titles = st.builds(page_title, st.just(PREFIX), st.sampled_from(SUBJECTS), st.integers(1, 2))
    occupied = tuple(sorted(draw(st.sets(titles, max_size=2))))
    return Plan(conversation, order, cuts, batch_size, occupied)


# -- the bridge over fakes ----------------------------------------------------------------------


class Bridge:
    """One mapping: the real orchestrator and state store, a fake IMAP account and a fake wiki."""

    def __init__(self, directory: Path, plan: Plan, wiki: FakeWiki) -> None:
        self.state_path = directory / "state.sqlite3"
        self.state = SqliteStateStore(self.state_path)
        self.mailbox = FakeMailbox(FOLDERS)
        self.wiki = wiki
        self.people_pages = {title: f"Notes of a colleague about {title}." for title in plan.occupied}
        for title, text in self.people_pages.items():
            wiki.put_page(title, text)
        self.settings = mailbox_settings(
            folders=FOLDERS, page_prefix=PREFIX, categories=("Mail archive",), batch_size=plan.batch_size
        )

    def _open(self, settings: MailboxSettings) -> FakeMailbox:
        return self.mailbox

    def deliver(self, conversation: Conversation, deliveries: Iterable[Delivery]) -> None:
        for delivery in deliveries:
            self.mailbox.deliver(delivery.folder, conversation.mails[delivery.mail].raw)

    def run_pass(self) -> PassResult:
        return MailboxSync(self.settings, self.wiki, self.state, open_mailbox=self._open).run()

    def try_pass(self) -> bool:
        """Run a pass; return False when the wiki became unavailable and the pass stopped."""
        try:
            self.run_pass()
        except WikiUnavailableError:
            return False
        return True

    def traffic(self) -> tuple[int, int, int]:
        """Return how many writes and reads the wiki got and how many bodies the mailbox sent."""
        return self.wiki.writes, self.wiki.reads, self.mailbox.bodies_fetched

    def run_plan(self, plan: Plan) -> None:
        """Deliver the plan's mail in its order, running a pass after each slice."""
        for deliveries in plan.passes():
            self.deliver(plan.conversation, deliveries)
            self.run_pass()


@contextmanager
def bridge(plan: Plan, wiki: FakeWiki | None = None) -> Iterator[Bridge]:
    """Yield a bridge for `plan` over a fresh state store in a temporary directory; logs are swallowed."""
    with tempfile.TemporaryDirectory(dir=MEMORY_DIR) as directory, structlog.testing.capture_logs():
        opened = Bridge(Path(directory), plan, wiki or FakeWiki())
        try:
            yield opened
        finally:
            opened.state.close()


# -- what the wiki shows ------------------------------------------------------------------------


def marker_counts(wiki: FakeWiki, ids: Iterable[str]) -> dict[str, int]:
    """Count, per message, its marker across all pages of the wiki."""
    return {mid: sum(page.text.count(message_marker(mid)) for page in wiki.pages.values()) for mid in ids}


def merge_notes(wiki: FakeWiki) -> set[tuple[str, str]]:
    """Return (page, page it continues on) for every merge note on the wiki (found by its marker)."""
    return {
        (title, into)
        for title, page in wiki.pages.items()
        for into in wiki.pages
        if into != title and merge_marker(into) in page.text
    }


def merged_in_state(state_path: Path) -> set[tuple[str, str]]:
    """Return (page, page it was merged into) as the store's `threads.merged_into` records it."""
    with closing(sqlite3.connect(state_path)) as db:
        rows = db.execute(
            "SELECT t.page_title, o.page_title FROM threads t JOIN threads o ON o.id = t.merged_into "
            "WHERE t.page_title IS NOT NULL AND o.page_title IS NOT NULL"
        ).fetchall()
    return {(str(page), str(into)) for page, into in rows}


def published_threads(
    wiki: FakeWiki, ids: Iterable[str], joins: Iterable[tuple[str, str]]
) -> set[frozenset[str]]:
    """Return the messages grouped by page, pages connected by `joins` counting as one group."""
    parent: dict[str, str] = {title: title for title in wiki.pages}

    def find(title: str) -> str:
        while parent[title] != title:
            title = parent[title]
        return title

    for left, right in joins:
        parent[find(left)] = find(right)
    groups: dict[str, set[str]] = {}
    for mid in ids:
        for title, page in wiki.pages.items():
            if message_marker(mid) in page.text:
                groups.setdefault(find(title), set()).add(mid)
    return {frozenset(group) for group in groups.values()}


def assert_published_once(opened: Bridge, conversation: Conversation) -> None:
    """Every message's marker is on the wiki exactly once, no mail failed, people's pages are intact."""
    counts = marker_counts(opened.wiki, conversation.ids)
    assert {mid: n for mid, n in counts.items() if n != 1} == {}
    assert opened.state.failures(opened.settings.name) == []
    assert {title: opened.wiki.pages[title].text for title in opened.people_pages} == opened.people_pages


def assert_pages_are_threads(opened: Bridge, conversation: Conversation) -> None:
    """The pages, joined where a merge note links them, are the forest's trees; every merge has its note."""
    notes = merge_notes(opened.wiki)
    event(f"merge notes: {min(len(notes), 2)}")
    pages = {title: sorted(_ids_on(page.text)) for title, page in opened.wiki.pages.items()}
    note(f"pages: {pages}")
    note(f"merge notes: {sorted(notes)}")
    assert published_threads(opened.wiki, conversation.ids, notes) == conversation.threads()
    assert notes == merged_in_state(opened.state_path)


def _ids_on(text: str) -> set[str]:
    return set(re.findall(r'data-message-id="([^"]*)"', text))


# -- properties -------------------------------------------------------------------------------


# m0 <- m1 <- m2, where m2 names only its parent and arrives before it: m0 and m2 get pages of
# their own before m1 shows they are one conversation (m1 joins m0's page, m2's page gets a note).
LATE_MIDDLE = Plan(
    Conversation(
        (
            Mail(0, (), "chain", "Meeting", 1, ""),
            Mail(1, (0,), "chain", "Meeting", 2, ""),
            Mail(2, (0, 1), "parent", "Meeting", 3, ""),
        )
    ),
    deliveries=(Delivery(0, "INBOX"), Delivery(2, "INBOX"), Delivery(1, "INBOX")),
    cuts=(),
    batch_size=1,
)


# Two groups of one batch: the first merges thread (3) into the oldest, the second was grouped
# against the state from before that merge and must still land on the oldest page.
MERGED_WITHIN_BATCH = Plan(
    Conversation(
        (
            Mail(0, (), "chain", "Angebot", 1, ""),
            Mail(1, (0,), "parent", "Angebot", 2, ""),
            Mail(2, (0,), "parent", "Angebot", 2, ""),
            Mail(3, (0,), "parent", "Angebot", 2, ""),
            Mail(4, (0, 3), "parent", "Angebot", 3, ""),
            Mail(5, (0, 3, 4), "parent", "Angebot", 4, ""),
            Mail(6, (0, 3, 4, 5), "parent", "Angebot", 5, ""),
        )
    ),
    deliveries=(
        Delivery(0, "INBOX"),
        Delivery(6, "INBOX"),
        Delivery(2, "INBOX"),
        Delivery(3, "Archive"),
        Delivery(4, "INBOX"),
        Delivery(5, "Archive"),
        Delivery(1, "INBOX"),
    ),
    cuts=(),
    batch_size=2,
)


@examples(50)
@given(plans(styles=("chain",)))
def test_full_references_give_the_threads_in_any_order_and_split(plan: Plan) -> None:
    """With full References chains, any arrival order and split into passes yields one page per tree."""
    with bridge(plan) as opened:
        opened.run_plan(plan)
        assert_published_once(opened, plan.conversation)
        assert_pages_are_threads(opened, plan.conversation)


@examples(80)
@given(plans(styles=ALL_STYLES))
@example(LATE_MIDDLE)
@example(MERGED_WITHIN_BATCH)
def test_any_references_give_the_threads_in_any_order_and_split(plan: Plan) -> None:
    """With any References style, any arrival order and split yields the trees, merged pages joined."""
    with bridge(plan) as opened:
        opened.run_plan(plan)
        assert_published_once(opened, plan.conversation)
        assert_pages_are_threads(opened, plan.conversation)


@examples(30)
@given(plans(styles=ALL_STYLES))
def test_a_pass_without_new_mail_changes_nothing(plan: Plan) -> None:
    """A pass with no new mail fetches no body, edits no page and reads nothing from the wiki."""
    with bridge(plan) as opened:
        opened.run_plan(plan)
        before, traffic = opened.wiki.snapshot(), opened.traffic()
        result = opened.run_pass()
        assert result.published == 0
        assert opened.wiki.snapshot() == before
        assert opened.traffic() == traffic


FAULTS = st.dictionaries(st.integers(1, 6), st.sampled_from(("before", "after")), min_size=1, max_size=3)


@examples(120)
@given(plans(styles=ALL_STYLES), FAULTS)
@example(LATE_MIDDLE, {3: "after"})  # the answer to the append that carries m1 (and the merge) is lost
def test_a_failed_write_anywhere_loses_and_doubles_nothing(plan: Plan, faults: dict[int, FaultMode]) -> None:
    """After writes fail (before or after the wiki applied them), passes settle with each message once."""
    with bridge(plan, FakeWiki(faults)) as opened:
        for deliveries in plan.passes():
            opened.deliver(plan.conversation, deliveries)
            opened.try_pass()
        for _ in range(MAX_SETTLING_PASSES):
            writes = opened.wiki.writes
            if opened.try_pass() and opened.wiki.writes == writes:
                break
        else:
            raise AssertionError(f"still writing after {MAX_SETTLING_PASSES} passes")
        event(f"faults injected: {sum(1 for k in faults if k <= opened.wiki.writes)}")
        assert opened.state.pending_messages(opened.settings.name) == []
        assert_published_once(opened, plan.conversation)
        assert_pages_are_threads(opened, plan.conversation)


@examples(40)
@given(plans(styles=ALL_STYLES, duplicates=True))
def test_duplicate_deliveries_are_published_once(plan: Plan) -> None:
    """The same mail in two folders, or twice in one folder, is published once."""
    with bridge(plan) as opened:
        opened.run_plan(plan)
        assert_published_once(opened, plan.conversation)


@examples(25)
@given(plans(styles=ALL_STYLES), st.data())
def test_a_new_uidvalidity_publishes_nothing_new(plan: Plan, data: st.DataObject) -> None:
    """Folders renumbered under a new UIDVALIDITY are read again, and nothing is published twice."""
    with bridge(plan) as opened:
        opened.run_plan(plan)
        before, writes = opened.wiki.snapshot(), opened.wiki.writes
        for folder in data.draw(st.sets(st.sampled_from(FOLDERS), min_size=1), label="renumbered"):
            box = opened.mailbox.folders[folder]
            mails = data.draw(st.permutations(list(box.mails.values())), label=f"{folder} order")
            first_uid = data.draw(st.integers(1, 20), label=f"{folder} first uid")
            opened.mailbox.renumber(folder, box.uidvalidity + 1, mails, first_uid)
        bodies = opened.mailbox.bodies_fetched
        result = opened.run_pass()
        assert (result.published, opened.wiki.writes) == (0, writes)
        assert opened.wiki.snapshot() == before
        assert opened.mailbox.bodies_fetched == bodies  # known Message-IDs are skipped by header
        assert_published_once(opened, plan.conversation)
