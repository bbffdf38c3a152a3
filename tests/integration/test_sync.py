"""The first working bridge end to end: real Dovecot, real MediaWiki, real command line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.adapters.wiki import EditResult, WikiClient
from bridge.core.msgid import normalize_id
from bridge.core.render.titles import page_title
from bridge.errors import WikiUnavailableError
from bridge.sync.wikisetup import install_templates
from tests.integration.support import Space, WikiReader, make_mail, new_space, plain_text
from tests.lost_answers import LostAnswerWiki
from tests.servers import DovecotServer, MediaWikiServer, wiki_login

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample-mailbox"


@pytest.fixture
def space(dovecot: DovecotServer, mediawiki: MediaWikiServer, tmp_path: Path) -> Space:
    """A fresh mapping with two categories (the layout tests check both)."""
    return new_space(dovecot, mediawiki, tmp_path, categories=["Sales mail", "Mail archive"])


def test_sample_mailbox_becomes_one_page_per_thread(space: Space, reader: WikiReader) -> None:
    """Every expected thread of the bundled sample mailbox is one page holding exactly its messages."""
    for path in sorted(SAMPLE.glob("*.eml")):
        space.append(path.read_bytes())
    space.write_config()
    completed = space.cli("once")
    assert completed.returncode == 0, completed.stderr

    expected = json.loads((SAMPLE / "threads.json").read_text())
    titles = reader.titles(space.prefix)
    assert len(titles) == len(expected)
    on_wiki = {}
    for title in titles:
        page = reader.parse(title)
        assert sorted(page.categories) == ["Mail_archive", "Sales_mail"]
        assert len(page.sections) == len(page.message_ids)
        # Markers show ids as the mails wrote them; the expectations are canonical (lower-case domain).
        on_wiki[title] = {normalize_id(found) or found for found in page.message_ids}
    # Ids of mails without Message-ID are synthesized; match those threads by their other members.
    groups = sorted(sorted(ids) for ids in on_wiki.values())
    for thread in expected:
        real_ids = {normalize_id(i) for i in thread if "@" in i}
        matching = [ids for ids in on_wiki.values() if real_ids <= ids]
        assert len(matching) == 1, (thread, groups)
        assert len(matching[0]) == len(thread)


def test_page_layout_sections_marker_and_categories(space: Space, reader: WikiReader) -> None:
    """A thread page has a section per message (sender, ISO date, subject, body) and its categories."""
    space.append(make_mail("root-1@example.de", "Angebot für Köln", "Grüße aus Köln!\n-- \nJürgen"))
    space.append(
        make_mail(
            "reply-1@Example.DE",
            "AW: Angebot für Köln",
            "Danke, passt.",
            sender="Anna Schmidt <anna@example.de>",
            in_reply_to="root-1@example.de",
            date=datetime(2026, 11, 20, 10, 30, tzinfo=UTC),
        )
    )
    result = space.run_pass()
    assert result.published == 2 and len(result.pages_created) == 1
    title = page_title(space.prefix, "Angebot für Köln")
    assert reader.titles(space.prefix) == [title]
    page = reader.parse(title)
    assert page.message_ids == ["root-1@example.de", "reply-1@Example.DE"]  # as the mail wrote it
    assert page.sections == ["Angebot für Köln", "AW: Angebot für Köln"]
    text = plain_text(page.html)
    assert "Jürgen Müller" in text and "Anna Schmidt" in text
    assert "2026-11-20T09:00:00+00:00" in text
    assert "Grüße aus Köln!" in text and "Danke, passt." in text
    assert sorted(page.categories) == ["Mail_archive", "Sales_mail"]
    assert reader.revisions(title)[0]["comment"].startswith("New thread from sales mailbox (2 messages)")


def test_reply_in_later_pass_lands_on_same_page(space: Space, reader: WikiReader) -> None:
    """A reply arriving after its thread was published is appended to that page by a later pass."""
    space.append(make_mail("late-root@example.de", "Lieferung März"))
    space.run_pass()
    [title] = reader.titles(space.prefix)
    space.append(
        make_mail(
            "late-reply@example.de",
            "Re: Lieferung März",
            "Kommt Montag.",
            references=["late-root@example.de"],
        )
    )
    result = space.run_pass()
    assert result.published == 1 and result.pages_extended == [title] and not result.pages_created
    assert reader.titles(space.prefix) == [title]
    assert reader.parse(title).message_ids == ["late-root@example.de", "late-reply@example.de"]
    assert reader.revisions(title)[0]["comment"].startswith("Add 1 message from sales mailbox")


def test_second_pass_without_new_mail_makes_no_edit_and_fetches_nothing(
    space: Space, reader: WikiReader, mediawiki: MediaWikiServer
) -> None:
    """A pass with nothing new neither edits the wiki nor fetches a message."""
    space.append(make_mail("idle-1@example.de", "Quiet thread"))
    first = space.run_pass()
    assert first.published == 1
    [title] = reader.titles(space.prefix)
    edits_before = reader.bot_edit_count("Bridgebot")
    revisions_before = len(reader.revisions(title))
    second = space.run_pass()
    assert (second.fetched, second.published, second.duplicates) == (0, 0, 0)
    assert reader.bot_edit_count("Bridgebot") == edits_before
    assert len(reader.revisions(title)) == revisions_before


def test_person_edit_survives_appended_mail(
    space: Space, reader: WikiReader, mediawiki: MediaWikiServer
) -> None:
    """Text a person added to a thread page stays when the bridge appends a later message."""
    space.append(make_mail("edit-root@example.de", "Budget 2027"))
    space.run_pass()
    [title] = reader.titles(space.prefix)
    human = wiki_login(mediawiki, mediawiki.human_user, mediawiki.human_password)
    token = human.get(
        mediawiki.api_url, params={"action": "query", "meta": "tokens", "format": "json"}
    ).json()
    original = reader.text(title)
    note = "Alice's summary: we agreed on 40k."
    edited = original.replace("''This conversation", f"{note}\n\n''This conversation", 1)
    answer = human.post(
        mediawiki.api_url,
        data={
            "action": "edit",
            "title": title,
            "text": edited,
            "token": token["query"]["tokens"]["csrftoken"],
            "format": "json",
        },
    ).json()
    assert answer["edit"]["result"] == "Success"
    space.append(
        make_mail(
            "edit-reply@example.de", "AW: Budget 2027", "Einverstanden.", in_reply_to="edit-root@example.de"
        )
    )
    space.run_pass()
    final = reader.text(title)
    assert note in final
    assert reader.parse(title).message_ids == ["edit-root@example.de", "edit-reply@example.de"]


def test_same_subject_threads_get_distinct_titles(space: Space, reader: WikiReader) -> None:
    """Two unrelated threads with the same subject get two pages, the second disambiguated."""
    space.append(make_mail("meet-a@example.de", "Meeting"))
    space.append(make_mail("meet-b@example.de", "Meeting", "Other meeting."))
    space.run_pass()
    assert reader.titles(space.prefix) == [f"{space.prefix}/Meeting", f"{space.prefix}/Meeting (2)"]


def test_existing_page_of_a_person_is_never_overwritten(
    space: Space, reader: WikiReader, mediawiki: MediaWikiServer
) -> None:
    """When a page of the thread's title already exists, the bridge creates the next free title."""
    human = wiki_login(mediawiki, mediawiki.human_user, mediawiki.human_password)
    token = human.get(
        mediawiki.api_url, params={"action": "query", "meta": "tokens", "format": "json"}
    ).json()
    taken = f"{space.prefix}/Roadmap"
    human.post(
        mediawiki.api_url,
        data={
            "action": "edit",
            "title": taken,
            "text": "Alice's own roadmap page.",
            "token": token["query"]["tokens"]["csrftoken"],
            "format": "json",
        },
    )
    space.append(make_mail("roadmap@example.de", "Roadmap"))
    space.run_pass()
    assert reader.text(taken) == "Alice's own roadmap page."
    assert reader.parse(f"{taken} (2)").message_ids == ["roadmap@example.de"]


def test_edit_with_lost_answer_is_not_published_twice(space: Space, reader: WikiReader) -> None:
    """An edit whose answer was lost is recognised on the page by the next pass, not written again."""
    space.append(make_mail("lost-root@example.de", "Vertrag"))
    settings = space.settings()
    # The templates exist before the faulty client arrives, so the answer it loses is the page's
    # (the tests before this one in the module installed them; alone, it must do so itself).
    with closing(WikiClient(settings.wiki)) as installer:
        install_templates(installer, only_missing=True)
    with pytest.raises(WikiUnavailableError):
        space.run_pass(wiki=LostAnswerWiki(settings.wiki))
    [title] = reader.titles(space.prefix)
    recovered = space.run_pass()
    assert recovered.published == 0 and recovered.duplicates == 1
    space.append(make_mail("lost-reply@example.de", "Re: Vertrag", in_reply_to="lost-root@example.de"))
    with pytest.raises(WikiUnavailableError):
        space.run_pass(wiki=LostAnswerWiki(settings.wiki))
    space.run_pass()
    assert reader.titles(space.prefix) == [title]
    assert reader.parse(title).message_ids == ["lost-root@example.de", "lost-reply@example.de"]
    assert len(reader.revisions(title)) == 2


def test_unconfirmed_edit_that_never_reached_the_wiki_is_published_next_pass(
    space: Space, reader: WikiReader
) -> None:
    """An intent whose edit never happened (the wiki was down) is published by the next pass."""

    class DownWiki(WikiClient):
        def create_page(self, title: str, text: str, summary: str) -> EditResult | None:
            raise WikiUnavailableError("simulated: wiki unreachable")

    space.append(make_mail("down-root@example.de", "Serverumzug"))
    with pytest.raises(WikiUnavailableError):
        space.run_pass(wiki=DownWiki(space.settings().wiki))
    assert reader.titles(space.prefix) == []
    result = space.run_pass()
    assert result.published == 1
    assert reader.parse(reader.titles(space.prefix)[0]).message_ids == ["down-root@example.de"]


def test_maxlag_is_waited_out_against_the_real_wiki(
    space: Space, reader: WikiReader, mediawiki: MediaWikiServer
) -> None:
    """A lagged wiki answers `maxlag`; the bridge waits as told (Retry-After) and then publishes.

    The pause is waited once: the edit lane's request after it finds it over (the clock moves
    with the waits, so the test needs not sleep).
    """
    space.append(make_mail("lag@example.de", "Lagging"))
    waits: list[float] = []
    now = [time.monotonic()]

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds
        mediawiki.set_fake_lag(None)

    mediawiki.set_fake_lag(7)
    try:
        wiki = WikiClient(space.settings().wiki, sleep=sleep, clock=lambda: now[0])
        result = space.run_pass(wiki=wiki)
    finally:
        mediawiki.set_fake_lag(None)
    assert result.published == 1
    assert waits == [5.0]


def test_read_only_wiki_fails_the_pass_and_loses_nothing(
    space: Space, reader: WikiReader, mediawiki: MediaWikiServer
) -> None:
    """A read-only wiki fails the pass with a clear error; the mail is published once it is writable."""
    space.append(make_mail("ro@example.de", "Read only"))
    space.write_config()
    mediawiki.set_readonly("maintenance")
    try:
        completed = space.cli("once")
    finally:
        mediawiki.set_readonly(None)
    assert completed.returncode == 1
    assert "maintenance" in completed.stderr and "pass.failed" in completed.stderr
    assert space.cli("once").returncode == 0
    assert len(reader.titles(space.prefix)) == 1


def test_bad_config_exits_2_naming_the_key(space: Space) -> None:
    """A config with a bad port stops start-up with exit code 2 and names the key."""
    space.write_config(port=70000)
    completed = space.cli("once")
    assert completed.returncode == 2
    assert "mailboxes[0].port: must be an integer between 1 and 65535" in completed.stderr


def test_wrong_imap_password_fails_that_mailbox_only(
    space: Space, reader: WikiReader, tmp_path: Path
) -> None:
    """A mailbox with a wrong password fails with a clear error while the other mailbox still syncs."""
    space.append(make_mail("good@example.de", "Still synced"))
    wrong = space.secret_file("wrong", "not-the-password")
    space.write_config(
        extra_mailboxes=[
            {
                "name": "support",
                "host": space.dovecot.host,
                "port": space.dovecot.port,
                "security": "none",
                "username": "team-support",
                "password_file": str(wrong),
                "folders": ["INBOX"],
                "page_prefix": f"{space.prefix}-support",
            }
        ],
    )
    completed = space.cli("once")
    assert completed.returncode == 1
    assert "refused the login of 'team-support'" in completed.stderr
    assert "sales: 1 published" in completed.stdout and "support: FAILED" in completed.stdout
    assert len(reader.titles(space.prefix)) == 1


def test_tls_connection_verifies_the_certificate(space: Space, reader: WikiReader) -> None:
    """IMAPS works with the server's CA configured and fails verification without it."""
    space.append(make_mail("tls@example.de", "Over TLS"))
    space.write_config(port=space.dovecot.tls_port, security="tls", ca_file=str(space.dovecot.ca_file))
    assert space.cli("once").returncode == 0
    assert len(reader.titles(space.prefix)) == 1
    space.write_config(port=space.dovecot.tls_port, security="tls")
    failed = space.cli("once")
    assert failed.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in failed.stderr


def test_starttls_connection(space: Space, reader: WikiReader) -> None:
    """STARTTLS on the plain port works with certificate verification."""
    space.append(make_mail("starttls@example.de", "Over STARTTLS"))
    space.write_config(security="starttls", ca_file=str(space.dovecot.ca_file))
    completed = space.cli("once")
    assert completed.returncode == 0, completed.stderr
    assert len(reader.titles(space.prefix)) == 1


def test_check_reports_each_connection(space: Space) -> None:
    """`check` prints one line per check and fails when a mailbox cannot log in."""
    space.append(make_mail("check@example.de", "Checked"))
    space.write_config()
    completed = space.cli("check")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("ok    config")
    assert lines[1].startswith("ok    wiki: logged in") and "Bridgebot" in lines[1]
    assert "ok    wiki: right 'edit'" in lines and "ok    wiki: right 'createpage'" in lines
    assert (
        "ok    wiki: right 'upload'" in lines
        and "ok    wiki: right 'bot' (edits are marked as bot edits)" in lines
    )
    assert f"ok    wiki: may create and edit pages under {space.prefix}/ (mailbox sales)" in lines
    assert lines[-1].startswith("ok    mailbox sales")
    space.write_config(password_file=str(space.secret_file("bad", "wrong")))
    failed = space.cli("check")
    assert failed.returncode == 1 and "FAIL  mailbox sales" in failed.stdout


def test_seen_flags_are_untouched(space: Space) -> None:
    """Publishing reads mail with BODY.PEEK[]: no message gets the \\Seen flag."""
    from imapclient import IMAPClient

    space.append(make_mail("peek@example.de", "Unread stays unread"))
    space.run_pass()
    client = IMAPClient(space.dovecot.host, port=space.dovecot.port, ssl=False)
    client.login(space.user, space.dovecot.users[space.user])
    client.select_folder(space.folders[0], readonly=True)
    flags = client.get_flags(client.search("ALL"))
    client.logout()
    assert flags and all(b"\\Seen" not in f for f in flags.values())


def test_unparseable_mail_stays_and_is_recorded(space: Space, reader: WikiReader) -> None:
    """An empty mail is recorded as failed with its reason, kept in the mailbox; the others publish."""
    space.append(b"\r\n")
    space.append(make_mail("fine@example.de", "Fine"))
    result = space.run_pass()
    assert result.published == 1 and result.failed == 1
    from bridge.adapters.state.store import SqliteStateStore

    state = SqliteStateStore(space.state_path)
    [failure] = state.failures("sales")
    assert failure.reason == "the mail is empty" and failure.uid == 1
    # Its next try is a minute away: the next pass leaves it alone …
    again = space.run_pass()
    assert again.fetched == 0 and again.failed == 0
    # … until it is due (here: made due by hand, as `failures retry` does).
    assert state.retry_failures("sales") == 1
    state.close()
    retried = space.run_pass()
    assert retried.failed == 1 and retried.published == 0
    state = SqliteStateStore(space.state_path)
    [failure] = state.failures("sales")
    state.close()
    assert failure.attempts == 2 and not failure.parked


def test_daemon_publishes_and_stops_on_sigterm(space: Space, reader: WikiReader) -> None:
    """`run` publishes on its first poll and exits 0 soon after SIGTERM."""
    space.append(make_mail("daemon@example.de", "Daemon mail"))
    space.write_config(poll_interval=5)
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge", "--config", str(space.config_path), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not reader.titles(space.prefix):
            time.sleep(0.2)
        assert len(reader.titles(space.prefix)) == 1
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _, stderr = process.communicate(timeout=15)
        assert process.returncode == 0
        assert time.monotonic() - started < 10
        assert "daemon.stopped" in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
