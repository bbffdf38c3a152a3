"""`state migrate --to postgresql://…`: a SQLite state copied whole into an empty PostgreSQL database."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bridge.adapters.state.schema import TABLES
from bridge.adapters.state.statuses import QuarantineStatus, ReplyKind, ReplyStatus
from bridge.adapters.state.store import (
    IntendedMessage,
    PageHistory,
    PostgresStateStore,
    QuarantinedMail,
    ReplyDraft,
    SqliteStateStore,
    ThreadPart,
)
from bridge.adapters.state.transfer import copy_state
from bridge.core.model import FolderPosition
from bridge.core.people import Person
from bridge.core.retry import RetryPolicy
from bridge.errors import StateError
from bridge.service.config import StateSettings
from tests.contract.state_backends import published
from tests.integration.support import Space, WikiReader, delivered, folder_mail, smtp_section, unique
from tests.servers import SmtpSink

TEAM_ADDRESS = "team-sales@example.de"


def sqlite_rows(path: Path, table: str) -> list[tuple[object, ...]]:
    """Every row of a SQLite table, sorted, with the implicit rowid of the tables read in order."""
    with closing(sqlite3.connect(path)) as db:
        columns = [str(row[1]) for row in db.execute(f"PRAGMA table_info({table})")]
        return sorted(db.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall(), key=repr)  # noqa: S608


def postgres_rows(url: str, table: str, columns: list[str]) -> list[tuple[object, ...]]:
    """The same columns of the PostgreSQL table, sorted the same way."""
    with psycopg.connect(url) as db:
        return sorted(db.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall(), key=repr)  # noqa: S608


def columns_of(path: Path, table: str) -> list[str]:
    with closing(sqlite3.connect(path)) as db:
        return [str(row[1]) for row in db.execute(f"PRAGMA table_info({table})")]


def a_full_state(path: Path) -> SqliteStateStore:
    """A SQLite state with a row in every table: a merged thread, a continuation part (pointing to a
    later thread id), subjects, links, a mail action, replies and drafts, quarantine, failures."""
    store = SqliteStateStore(path)
    older = store.new_thread("sales", "Sales/Mail/Offer")
    first = IntendedMessage("a@x", ("root@x",), "INBOX", 1, "hash-a", 1200, sender="anna@example.de")
    store.record_intent("sales", older, [first, IntendedMessage("b@x", ("a@x",), "INBOX", 2)])
    store.confirm("sales", older, "Sales/Mail/Offer", ["a@x", "b@x"], revision=1, mail_action=True)
    newer = published(store, "sales", "Sales/Mail/Offer (2)", "c@x")
    store.mark_merged(newer, older)
    part = store.new_part("sales", "Sales/Mail/Offer (part 2)", ThreadPart(older, older, 1))
    store.record_intent("sales", part, [])
    store.confirm("sales", part, "Sales/Mail/Offer (part 2)", [], revision=7)
    store.make_current_part(part)
    store.record_subject("sales", "offer", older, datetime(2026, 11, 20, tzinfo=UTC))
    store.save_folder_position("sales", "INBOX", FolderPosition(uidvalidity=4_000_000_000, last_uid=3))
    store.record_reply_drafts("sales", [ReplyDraft("c@x", "anna@example.de", '{"seed": 1}', None)])
    store.record_reply("sales", "a@x", "anna@example.de", ReplyKind.LINK, older, None, b"\x00raw bytes\xff")
    store.record_reply("sales", "b@x", "bernd@example.de", ReplyKind.LINK, older, "loop", None)
    store.set_reply_status("sales", "a@x", "anna@example.de", ReplyKind.LINK, ReplyStatus.SENT)
    held = QuarantinedMail(
        "sales",
        "q@x",
        "INBOX",
        4_000_000_000,
        9,
        "promo@spam",
        "Win",
        "not_allowed",
        QuarantineStatus.QUARANTINED,
        "",
    )
    store.quarantine_mail(held)
    store.record_failure("sales", "INBOX", 4_000_000_000, 5, "f@x", "unreadable", RetryPolicy())
    store.record_pass("sales", None, backlog=0)
    store.record_wiki_check("sales", "Sales/Mail")
    store.record_audit("admin", "forget", "1 person")
    store.save_page_histories({"Sales/Mail/Offer": PageHistory(7, ("2026-11-30T09:00:00Z",))})
    store.record_report_run("Sales/Mail/Report")
    store.record_accounts({"A.schmidt": True, "Nobody": False})
    store.add_thread_people(
        older, [Person("Anna", "anna@example.de", True), Person("", "k@kunde.example", False)]
    )
    return store


def test_every_row_of_every_table_arrives_unchanged(tmp_path: Path, postgres_state: StateSettings) -> None:
    """Each table's rows (thread ids, links to later threads, 32-bit UIDVALIDITY, reply bytes, the
    order replies were written in) are the same in PostgreSQL; new ids continue after the copied."""
    assert postgres_state.url is not None
    path = tmp_path / "state.sqlite3"
    source = a_full_state(path)
    target = PostgresStateStore(postgres_state)
    try:
        with closing(sqlite3.connect(path)) as db:
            # A table added to the schema must be added to TABLES too, or it would not be migrated.
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables - {"sqlite_sequence"} == set(TABLES)
        copies = copy_state(source, target)
        assert [c.table for c in copies] == list(TABLES)
        assert all(c.source == c.target > 0 for c in copies), copies
        for table in TABLES:
            columns = columns_of(path, table)
            assert postgres_rows(postgres_state.url, table, columns) == sqlite_rows(path, table), table
        assert target.merge_target(1) == source.merge_target(1) == 3
        assert target.new_thread("sales", "Sales/Mail/Later") == 4
        assert target.messages_from(["anna@example.de"]) == {"a@x"}  # the same pseudonym key
    finally:
        source.close()
        target.close()


def test_a_database_holding_state_is_refused(tmp_path: Path, postgres_state: StateSettings) -> None:
    """A target with any state row is left as it is: merging two states could publish mail twice."""
    source = SqliteStateStore(tmp_path / "state.sqlite3")
    published(source, "sales", "Sales/Mail/Offer", "a@x")
    target = PostgresStateStore(postgres_state)
    try:
        target.record_pass("support", None)
        try:
            copy_state(source, target)
        except StateError as exc:
            assert "already holds a state (1 in passes rows)" in str(exc)
        else:
            raise AssertionError("a database holding state was not refused")
        assert target.known_message_ids("sales", ["a@x"]) == set()
    finally:
        source.close()
        target.close()


def test_migrated_state_publishes_nothing_twice_and_replies_once(
    space: Space, reader: WikiReader, smtp_sink: SmtpSink, postgres_state: StateSettings
) -> None:
    """A SQLite state made by real passes (published thread, link replies, a refusal, quarantine) is
    migrated by the command line; passes on PostgreSQL then publish and reply only for new mail,
    and a second migrate into the now used database is refused."""
    assert postgres_state.url is not None
    root = f"{unique('mig-root')}@example.de"
    answer = f"{unique('mig-answer')}@example.de"
    stranger = f"{unique('mig-stranger')}@example.de"
    later = f"{unique('mig-later')}@example.de"
    settings: dict[str, Any] = {
        "address": TEAM_ADDRESS,
        "reply": "every",
        "reply_unpublished": True,
        "external_reply": "acknowledge",  # the stranger outside example.de is acknowledged, not refused
        "allowed_senders": ["*@example.de"],
        "after_publish": "flag",
    }
    space.write_config(smtp=smtp_section(smtp_sink), **settings)
    space.append(delivered(root, "Messestand", "Jürgen Müller <juergen@example.de>"))
    space.append(delivered(stranger, "Gewinnspiel", "Promo <promo@lottery.example>"))
    space.append(delivered(answer, "AW: Messestand", "Anna Schmidt <anna@example.de>", in_reply_to=root))
    on_sqlite = space.cli("once")
    assert "2 published" in on_sqlite.stdout and "1 quarantined" in on_sqlite.stdout, on_sqlite.stdout
    assert len(smtp_sink.messages) == 3
    [page] = reader.titles(space.prefix)

    migrated = space.cli("state", "migrate", "--to", postgres_state.url)

    assert migrated.returncode == 0, migrated.stderr
    assert "  messages                  2          2" in migrated.stdout, migrated.stdout
    assert "  quarantine                1          1" in migrated.stdout
    assert "  replies                   3          3" in migrated.stdout
    space.state_url = postgres_state.url
    space.write_config(smtp=smtp_section(smtp_sink), **settings)
    space.append(delivered(later, "AW: Messestand", "Bernd Kraus <bernd@example.de>", in_reply_to=answer))
    on_postgres = space.cli("once")
    again = space.cli("once")

    assert "1 published" in on_postgres.stdout, on_postgres.stdout + on_postgres.stderr
    assert "0 published" in again.stdout, again.stdout
    assert sorted(reader.parse(page).message_ids) == sorted([root, answer, later])
    assert reader.titles(space.prefix) == [page]
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == [
        "anna@example.de",
        "bernd@example.de",
        "juergen@example.de",
        "promo@lottery.example",
    ]
    assert (folder_mail(space.dovecot, space.user, space.folders[0]) or {})[later] == frozenset({"$Wiki"})
    refused = space.cli("state", "migrate", "--to", postgres_state.url)
    assert refused.returncode == 1
    assert "already holds a state" in refused.stderr and "Traceback" not in refused.stderr
