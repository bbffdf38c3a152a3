"""A stateful model test of the whole pass: Hypothesis drives deliveries, passes, crashes and people.

The real `MailboxSync`, `Outbox` and SQLite state store run against the in-memory IMAP account and
wiki of tests/fakes.py, with link replies on and a sender policy that refuses one of the three
people of the generated conversations. Hypothesis interleaves: new mail (replies arrive before or
after their parents), copies, other content under a known Message-ID, passes cut short at any wiki
write (before it, after it with the answer lost, or by the process dying), at any state-store call
(the process dies right after it) or by the stop event, a UIDVALIDITY change with the same mail
under new UIDs, releasing quarantined mail as `quarantine release` does, and people editing pages.

Always: no message is on the wiki twice, people's text stays, quarantined mail stays off the wiki,
nobody gets the same reply twice. After passes without faults settle: every distinct delivered
message (Message-ID and content) is on exactly one page exactly once, nothing is pending or
failed, and every published message got its link reply (or its sending went uncertain).
"""

from __future__ import annotations

import dataclasses
import html
import re
import shutil
import sqlite3
import tempfile
import threading
from collections import Counter
from contextlib import ExitStack, closing
from datetime import timedelta
from pathlib import Path
from typing import Literal, cast
from unittest import mock

import structlog
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from bridge.adapters.state.statuses import QuarantineStatus
from bridge.adapters.state.store import QuarantinedMail, SqliteStateStore, StateStore
from bridge.core.render.page import message_anchor
from bridge.core.render.titles import page_title
from bridge.core.variants import original_of
from bridge.errors import WikiUnavailableError
from bridge.service import cli_quarantine
from bridge.service.config import ReplyMode
from bridge.sync.mailbox_pass import MailboxSync
from bridge.sync.outbox import Outbox
from tests.fakes import Crash, FakeMailbox, FakeWiki, normalize_title
from tests.machine_fakes import (
    SMTP_SETTINGS,
    CrashingState,
    CrashingWiki,
    RecordingSender,
    StopAfter,
    mapping_settings,
)
from tests.unit.test_sync_properties import (
    ALL_STYLES,
    BASE_DATE,
    FOLDERS,
    MEMORY_DIR,
    PREFIX,
    SUBJECTS,
    Conversation,
    Mail,
    conversations,
)

NAME = "team"
REFUSED_PERSON = 2  # of the three people (p0, p1, p2@example.org) of the generated conversations
NOW = BASE_DATE + timedelta(days=5)  # generated mail is at most ~3.5 days younger: replies are due
MAX_SETTLING_PASSES = 8
_MARKERS = re.compile(r'data-message-id="([^"]*)"')
WikiFault = Literal["before", "after", "crash"]


def _delivered(mail: Mail, received: bool = True) -> bytes:
    """The mail as a mailbox holds it: with Return-Path, and the Received line its copy in Sent lacks."""
    trace = f"Return-Path: <p{mail.index % 3}@example.org>\r\n"
    if received:
        trace += "Received: from mx.example.org by imap.example.org; Fri, 1 Mar 2024 09:00:00 +0000\r\n"
    return trace.encode() + mail.raw


def _ids_on_wiki(wiki: FakeWiki) -> Counter[str]:
    """Every message marker on every page, by (unescaped) message id."""
    return Counter(html.unescape(mid) for page in wiki.pages.values() for mid in _MARKERS.findall(page.text))


class BridgeMachine(RuleBasedStateMachine):
    """One mapping over fakes and a real state store; the model is what was delivered and released."""

    def __init__(self) -> None:
        super().__init__()
        self._exits = ExitStack()
        self._exits.enter_context(structlog.testing.capture_logs())
        self.directory = Path(tempfile.mkdtemp(dir=MEMORY_DIR))
        self.state_path = self.directory / "state.sqlite3"
        self.state = SqliteStateStore(self.state_path)
        self.mailbox = FakeMailbox(FOLDERS)
        self.wiki = CrashingWiki()
        self.sender = RecordingSender()
        self.pool: Conversation = Conversation(())
        self.settings = mapping_settings(NAME, FOLDERS, PREFIX, "every", 50, REFUSED_PERSON)
        self.undelivered: list[Mail] = []
        self.delivered: list[Mail] = []  # each generated mail (or variant) once, in delivery order
        self.contents: dict[str, set[Mail]] = {}  # Message-ID → the distinct mails sent under it
        self.sizes: dict[str, set[int]] = {}  # Message-ID → sizes of the mails delivered under it
        self.id_of: dict[bytes, str] = {}  # delivered bytes → their Message-ID
        self.released: set[str] = set()
        self.human: dict[str, list[str]] = {}  # page → what people wrote there
        self.edits = 0

    @initialize(
        pool=conversations(ALL_STYLES, min_size=3, max_size=8),
        reply=st.sampled_from(("every", "first")),
        batch_size=st.sampled_from((1, 2, 50)),
    )
    def start(self, pool: Conversation, reply: ReplyMode, batch_size: int) -> None:
        """Draw the conversation whose mail will arrive, and the mapping's reply mode and batch size."""
        self.pool = pool
        self.undelivered = list(pool.mails)
        self.settings = mapping_settings(NAME, FOLDERS, PREFIX, reply, batch_size, REFUSED_PERSON)

    # -- the bridge ------------------------------------------------------------------------------

    def _pass(self, state: StateStore, stop: threading.Event | None = None) -> bool:
        """Run one pass as the daemon does; return False when a fault or a crash ended it early."""
        outbox = Outbox(
            self.settings.name,
            self.settings.replies,
            self.settings.space.language,
            SMTP_SETTINGS,
            state,
            frozenset({"wiki@example.org", "team@example.org"}),
            lambda title: f"https://wiki.example.org/{title}",
            now=lambda: NOW,
        )
        sync = MailboxSync(
            self.settings,
            self.wiki,
            state,
            stop=stop,
            open_mailbox=lambda _: self.mailbox,
            outbox=outbox,
            sender=self.sender,
        )
        try:
            sync.run()
        except (WikiUnavailableError, Crash):
            return False
        return True

    def _restart(self) -> None:
        """After a crash the process starts again and opens its state store anew."""
        self.state.close()
        self.state = SqliteStateStore(self.state_path)

    def _refused(self, message_id: str) -> bool:
        return any(m.message_id == message_id and m.index % 3 == REFUSED_PERSON for m in self.pool.mails)

    # -- rules: mail arrives ---------------------------------------------------------------------

    def _deliver(self, mail: Mail, folder: str, received: bool = True) -> None:
        raw = _delivered(mail, received)
        self.mailbox.deliver(folder, raw)
        self.contents.setdefault(mail.message_id, set()).add(mail)
        self.sizes.setdefault(mail.message_id, set()).add(len(raw))
        self.id_of[raw] = mail.message_id

    @precondition(lambda self: bool(self.undelivered))
    @rule(data=st.data(), folder=st.sampled_from(FOLDERS))
    def deliver_new(self, data: st.DataObject, folder: str) -> None:
        """A new mail of the conversation arrives (a reply may come before its parent)."""
        self.arrive(data.draw(st.sampled_from(self.undelivered), label="new mail"), folder)

    def arrive(self, mail: Mail, folder: str) -> None:
        """Deliver a mail of the conversation for the first time."""
        self.undelivered.remove(mail)
        self.delivered.append(mail)
        self._deliver(mail, folder)

    @precondition(lambda self: bool(self.delivered))
    @rule(data=st.data(), folder=st.sampled_from(FOLDERS), received=st.booleans())
    def deliver_copy(self, data: st.DataObject, folder: str, received: bool) -> None:
        """The same mail again: a second delivery, or a copy of other size (as in Sent: no Received)."""
        self._deliver(data.draw(st.sampled_from(self.delivered), label="copy of"), folder, received)

    @precondition(lambda self: any(m.index % 3 != REFUSED_PERSON for m in self.delivered))
    @rule(data=st.data(), folder=st.sampled_from(FOLDERS), marks=st.integers(1, 3))
    def deliver_other_content(self, data: st.DataObject, folder: str, marks: int) -> None:
        """A mail that reuses a delivered mail's Message-ID for other content (of an allowed sender:
        see the known gap in tests/unit/test_machine_examples.py).

        Sizes are kept apart: by design a known id of the recorded size is taken for a copy
        without fetching its body (docs/ARCHITECTURE.md, "Identity is Message-ID plus content").
        """
        allowed = [m for m in self.delivered if m.index % 3 != REFUSED_PERSON]
        mail = data.draw(st.sampled_from(allowed), label="other content for")
        sizes = self.sizes[mail.message_id]
        variant = dataclasses.replace(mail, body="Korrektur" + "!" * marks)
        while variant not in self.contents[mail.message_id] and (
            {len(_delivered(variant, r)) for r in (True, False)} & sizes
        ):
            variant = dataclasses.replace(variant, body=variant.body + "!")
        self.arrive_changed(variant, folder)

    def arrive_changed(self, variant: Mail, folder: str) -> None:
        """Deliver `variant`: a delivered mail's Message-ID with other content."""
        self.delivered.append(variant)
        self._deliver(variant, folder)

    @rule(data=st.data(), folder=st.sampled_from(FOLDERS), first_uid=st.integers(1, 20))
    def renumber(self, data: st.DataObject, folder: str, first_uid: int) -> None:
        """The server rebuilds a folder's index: a new UIDVALIDITY, the same mail under new UIDs."""
        box = self.mailbox.folders[folder]
        mails = data.draw(st.permutations(list(box.mails.values())), label=f"{folder} order")
        self.mailbox.renumber(folder, box.uidvalidity + 1, mails, first_uid)

    # -- rules: passes, whole or cut short -------------------------------------------------------

    @rule()
    def run_pass(self) -> None:
        """A pass without faults."""
        assert self._pass(self.state)

    @rule(write=st.integers(1, 4), fault=st.sampled_from(("before", "after", "crash")))
    def pass_with_wiki_fault(self, write: int, fault: WikiFault) -> None:
        """A pass whose `write`-th wiki write fails before the wiki, loses its answer, or kills us."""
        number = self.wiki.writes + write
        if fault == "crash":
            self.wiki.crash_at = number
        else:
            self.wiki.faults[number] = fault
        completed = self._pass(self.state)
        self.wiki.faults.clear()
        self.wiki.crash_at = None
        if not completed and fault == "crash":
            self._restart()

    @rule(calls=st.integers(1, 150))
    def pass_with_state_crash(self, calls: int) -> None:
        """The process dies right after its `calls`-th call to the state store (any call, any pass stage)."""
        # The proxy forwards every call, so it is the store the pass needs (the protocol cannot tell).
        if not self._pass(cast(StateStore, CrashingState(self.state, calls))):
            self._restart()

    @rule(checks=st.integers(0, 12))
    def pass_stopped(self, checks: int) -> None:
        """SIGTERM during a pass: the stop event is set after the pass looked at it `checks` times."""
        assert self._pass(self.state, StopAfter(checks))

    # -- rules: people -----------------------------------------------------------------------------

    @precondition(lambda self: bool(self.state.quarantined(NAME, status=QuarantineStatus.QUARANTINED)))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        """An admin releases a quarantined mail (`quarantine release`: the command's own code path)."""
        entries = self.state.quarantined(NAME, status=QuarantineStatus.QUARANTINED)
        self.release_entry(data.draw(st.sampled_from(entries), label="released"))

    def release_entry(self, entry: QuarantinedMail) -> None:
        """Release `entry` with `cli_quarantine.release_quarantined`, its IMAP session on the fake account."""
        with mock.patch.object(cli_quarantine, "ImapMailbox", lambda _name, _account: self.mailbox):
            cli_quarantine.release_quarantined(self.settings, self.state, entry)
        self.released.add(entry.message_id)

    @rule(data=st.data())
    def person_edits(self, data: st.DataObject) -> None:
        """A person appends to a page, or starts one under a title the bridge may want next."""
        candidates = [page_title(PREFIX, subject, n) for subject in SUBJECTS for n in (1, 2)]
        title = data.draw(st.sampled_from(sorted({*self.wiki.pages, *candidates})), label="page")
        self.edits += 1
        text = f"\nAnmerkung {self.edits} von Jürgen: bitte den Liefertermin prüfen.\n"
        title = normalize_title(title)
        page = self.wiki.pages.get(title)
        self.wiki.put_page(title, (page.text if page else "") + text)
        self.human.setdefault(title, []).append(text)

    # -- what must always hold ---------------------------------------------------------------------

    @invariant()
    def no_message_twice(self) -> None:
        """No message marker is on the wiki twice, not even between a crash and its recovery."""
        assert {mid: n for mid, n in _ids_on_wiki(self.wiki).items() if n > 1} == {}

    @invariant()
    def people_text_kept(self) -> None:
        """What people wrote is still on their page."""
        for title, texts in self.human.items():
            for text in texts:
                assert text in self.wiki.pages[title].text, (title, text)

    @invariant()
    def quarantined_mail_stays_off(self) -> None:
        """Mail of a refused sender is on no page until it is released."""
        on_wiki = {original_of(mid) or mid for mid in _ids_on_wiki(self.wiki)}
        held = {mid for mid in self.contents if self._refused(mid) and mid not in self.released}
        assert on_wiki & held == set()

    @invariant()
    def no_reply_twice(self) -> None:
        """Nobody gets the reply about the same message twice."""
        assert {key: n for key, n in Counter(self.sender.sent).items() if n > 1} == {}

    # -- settling ------------------------------------------------------------------------------------

    @rule()
    def settle_and_check(self) -> None:
        """Passes without faults settle, and then every delivered message is published exactly once."""
        for _ in range(MAX_SETTLING_PASSES):
            writes, sent = self.wiki.writes, len(self.sender.sent)
            assert self._pass(self.state)
            if (self.wiki.writes, len(self.sender.sent)) == (writes, sent):
                break
        else:
            raise AssertionError(f"still writing after {MAX_SETTLING_PASSES} passes")
        assert self.state.pending_messages(NAME) == []
        assert self.state.failures(NAME) == []
        assert self.state.open_replies(NAME) == []
        self._check_published()
        self._check_replies()
        self._check_quarantine_flags()

    def _check_published(self) -> None:
        """Per Message-ID: the plain id once, and one variant for each further content, each once."""
        on_wiki = _ids_on_wiki(self.wiki)
        for mid, mails in self.contents.items():
            local, _, domain = mid.partition("@")
            variants = {m for m in on_wiki if m.startswith(f"{local}.variant-") and m.endswith(f"@{domain}")}
            if self._refused(mid) and mid not in self.released:
                assert (on_wiki[mid], variants) == (0, set()), mid
            else:
                assert (on_wiki[mid], len(variants)) == (1, len(mails) - 1), (mid, on_wiki)

    def _check_quarantine_flags(self) -> None:
        """Held mail carries the quarantine keyword, under whatever UID it has now (at least one copy:
        a copy read in the same batch is skipped as a duplicate and left unflagged)."""
        flagged = {
            self.id_of[raw]
            for folder, box in self.mailbox.folders.items()
            for uid, raw in box.mails.items()
            if self.settings.senders.quarantine_flag in self.mailbox.flags.get((folder, uid), set())
        }
        held = {mid for mid in self.contents if self._refused(mid) and mid not in self.released}
        assert held <= flagged, held - flagged

    def _check_replies(self) -> None:
        """Each published message has its link reply: sent once, uncertain, or (reply = first) suppressed."""
        with closing(sqlite3.connect(self.state_path)) as db:
            rows = db.execute("SELECT message_id, status FROM replies WHERE kind = 'link'").fetchall()
        statuses = {str(mid): str(status) for mid, status in rows}
        assert set(statuses) == set(_ids_on_wiki(self.wiki))
        allowed = {"sent", "uncertain"} | (
            {"suppressed"} if self.settings.replies.reply == "first" else set()
        )
        sent = Counter(anchor for anchor, _ in self.sender.sent)
        for mid, status in statuses.items():
            assert status in allowed, (mid, status)
            assert sent[message_anchor(mid)] == (1 if status == "sent" else 0), (mid, status)

    def teardown(self) -> None:
        """Settle and check once more at the end, then drop the state store and the logs."""
        try:
            if self.pool.mails:
                self.settle_and_check()
        finally:
            self.state.close()
            shutil.rmtree(self.directory, ignore_errors=True)
            self._exits.close()


BridgeMachine.TestCase.settings = settings(
    # More than the usual 60-100: a run takes ~40 ms, and the sequences that matter are long (the
    # release bug in test_machine_examples.py needs quarantine, renumbering, a pass, a release).
    max_examples=200,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    # The explain phase re-runs a failing case many times only to annotate it; the shrunk steps say it.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
TestBridgeMachine = BridgeMachine.TestCase
