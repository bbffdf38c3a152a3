"""The bridge on a PostgreSQL state: real Dovecot, MediaWiki, SMTP sink and a throwaway PostgreSQL cluster."""

from __future__ import annotations

import random
import string
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from bridge.adapters.state.store import SCHEMA_VERSION, IntendedMessage, PostgresStateStore
from bridge.errors import StateError
from bridge.service.config import StateSettings
from tests.integration.support import Space, WikiReader, delivered, folder_mail, smtp_section, unique
from tests.servers import PostgresServer, SmtpSink, free_port, start_postgres

TEAM_ADDRESS = "team-sales@example.de"


def row_counts(url: str) -> dict[str, int]:
    """Rows of the tables a pass writes, read straight from the database."""
    tables = ("threads", "messages", "replies", "quarantine", "folders", "passes")
    counts: dict[str, int] = {}
    with psycopg.connect(url) as db:
        for table in tables:
            row = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # noqa: S608 - constant names
            assert row is not None
            counts[table] = int(row[0])
    return counts


def test_passes_on_postgresql_publish_reply_and_quarantine_once(
    space: Space, reader: WikiReader, smtp_sink: SmtpSink, postgres_state: StateSettings
) -> None:
    """With `[state] url` the command line keeps its state in PostgreSQL (and takes no lock file):
    a thread, its answer in a later pass and a stranger's mail are published, replied to and held
    once; a dry run in between changes nothing, and a last pass finds nothing to do."""
    assert postgres_state.url is not None
    space.state_url = postgres_state.url
    root = f"{unique('pg-root')}@example.de"
    answer = f"{unique('pg-answer')}@example.de"
    stranger = f"{unique('pg-stranger')}@example.de"
    space.write_config(
        smtp=smtp_section(smtp_sink),
        address=TEAM_ADDRESS,
        reply="every",
        reply_unpublished=True,
        allowed_senders=["*@example.de"],
        after_publish="flag",
        external_reply="acknowledge",  # the stranger is outside the company: acknowledged, never linked
    )
    space.append(delivered(root, "Messestand", "Jürgen Müller <juergen@example.de>"))
    first = space.cli("once")
    assert first.returncode == 0 and "1 published" in first.stdout, first.stderr
    [page] = reader.titles(space.prefix)
    space.append(delivered(answer, "AW: Messestand", "Anna Schmidt <anna@example.de>", in_reply_to=root))
    space.append(delivered(stranger, "Gewinnspiel", "Promo <promo@lottery.example>"))
    before = row_counts(space.state_url)

    dry = space.cli("once", "--dry-run")

    assert dry.returncode == 0, dry.stderr
    assert row_counts(space.state_url) == before
    second = space.cli("once")
    assert second.returncode == 0, second.stderr
    assert "1 published" in second.stdout and "1 quarantined" in second.stdout, second.stdout
    third = space.cli("once")
    assert third.returncode == 0 and "0 published" in third.stdout, third.stdout

    assert reader.parse(page).message_ids == [root, answer]
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == [
        "anna@example.de",
        "juergen@example.de",
        "promo@lottery.example",
    ]
    after = folder_mail(space.dovecot, space.user, space.folders[0]) or {}
    assert after[root] == after[answer] == frozenset({"$Wiki"})
    assert after[stranger] == frozenset({"$WikiQuarantine"})
    counts = row_counts(space.state_url)
    assert (counts["threads"], counts["messages"], counts["replies"], counts["quarantine"]) == (1, 2, 3, 1)
    assert not space.state_path.exists() and not space.state_path.with_name("state.sqlite3.lock").exists()


def test_unreachable_state_database_is_named_by_its_key(space: Space, postgres_state: StateSettings) -> None:
    """A PostgreSQL that does not answer stops the command with a sentence naming `[state] url`;
    `check` says so too, and shows a reachable one with its schema version."""
    space.state_url = postgres_state.url
    space.write_config()
    reachable = space.cli("check")
    space.state_url = f"postgresql://bridge@127.0.0.1:{free_port()}/bridge"
    space.write_config()

    completed = space.cli("once")
    checked = space.cli("check")

    assert (
        f"ok    state: PostgreSQL {postgres_state.url}, schema version {SCHEMA_VERSION}" in reachable.stdout
    )
    sentence = f"the PostgreSQL state store {space.state_url} ([state] url) cannot be used"
    assert completed.returncode == 1 and sentence in completed.stderr
    assert "Traceback" not in completed.stderr
    assert checked.returncode == 1 and f"FAIL  state: {sentence}" in checked.stdout


def test_instances_starting_together_create_the_schema_once(postgres: PostgresServer) -> None:
    """Several instances starting at once on an empty database: one creates the schema (under an
    advisory lock), the others find it; none fails."""
    name = f"empty_{uuid.uuid4().hex[:12]}"
    url = postgres.create_database(name)
    with ThreadPoolExecutor(max_workers=4) as pool:
        stores = list(pool.map(lambda _: PostgresStateStore(StateSettings(url=url)), range(4)))
    try:
        threads = [store.new_thread("sales", f"Sales/Mail/T{n}") for n, store in enumerate(stores)]
        assert sorted(threads) == [1, 2, 3, 4]
        assert postgres.sql("SELECT value FROM meta WHERE key = 'schema_version'", name) == [
            (str(SCHEMA_VERSION),)
        ]
    finally:
        for store in stores:
            store.close()
        postgres.drop_database(name)


def test_a_restarted_database_is_used_again_without_restarting_the_bridge() -> None:
    """While PostgreSQL is down a call fails with a `StateError` naming the URL (the pass stops,
    nothing is lost); once it is back, the pooled connections the restart cut are replaced."""
    server = start_postgres()
    try:
        store = PostgresStateStore(StateSettings(url=server.url()))
        try:
            thread = store.new_thread("sales", "Sales/Mail/Before")
            server.stop()
            with pytest.raises(StateError, match=r"\(\[state\] url\) cannot be used|no connection"):
                store.thread_page(thread)
            server.start()
            store.record_intent("sales", thread, [IntendedMessage("a@x", (), "INBOX", 1)])
            assert store.known_message_ids("sales", ["a@x"]) == {"a@x"}
        finally:
            store.close()
    finally:
        server.cleanup()


def test_a_dry_run_on_a_database_without_tables_says_what_to_run(
    space: Space, postgres: PostgresServer
) -> None:
    """A dry run opens the database read-only, so it cannot create the tables: it says how to."""
    name = f"empty_{uuid.uuid4().hex[:12]}"
    space.state_url = postgres.create_database(name)
    space.write_config()
    space.append(delivered(f"{unique('pg-dry')}@example.de", "Messestand", "Anna <anna@example.de>"))
    try:
        completed = space.cli("once", "--dry-run")
        assert completed.returncode == 1
        assert "holds no state tables yet; run `email-wiki-bridge check`" in completed.stderr
        assert space.cli("check").stdout.count("ok    state: PostgreSQL") == 1
        planned = space.cli("once", "--dry-run")
        assert planned.returncode == 0 and "Messestand" in planned.stdout, planned.stdout + planned.stderr
    finally:
        postgres.drop_database(name)


def test_a_mail_of_endless_ids_subject_and_address_is_published_on_postgresql(
    space: Space, reader: WikiReader, smtp_sink: SmtpSink, postgres_state: StateSettings
) -> None:
    """Ids, subjects and addresses of thousands of characters (past any index) are capped in the
    core: the hostile mail and the mail after it are published, and a reply goes where it may."""
    assert postgres_state.url is not None
    space.state_url = postgres_state.url
    space.write_config(smtp=smtp_section(smtp_sink), address=TEAM_ADDRESS, reply="every")
    noise = "".join(random.Random(11).choices(string.ascii_letters, k=9000))  # noqa: S311 - test data
    hostile = (
        f"Return-Path: <x@example.de>\r\nFrom: Endless <{noise}@example.de>\r\nTo: {TEAM_ADDRESS}\r\n"
        f"Subject: {noise[:6000]}\r\nMessage-ID: <{noise}@example.de>\r\nReferences: <{noise[::-1]}@x.de>\r\n"
        "Date: Mon, 30 Nov 2026 09:00:00 +0000\r\n\r\nHallo.\r\n"
    ).encode()
    space.append(hostile)
    normal = f"{unique('pg-after')}@example.de"
    space.append(delivered(normal, "Danach", "Anna Schmidt <anna@example.de>"))
    done = space.cli("once")
    assert done.returncode == 0 and "2 published" in done.stdout, done.stdout + done.stderr
    assert len(reader.titles(space.prefix)) == 2
    again = space.cli("once")
    assert again.returncode == 0 and "0 published" in again.stdout, again.stdout + again.stderr


def test_a_value_too_long_for_an_index_is_named(postgres_state: StateSettings) -> None:
    """PostgreSQL indexes hold at most a few kB per key (SQLite has no such bound): a Message-ID of
    thousands of random characters stops the write with a sentence saying what to do."""
    store = PostgresStateStore(postgres_state)
    try:
        thread = store.new_thread("sales", "Sales/Mail/Long")
        # Random letters, so PostgreSQL cannot compress the key below its bound.
        letters = random.Random(7).choices(string.ascii_letters, k=9000)  # noqa: S311 - test data
        endless = "".join(letters) + "@example.de"
        with pytest.raises(StateError, match=r"cannot index a value this long .* move that mail out"):
            store.record_intent("sales", thread, [IntendedMessage(endless, (), "INBOX", 1)])
        assert store.known_message_ids("sales", [endless]) == set()
    finally:
        store.close()
