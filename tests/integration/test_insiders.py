"""Inside and outside the company, end to end: real Dovecot, real MediaWiki (English and German), real SMTP.

Colleagues (example.de, the team mailbox's domain) get link replies and their names link to
their wiki accounts; a customer (kunde.example.com) gets no link reply, or only an
acknowledgement that names no page; each thread page says who took part.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bridge.adapters.state.store import ReplyCounts, SqliteStateStore
from bridge.adapters.wiki import WikiClient
from bridge.core.render.escape import single_line
from bridge.core.render.templates import FIELD_TEMPLATE
from bridge.sync.people import Directory
from tests.integration.support import Space, WikiReader, human_edit, new_space, unique
from tests.integration.test_injection import PAYLOADS
from tests.integration.test_replies import body_of, configure, delivered, run
from tests.servers import DovecotServer, MediaWikiServer, SmtpSink, start_mediawiki

ANNA = "Anna Schmidt <a.schmidt@example.de>"  # account A.schmidt, found by the rule
BERND = "Bernd Meier <b.meier@example.de>"  # account "Bernd Meier", named by the people file
CARLA = "Carla Ohnekonto <c.ohne@example.de>"  # a colleague without an account
KUNDE = "Klaus Kunde <klaus@kunde.example.com>"  # a customer
ACCOUNTS = ("A.schmidt", "Bernd Meier")


@pytest.fixture(scope="module")
def accounts(mediawiki: MediaWikiServer) -> tuple[str, ...]:
    """Two colleagues' accounts on the session's wiki."""
    for name in ACCOUNTS:
        mediawiki.create_user(name, "insider-secret-pass-1")
    return ACCOUNTS


@pytest.fixture(scope="module")
def german_wiki(server_root: Path) -> Iterator[MediaWikiServer]:
    """A second wiki, installed with content language `de` (namespaces `Benutzer:`, `Vorlage:` …)."""
    server = start_mediawiki(server_root / "wiki-de", language="de")
    server.create_user(ACCOUNTS[0], "insider-secret-pass-1")
    yield server
    server.stop()


@pytest.fixture
def sink(smtp_sink: SmtpSink) -> SmtpSink:
    """The SMTP sink, empty."""
    return smtp_sink


def organise(space: Space, **organisation: Any) -> None:
    """Add an [organisation] section (rule `{local}`, the people file naming Bernd) to the config."""
    people = space.directory / "people.csv"
    people.write_text("address,user\n# the admin's list\nb.meier@example.de,Bernd Meier\n", encoding="utf-8")
    table = {"wiki_user_from_address": "{local}", "people_file": str(people), **organisation}
    lines = [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    space.config_path.write_text(space.config_path.read_text() + "[organisation]\n" + "\n".join(lines) + "\n")


def mail(
    stem: str, sender: str, subject: str, *, cc: str | None = None, parent: str | None = None
) -> tuple[str, bytes]:
    """A delivered mail from `sender` (answering `parent`), and its Message-ID."""
    message_id = f"{unique(stem)}@example.de"
    headers = [("Cc", cc)] if cc else []
    raw = delivered(
        message_id,
        subject,
        sender=sender,
        extra_headers=headers,
        in_reply_to=parent,
        references=[parent] if parent else None,
    )
    return message_id, raw


def counts(space: Space) -> ReplyCounts:
    """What `status` counts of the mapping's replies."""
    state = SqliteStateStore(space.state_path)
    try:
        return state.reply_counts("sales")
    finally:
        state.close()


def the_title(reader: WikiReader, space: Space) -> str:
    [title] = reader.titles(space.prefix)
    return title


def test_link_replies_go_to_colleagues_and_names_link_to_existing_accounts(
    space: Space, reader: WikiReader, sink: SmtpSink, mediawiki: MediaWikiServer, accounts: tuple[str, ...]
) -> None:
    """A customer opens the thread (Anna in Cc), Anna and Carla answer (Bernd in Cc): link replies
    go to Anna and Carla only, the customer's is suppressed as external; Anna and Bernd are linked
    to their accounts, Carla (no account) and the customer stay text; the participants note
    follows the thread."""
    configure(space, sink, reply="every")
    organise(space)
    root, raw = mail("kunde", KUNDE, "Reklamation Lieferung 4711", cc=ANNA)
    space.append(raw)
    first, _ = run(space)

    assert (first.published, first.replies_sent, first.replies_suppressed) == (1, 0, 1)
    assert sink.messages == []
    assert counts(space) == ReplyCounts(sent=0, suppressed=1, external=1)
    title = the_title(reader, space)
    text = reader.text(title)
    note = text.split("\n")[1]
    assert note.startswith('<div class="ewb-participants"')
    assert "[[User:A.schmidt|Anna Schmidt]]" in text.split("\n", 3)[2]
    assert "people from outside the company: 1" in text
    assert "|Cc|[[User:A.schmidt|Anna Schmidt &lt;a.schmidt@example.de&gt;]]}}" in text  # the Cc field

    anna, raw_anna = mail("anna", ANNA, "AW: Reklamation Lieferung 4711", cc=BERND, parent=root)
    _, raw_carla = mail("carla", CARLA, "AW: Reklamation Lieferung 4711", parent=anna)
    space.append(raw_anna)
    space.append(raw_carla)
    second, _ = run(space)

    assert (second.published, second.replies_sent) == (2, 2)
    assert sorted(m.rcpt_tos for m in sink.messages) == [("a.schmidt@example.de",), ("c.ohne@example.de",)]
    assert all(mediawiki.page_url(title) in body_of(m, "plain") for m in sink.messages)
    assert counts(space) == ReplyCounts(sent=2, suppressed=1, external=1)
    text = reader.text(title)
    opening = re.sub(r"</?span[^>]*>", "", text.split("\n== ", 1)[0])
    assert "[[User:A.schmidt|Anna Schmidt]], [[User:Bernd Meier|Bernd Meier]], Carla Ohnekonto" in opening
    assert "people from outside the company: 1" in opening
    assert "|From|Carla Ohnekonto &lt;c.ohne@example.de&gt;}}" in text  # no account: plain text
    assert "|From|Klaus Kunde &lt;klaus@kunde.example.com&gt;}}" in text
    links = set(reader.parse(title).links)
    assert {"User:A.schmidt", "User:Bernd Meier"} <= links
    assert not {link for link in links if "ohne" in link.lower() or "klaus" in link.lower()}


def test_the_participants_note_keeps_what_a_person_wrote_there(
    space: Space, reader: WikiReader, sink: SmtpSink, mediawiki: MediaWikiServer, accounts: tuple[str, ...]
) -> None:
    """A note a person edited is theirs: a newcomer to the thread does not overwrite it; an
    unchanged note is updated only when the participants change."""
    configure(space, sink, reply="never")
    organise(space)
    root, raw = mail("note", ANNA, "Messeplanung Hannover")
    space.append(raw)
    run(space)
    title = the_title(reader, space)
    again, raw_again = mail("note-again", ANNA, "AW: Messeplanung Hannover", parent=root)
    space.append(raw_again)
    run(space)
    assert len(reader.revisions(title)) == 2  # the append only: the same people, no note edit

    edited = reader.text(title).replace("Colleagues in this conversation:", "Zuständig: Anna; dabei:")
    human_edit(mediawiki, title, edited)
    _, raw_kunde = mail("note-kunde", KUNDE, "AW: Messeplanung Hannover", parent=again)
    space.append(raw_kunde)
    run(space)

    text = reader.text(title)
    assert "Zuständig: Anna; dabei:" in text and "outside the company" not in text
    assert text.count('class="ewb-participants"') == 1


@pytest.mark.parametrize("language", ["en", "de"])
def test_an_external_sender_gets_an_acknowledgement_without_page_name_or_url(
    space: Space, reader: WikiReader, sink: SmtpSink, language: str
) -> None:
    """`external_reply = "acknowledge"`: the customer gets a short text; no link, no page title, no
    URL, not even the word wiki."""
    configure(space, sink, reply="every", external_reply="acknowledge", language=language)
    _, raw = mail("ack", KUNDE, "Anfrage Förderband FB-200")
    space.append(raw)
    result, _ = run(space)

    assert result.replies_sent == 1
    [reply] = sink.messages
    assert reply.rcpt_tos == ("klaus@kunde.example.com",)
    assert reply.message.get_content_type() == "text/plain"
    text = body_of(reply, "plain")
    assert ("Anfrage Förderband FB-200" in text) and ("Hallo" in text) == (language == "de")
    title = the_title(reader, space)
    assert "wiki" not in text.lower()
    for secret in ("http", "://", space.prefix.lower(), title.lower(), "index.php"):
        assert secret not in text.lower() and secret not in reply.message.as_string().lower()


def test_refusals_follow_the_same_rule(space: Space, reader: WikiReader, sink: SmtpSink) -> None:
    """A refused colleague is told why; a refused customer is not told about the wiki at all."""
    configure(space, sink, reply_unpublished=True, allowed_senders=["a.schmidt@example.de"])
    _, raw_carla = mail("refused-carla", CARLA, "Urlaubsantrag")
    _, raw_kunde = mail("refused-kunde", KUNDE, "Angebot")
    space.append(raw_carla)
    space.append(raw_kunde)
    result, _ = run(space)

    assert (result.quarantined, result.replies_sent) == (2, 1)
    [refusal] = sink.messages
    assert refusal.rcpt_tos == ("c.ohne@example.de",) and "not published in the wiki" in body_of(
        refusal, "plain"
    )
    assert counts(space).external == 1


def test_a_german_wiki_links_colleagues_in_its_benutzer_namespace(
    dovecot: DovecotServer, german_wiki: MediaWikiServer, sink: SmtpSink, tmp_path: Path
) -> None:
    """The user namespace is named as the wiki names it (siteinfo): `Benutzer:` on a German wiki."""
    space = new_space(dovecot, german_wiki, tmp_path)
    configure(space, sink, reply="never", language="de")
    organise(space)
    _, raw = mail("de", ANNA, "Dienstplan Dezember", cc=KUNDE)
    space.append(raw)
    run(space)

    reader = WikiReader(german_wiki)
    title = the_title(reader, space)
    text = re.sub(r"</?span[^>]*>", "", reader.text(title))
    assert "[[Benutzer:A.schmidt|Anna Schmidt &lt;a.schmidt@example.de&gt;]]" in text
    assert "Kolleginnen und Kollegen in dieser Unterhaltung: [[Benutzer:A.schmidt|Anna Schmidt]]" in text
    assert "Beteiligte von außerhalb des Unternehmens: 1" in text
    assert "Benutzer:A.schmidt" in reader.parse(title).links
    page = requests.get(german_wiki.page_url(title), timeout=30).text
    assert 'title="Benutzer:A.schmidt' in page


def test_hostile_display_names_stay_text_inside_the_account_link(
    space: Space, reader: WikiReader, sink: SmtpSink, accounts: tuple[str, ...]
) -> None:
    """Every injection payload as a linked colleague's display name (and hostile local parts that
    a rule would turn into account names) adds no category, template, link or tag to the page."""
    configure(space, sink, reply="never")
    organise(space, wiki_user_from_address="{local_title}")
    root: str | None = None
    for number, payload in enumerate(PAYLOADS):
        name = single_line(payload.text).replace("\\", "/").replace('"', "'")
        message_id, raw = mail(f"inject{number}", f'"{name}" <a.schmidt@example.de>', "Namen", parent=root)
        root = root or message_id
        space.append(raw)
    for local in ('"a.schmidt|[[Category:Evil]]"', '"{{Delete}}"', '"x]]<script>"'):
        _, raw = mail("inject-local", f"Evil <{local}@example.de>", "Namen", parent=root)
        space.append(raw)
    result, _ = run(space)

    assert result.published == len(PAYLOADS) + 3
    page = reader.parse(the_title(reader, space))
    assert len(page.categories) == len(space.categories)
    assert set(page.links) == {"User:A.schmidt"}
    assert set(page.templates) == {f"Template:{FIELD_TEMPLATE}"}
    assert "<script" not in page.html and "Evil" not in "".join(page.categories)


class CountingSession(requests.Session):
    """A real HTTP session that notes how many names each `list=users` request asked about."""

    def __init__(self) -> None:
        super().__init__()
        self.user_batches: list[int] = []

    def get(self, url: str | bytes, **kwargs: Any) -> requests.Response:
        params = kwargs.get("params") or {}
        if params.get("list") == "users":
            self.user_batches.append(len(str(params["ususers"]).split("|")))
        return super().get(url, **kwargs)


def test_accounts_are_asked_fifty_a_request_and_remembered(
    space: Space, sink: SmtpSink, accounts: tuple[str, ...], tmp_path: Path
) -> None:
    """120 colleagues cost three `list=users` requests; only existing accounts come back; a second
    look within `people_cache_hours` asks the wiki nothing."""
    configure(space, sink, reply="never")
    organise(space)
    settings = space.settings()
    session = CountingSession()
    wiki = WikiClient(settings.wiki, session=session)
    state = SqliteStateStore(tmp_path / "people.sqlite3")
    try:
        directory = Directory(settings.organisation, wiki, state)
        addresses = [f"colleague{n}@example.de" for n in range(118)] + [
            "a.schmidt@example.de",
            "b.meier@example.de",
        ]
        assert directory.accounts(addresses) == {
            "a.schmidt@example.de": "A.schmidt",
            "b.meier@example.de": "Bernd Meier",
        }
        assert session.user_batches == [50, 50, 20]
        assert directory.accounts(addresses[-3:]) == {
            "a.schmidt@example.de": "A.schmidt",
            "b.meier@example.de": "Bernd Meier",
        }
        assert session.user_batches == [50, 50, 20]
    finally:
        state.close()
        wiki.close()


def test_check_reports_how_many_recent_colleagues_have_an_account(
    space: Space, accounts: tuple[str, ...]
) -> None:
    """`check` reads the newest mails' senders and tells how many colleagues map to an existing
    account, naming those without one; people from outside are only counted."""
    for stem, sender in (("c1", ANNA), ("c2", BERND), ("c3", CARLA), ("c4", KUNDE), ("c5", ANNA)):
        space.append(mail(stem, sender, "Quartalszahlen")[1])
    space.write_config(address="team-sales@example.de")
    organise(space)

    completed = space.cli("check")

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.splitlines()[-1] == (
        "ok    people sales: 2 of 3 recent internal senders map to an existing wiki account "
        "(1 external); without one: c.ohne@example.de"
    )


def test_a_backfill_links_colleagues_and_writes_the_note_as_a_pass_does(
    space: Space, reader: WikiReader, accounts: tuple[str, ...]
) -> None:
    """History imported by `backfill` gets the account links and the participants note too."""
    root, raw = mail("history", KUNDE, "Rahmenvertrag 2025", cc=BERND)
    space.append(raw)
    space.append(mail("history-anna", ANNA, "AW: Rahmenvertrag 2025", parent=root)[1])
    space.write_config(address="team-sales@example.de")
    organise(space)

    completed = space.cli("backfill", "--mailbox", "sales")

    assert completed.returncode == 0, completed.stdout + completed.stderr
    text = re.sub(r"</?span[^>]*>", "", reader.text(the_title(reader, space)))
    [note] = [line for line in text.splitlines() if "in this conversation:" in line]
    assert "[[User:Bernd Meier|Bernd Meier]]" in note and "[[User:A.schmidt|Anna Schmidt]]" in note
    assert "people from outside the company: 1" in text
