"""The adoption report and the status page on the real MediaWiki, with real link replies.

Threads are published with link replies (real SMTP sink), a person (Alice) and another bot edit
some pages, follow-up mails arrive after the link replies; the report page is then read back
through the API's parser, table by table. The status page is kept by the real daemon.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bridge.core.adoption import week_start
from bridge.service.report import chart_name
from tests.integration.service_support import ServiceSpace, state_rows, wait_until
from tests.integration.support import Space, WikiReader, make_mail, smtp_section, unique
from tests.servers import DovecotServer, MediaWikiServer, SmtpSink, wiki_login

SENDER = "juergen@example.de"


class _Tables(HTMLParser):
    """The cell texts of every table of a parsed page: tables → rows → cells (header rows included)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.tables and self.tables[-1]:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(reader: WikiReader, title: str) -> list[list[list[str]]]:
    """The tables of `title` as the wiki renders them (header row first)."""
    parser = _Tables()
    parser.feed(reader.parse(title).html)
    return parser.tables


class Editor:
    """A logged-in wiki account that appends notes to pages, as a person (or another bot) would."""

    def __init__(self, mediawiki: MediaWikiServer, user: str, password: str) -> None:
        self.api = mediawiki.api_url
        self.session = wiki_login(mediawiki, user, password)
        answer = self.session.get(self.api, params={"action": "query", "meta": "tokens", "format": "json"})
        self.token = str(answer.json()["query"]["tokens"]["csrftoken"])

    def note(self, title: str, text: str) -> None:
        data = {"action": "edit", "title": title, "appendtext": f"\n\n{text}", "token": self.token}
        answer = self.session.post(self.api, data={**data, "format": "json"}).json()
        assert answer["edit"]["result"] == "Success", answer


def mail(message_id: str, subject: str, reply_to: str | None = None) -> bytes:
    """A delivered mail (Return-Path as an MTA adds it) dated now, so its link reply is not too old."""
    return make_mail(
        message_id,
        subject,
        sender=f"Jürgen Müller <{SENDER}>",
        headers=[("Return-Path", f"<{SENDER}>")],
        date=datetime.now(UTC).replace(microsecond=0),
        in_reply_to=reply_to,
        references=[reply_to] if reply_to else None,
    )


def versions(reader: WikiReader, filename: str) -> int:
    """How many versions the file has on the wiki (0 when it does not exist)."""
    body = reader.get(
        action="query", prop="imageinfo", titles=f"File:{filename}", iiprop="sha1", iilimit="max"
    )
    return len(body["query"]["pages"][0].get("imageinfo", []))


def _past_the_link_replies(state: Path) -> None:
    """Wait for the clock to pass the second the link replies were sent: the store keeps seconds,
    and a follow-up mail is one published after its thread's link reply."""
    [(sent,)] = state_rows(state, "SELECT MAX(sent_at) FROM replies WHERE status = 'sent'")
    # The stored second covers the whole second: the next one starts a full second after it.
    after = datetime.fromisoformat(str(sent)) + timedelta(seconds=1)
    wait_until(lambda: datetime.now(UTC) >= after, 5, "the next second")


@pytest.fixture
def other_bot(mediawiki: MediaWikiServer) -> Iterator[Editor]:
    """A second account in the group `bot` (not the bridge): its edits are no human edits."""
    name, password = unique("Otherbot"), "other-bot-secret-1"
    mediawiki.run_maintenance("createAndPromote", "--bot", name, password)
    yield Editor(mediawiki, name, password)


def test_report_counts_human_edits_and_follow_ups_and_edits_only_on_change(
    space: Space, reader: WikiReader, mediawiki: MediaWikiServer, smtp_sink: SmtpSink, other_bot: Editor
) -> None:
    space.write_config(smtp=smtp_section(smtp_sink), address="team-sales@example.de", reply="first")
    roots = {"budget": "Budget 2027", "kantine": "Kantine", "umzug": "Umzug"}
    for key, subject in roots.items():
        space.append(mail(f"{key}@example.de", subject))
    assert space.bridge_pass() is not None
    assert len(smtp_sink.messages) == 3
    budget, kantine, umzug = (f"{space.prefix}/{subject}" for subject in roots.values())
    alice = Editor(mediawiki, mediawiki.human_user, mediawiki.human_password)
    alice.note(budget, "Alice: agreed, 40k.")
    alice.note(budget, "Alice: see the new table.")
    alice.note(umzug, "Alice: the room is booked.")
    other_bot.note(umzug, "Otherbot: links checked.")
    _past_the_link_replies(space.state_path)
    space.append(mail("kantine-2@example.de", "AW: Kantine", "kantine@example.de"))
    space.append(mail("kantine-3@example.de", "AW: Kantine", "kantine@example.de"))
    space.append(mail("budget-2@example.de", "AW: Budget 2027", "budget@example.de"))
    assert space.bridge_pass() is not None

    first = space.cli("report")
    assert first.returncode == 0, first.stderr[-3000:]
    title = f"{space.prefix}/Report"
    assert f"sales: report {title} updated, chart new version" in first.stdout
    weekly, top, still = tables(reader, title)
    header, *weeks = weekly
    assert header[:7] == [
        "Week of",
        "Mails",
        "New threads",
        "Pages edited",
        "Human edits",
        "Follow-up mails",
        "On the wiki",
    ]
    monday = week_start(datetime.now(UTC), ZoneInfo("Europe/Berlin")).isoformat()
    # 6 mails on 3 new threads; Alice edited 2 pages 3 times (the other bot's edit is left out);
    # 3 mails came after their link replies: half of the follow-ups were made on the wiki.
    assert weeks[0][:7] == [monday, "6", "3", "2", "3", "3", "50%"]
    assert weeks[0][7].endswith("min")
    assert len(weeks) == 12
    assert all(row[1:] == ["0", "0", "0", "0", "0", "–", "–"] for row in weeks[1:])
    assert top[1:] == [["Budget 2027", "2", "2"], ["Kantine", "3", "0"], ["Umzug", "1", "1"]]
    assert still[1:] == [["Kantine", "2", "0"]]
    chart = chart_name(title)
    assert versions(reader, chart) == 1
    assert reader.get(action="parse", page=title, prop="images")["parse"]["images"] == [
        chart.replace(" ", "_")
    ]

    revisions = len(reader.revisions(title))
    again = space.cli("report")
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"sales: report {title} unchanged, chart unchanged" in again.stdout
    assert len(reader.revisions(title)) == revisions
    assert versions(reader, chart) == 1

    printed = space.cli("report", "--mailbox", "sales", "--print")
    assert printed.returncode == 0, printed.stderr[-3000:]
    assert "Week of" in printed.stdout and "Kantine" in printed.stdout
    assert len(reader.revisions(title)) == revisions

    alice.note(kantine, "Alice: moved the menu here.")
    third = space.cli("report")
    assert f"sales: report {title} updated, chart new version" in third.stdout
    assert versions(reader, chart) == 2
    weekly, top, still = tables(reader, title)
    assert weekly[1][:7] == [monday, "6", "3", "3", "4", "3", "57%"]
    assert top[1:3] == [["Budget 2027", "2", "2"], ["Kantine", "3", "1"]]
    assert still[1:] == [["Kantine", "2", "1"]]


def test_german_report_page_is_called_bericht(space: Space, reader: WikiReader) -> None:
    space.write_config(language="de")
    space.append(mail("bericht@example.de", "Angebot"))
    assert space.bridge_pass() is not None
    printed = space.cli("report", "--print")
    assert printed.returncode == 0, printed.stderr[-3000:]
    assert "Woche ab" in printed.stdout
    assert reader.text(f"{space.prefix}/Bericht") == ""
    done = space.cli("report")
    assert done.returncode == 0, done.stderr[-3000:]
    weekly, top = tables(reader, f"{space.prefix}/Bericht")  # no thread goes on by mail: no third table
    assert weekly[0][0] == "Woche ab"
    assert top[1:] == [["Angebot", "1", "0"]]


def test_each_route_gets_a_report_of_its_own_threads_under_its_prefix(
    space: Space, reader: WikiReader
) -> None:
    base = space.prefix.rpartition("/")[0]
    route = {
        "name": "einkauf",
        "recipients": ["einkauf-wiki@example.de"],
        "page_prefix": f"{base}/Einkauf",
        "language": "de",
    }
    space.write_config(routes=[route], unrouted="default")
    space.append(mail("own@example.de", "Allgemeines"))
    to_route = [("Delivered-To", "einkauf-wiki@example.de")]
    for key, subject in (("order", "Bestellung"), ("delivery", "Lieferung")):
        space.append(make_mail(f"{key}@example.de", subject, to="einkauf-wiki@example.de", headers=to_route))
    assert space.bridge_pass() is not None
    done = space.cli("report")
    assert done.returncode == 0, done.stderr[-3000:]
    own, routed = f"{space.prefix}/Report", f"{base}/Einkauf/Bericht"
    assert f"sales: report {own} updated, chart new version" in done.stdout
    assert f"sales/einkauf: report {routed} updated, chart new version" in done.stdout
    assert tables(reader, own)[1][1:] == [["Allgemeines", "1", "0"]]
    weekly, top = tables(reader, routed)
    assert weekly[0][0] == "Woche ab" and weekly[1][1:3] == ["2", "2"]
    assert top[1:] == [["Bestellung", "1", "0"], ["Lieferung", "1", "0"]]
    assert "sales/einkauf" in reader.text(routed)


def test_a_thread_page_of_the_report_title_is_never_overwritten(space: Space, reader: WikiReader) -> None:
    """A mail titled like the report makes the thread page first: the report refuses to replace it."""
    space.write_config()
    space.append(mail("named-report@example.de", "Report"))
    assert space.bridge_pass() is not None
    page = reader.text(f"{space.prefix}/Report")
    refused = space.cli("report")
    assert refused.returncode == 1
    assert "was not made by email-wiki-bridge" in refused.stderr
    assert reader.text(f"{space.prefix}/Report") == page


@pytest.fixture
def service(dovecot: DovecotServer, mediawiki: MediaWikiServer, tmp_path: Path) -> Iterator[ServiceSpace]:
    """A fresh config and state file; bridge processes are killed at the end."""
    space = ServiceSpace(dovecot=dovecot, mediawiki=mediawiki, directory=tmp_path)
    yield space
    space.close()


def _health(reader: WikiReader, title: str, mailbox: str) -> str | None:
    if not reader.text(title):
        return None
    [table] = tables(reader, title)
    return next((row[1] for row in table[1:] if row[0] == mailbox), None)


def test_status_page_shows_a_failing_mailbox_and_its_recovery(
    service: ServiceSpace, reader: WikiReader
) -> None:
    name = unique("Status")
    folder, prefix, status_page = f"{name}-in", f"{name}/Mail", f"{name}/Bridge status"
    service.append(folder, make_mail("status-1@example.de", "Statusbericht"))
    wrong = service.mailbox("sales", folder, prefix, password="wrong-password", poll_interval=5)
    settings: dict[str, Any] = {"status_page": status_page, "status_interval": 0}
    service.write_config([wrong], service=settings)
    daemon = service.start("run")
    wait_until(lambda: _health(reader, status_page, "sales") == "FAILING", 60, "the failing mailbox")
    assert "password" in reader.text(status_page).lower() or "login" in reader.text(status_page).lower()

    service.write_config([service.mailbox("sales", folder, prefix, poll_interval=5)], service=settings)
    daemon.send(signal.SIGHUP)
    wait_until(lambda: _health(reader, status_page, "sales") == "ok", 60, "the recovered mailbox")
    # The successful pass also brought the mapping's report up to date, once.
    wait_until(lambda: bool(reader.text(f"{prefix}/Report")), 30, "the report page")
    code, _ = daemon.terminate()
    assert code == 0, daemon.log_tail()
    assert len(reader.revisions(f"{prefix}/Report")) == 1
