"""Who may publish and what happens to the mail, end to end on real Dovecot, MediaWiki and SMTP.

Sender policy (allowed_senders, require_authenticated, quarantine by flag or folder, release),
after_publish (flag, move with and without the MOVE extension, keep), start_at, and dry runs.
Mailbox state is always checked over IMAP, the wiki through its API, replies at the SMTP sink.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, MutableMapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient
from structlog.testing import capture_logs

from bridge.sync.mailbox_pass import PassResult
from tests.integration.support import (
    Space,
    WikiReader,
    add_flags,
    folder_mail,
    make_mail,
    new_space,
    smtp_section,
    unique,
)
from tests.servers import DovecotServer, MediaWikiServer, SmtpSink, start_dovecot

LogEvents = list[MutableMapping[str, Any]]
TEAM_ADDRESS = "team-sales@example.de"
TRUSTED = "mx.example.de"
# Dovecot 2.3's post-login capabilities without MOVE (and, for the second server, without UIDPLUS).
_CAPABILITIES = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES "
    "THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE "
    "{uidplus}LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN "
    "CONTEXT=SEARCH LIST-STATUS BINARY SPECIAL-USE"
)
LIMITED_SERVERS = {
    "no-move": _CAPABILITIES.format(uidplus="UIDPLUS "),
    "no-move-no-uidplus": _CAPABILITIES.format(uidplus=""),
}


@pytest.fixture(scope="module")
def limited_dovecots(server_root: Path) -> Iterator[dict[str, DovecotServer]]:
    """Dovecots whose capabilities lack MOVE (one also UIDPLUS), checked with imapclient."""
    servers: dict[str, DovecotServer] = {}
    try:
        for name, capabilities in LIMITED_SERVERS.items():
            server = start_dovecot(
                server_root / f"imap-{name}",
                {"team-sales": "secret-sales"},
                extra_config=f"imap_capability = {capabilities}\n",
            )
            servers[name] = server
            client = IMAPClient(server.host, port=server.port, ssl=False, timeout=10)
            client.login("team-sales", "secret-sales")
            try:
                assert not client.has_capability("MOVE")
                assert client.has_capability("UIDPLUS") == ("UIDPLUS" in capabilities)
            finally:
                client.logout()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def server_named(request: pytest.FixtureRequest, name: str) -> DovecotServer:
    """The session's Dovecot for "move", else the limited server of that name."""
    if name == "move":
        server: DovecotServer = request.getfixturevalue("dovecot")
        return server
    limited: dict[str, DovecotServer] = request.getfixturevalue("limited_dovecots")
    return limited[name]


@pytest.fixture
def sink(smtp_sink: SmtpSink) -> Iterator[SmtpSink]:
    """The empty SMTP sink, restarted afterwards should a test have stopped it."""
    yield smtp_sink
    smtp_sink.refuse(None)
    smtp_sink.start()


def recent() -> datetime:
    """A Date a few minutes ago."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


def mail(
    message_id: str,
    subject: str,
    sender: str = "Anna Schmidt <anna@example.de>",
    *,
    auth: list[str] | None = None,
    date: datetime | None = None,
    in_reply_to: str | None = None,
) -> bytes:
    """A delivered mail: Return-Path of the sender, then the receiving server's Authentication-Results."""
    address = re.search(r"<([^<>]+)>", sender)
    headers = [("Return-Path", f"<{address.group(1) if address else sender}>")]
    headers.extend(("Authentication-Results", value) for value in auth or [])
    return make_mail(
        message_id, subject, sender=sender, headers=headers, date=date or recent(), in_reply_to=in_reply_to
    )


def run(space: Space) -> tuple[PassResult | None, LogEvents]:
    """One full in-process pass (as the daemon runs it) with its log events; None when it failed."""
    with capture_logs() as events:
        result = space.bridge_pass()
    return result, events


def passed(space: Space) -> PassResult:
    """One pass that must succeed."""
    result, events = run(space)
    assert result is not None, [e for e in events if e.get("log_level") == "error"]
    return result


def on_wiki(reader: WikiReader, space: Space) -> set[str]:
    """The Message-IDs on every page of the space."""
    return {mid for title in reader.titles(space.prefix) for mid in reader.parse(title).message_ids}


def cli_ok(space: Space, *args: str) -> str:
    """Run the command line, demand success and return its standard output."""
    completed = space.cli(*args)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


# -- allowed_senders and quarantine ----------------------------------------------------------


def test_allowed_senders_quarantine_by_flag_and_release(space: Space, reader: WikiReader) -> None:
    """A sender outside `*@example.de` is kept off the wiki: the mail stays, gets the quarantine
    keyword, is listed with the reason, and after `quarantine release` the next pass publishes it."""
    allowed = f"{unique('allowed')}@example.de"
    refused = f"{unique('refused')}@example.de"
    space.append(mail(allowed, "Angebot Förderband"))
    space.append(mail(refused, "Rechnung offen", "Eve <eve@evil.example>"), flags=["\\Seen"])
    space.write_config(allowed_senders=["*@example.de"])

    result = passed(space)

    assert (result.published, result.quarantined) == (1, 1)
    assert on_wiki(reader, space) == {allowed}
    assert folder_mail(space.dovecot, space.user, space.folders[0]) == {
        allowed: frozenset(),
        refused: frozenset({"\\Seen", "$WikiQuarantine"}),
    }
    listing = cli_ok(space, "quarantine", "list")
    [line] = listing.splitlines()
    fields = line.split("\t")
    assert fields[:3] == ["sales", refused, "eve@evil.example"]
    assert "Rechnung offen" in fields and "not in allowed_senders" in fields[-1]

    assert refused in cli_ok(space, "quarantine", "release", "sales", refused)
    assert folder_mail(space.dovecot, space.user, space.folders[0]) == {
        allowed: frozenset(),
        refused: frozenset({"\\Seen"}),
    }
    released = passed(space)

    assert (released.published, released.quarantined) == (1, 0)
    assert on_wiki(reader, space) == {allowed, refused}
    assert cli_ok(space, "quarantine", "list").strip() == "no quarantined mail"
    assert passed(space).published == 0


def test_release_after_the_folder_was_renumbered_publishes_the_mail(space: Space, reader: WikiReader) -> None:
    """Quarantined, then the server rebuilds the folder (new UIDVALIDITY, other UIDs), read again,
    then released: the release finds the mail by its Message-ID, clears its keyword, and the next
    pass publishes it. (Found by tests/unit/test_state_machine.py: the recorded UID now named
    another mail, so the released one stayed flagged and was never read again.)"""
    allowed = f"{unique('allowed')}@example.de"
    refused = f"{unique('refused')}@example.de"
    refused_raw = mail(refused, "Rechnung offen", "Eve <eve@evil.example>")
    allowed_raw = mail(allowed, "Angebot Förderband")
    space.append(refused_raw)
    space.append(allowed_raw)
    space.write_config(allowed_senders=["*@example.de"])
    assert (passed(space).published, on_wiki(reader, space)) == (1, {allowed})

    folder = space.folders[0]
    client = IMAPClient(space.dovecot.host, port=space.dovecot.port, ssl=False, timeout=10)
    client.login(space.user, space.dovecot.users[space.user])
    try:
        client.delete_folder(folder)
        client.create_folder(folder)
    finally:
        client.logout()
    space.append(allowed_raw)  # now UID 1, where the quarantined mail was
    space.append(refused_raw, flags=["$WikiQuarantine"])
    assert passed(space).published == 0

    assert refused in cli_ok(space, "quarantine", "release", "sales", refused)
    assert folder_mail(space.dovecot, space.user, folder) == {allowed: frozenset(), refused: frozenset()}
    assert passed(space).published == 1
    assert on_wiki(reader, space) == {allowed, refused}


@pytest.mark.parametrize(
    ("server", "after_publish"), [("move", "keep"), ("move", "flag"), ("no-move", "keep")]
)
def test_allowed_senders_quarantine_by_folder_and_release(
    request: pytest.FixtureRequest,
    mediawiki: MediaWikiServer,
    reader: WikiReader,
    tmp_path: Path,
    server: str,
    after_publish: str,
) -> None:
    """With `quarantine = "move"` a refused mail goes to the quarantine folder (created when
    missing), also on a server without MOVE; `quarantine release` moves it back and the next
    pass publishes it."""
    space = new_space(server_named(request, server), mediawiki, tmp_path)
    quarantine = f"{space.folders[0]}-Quarantaene"
    allowed = f"{unique('allowed')}@example.de"
    refused = f"{unique('refused')}@example.de"
    space.append(mail(allowed, "Lieferung KW 50"))
    space.append(mail(refused, "Ihr Paket", "Paketdienst <info@parcel.example>"))
    space.write_config(
        allowed_senders=["*@example.de", "boss@partner.example"],
        quarantine="move",
        quarantine_folder=quarantine,
        after_publish=after_publish,
    )

    result = passed(space)

    assert (result.published, result.quarantined) == (1, 1)
    assert on_wiki(reader, space) == {allowed}
    assert set(folder_mail(space.dovecot, space.user, space.folders[0]) or {}) == {allowed}
    assert set(folder_mail(space.dovecot, space.user, quarantine) or {}) == {refused}
    assert refused in cli_ok(space, "quarantine", "list")

    cli_ok(space, "quarantine", "release", "sales", refused)
    assert folder_mail(space.dovecot, space.user, quarantine) == {}
    released = passed(space)

    assert released.published == 1
    assert on_wiki(reader, space) == {allowed, refused}
    assert cli_ok(space, "quarantine", "list").strip() == "no quarantined mail"


# -- require_authenticated -------------------------------------------------------------------


def test_require_authenticated_trusts_only_the_own_servers_verdict(space: Space, reader: WikiReader) -> None:
    """Only an Authentication-Results header of a trusted authserv-id counts: DMARC pass or aligned
    DKIM pass publishes; DKIM pass for another domain, or a pass from any other authserv-id
    (which anyone can write into a mail), is refused."""
    ids = {name: f"{unique(name)}@example.de" for name in ("dmarc", "aligned", "foreign", "forged", "none")}
    space.append(
        mail(ids["dmarc"], "DMARC pass", auth=[f"{TRUSTED}; dmarc=pass (p=reject) header.from=example.de"])
    )
    space.append(
        mail(
            ids["aligned"],
            "DKIM aligned",
            "Bob <bob@sales.example.de>",
            auth=[f"{TRUSTED}; dkim=pass header.d=example.de header.s=mail; dmarc=none"],
        )
    )
    space.append(
        mail(
            ids["foreign"],
            "DKIM other domain",
            "Carl <carl@example.de>",
            auth=[f"{TRUSTED}; dkim=pass header.d=bulkmailer.example.com; dmarc=fail header.from=example.de"],
        )
    )
    space.append(
        mail(
            ids["forged"],
            "Forged verdict",
            "Dora <dora@example.de>",
            auth=["relay.attacker.example; dmarc=pass header.from=example.de; dkim=pass header.d=example.de"],
        )
    )
    space.append(mail(ids["none"], "No verdict at all", "Emil <emil@example.de>"))
    space.write_config(require_authenticated=True, trusted_authserv_ids=[TRUSTED])

    result, events = run(space)

    assert result is not None and (result.published, result.quarantined) == (2, 3)
    assert on_wiki(reader, space) == {ids["dmarc"], ids["aligned"]}
    quarantined = {e["message_id"]: e["reason"] for e in events if e["event"] == "message.quarantined"}
    assert set(quarantined) == {ids["foreign"], ids["forged"], ids["none"]}
    assert all("not authenticated" in reason for reason in quarantined.values())
    flags = folder_mail(space.dovecot, space.user, space.folders[0]) or {}
    assert {mid for mid, found in flags.items() if "$WikiQuarantine" in found} == set(quarantined)


def test_reply_unpublished_tells_the_sender_why_but_never_an_automatic_sender(
    space: Space, sink: SmtpSink
) -> None:
    """With `reply_unpublished`, a refused person learns the reason by mail; a refused no-reply
    address gets nothing (a loop rule), which the log records."""
    person = f"{unique('unauth')}@example.de"
    robot = f"{unique('robot')}@example.de"
    space.append(mail(person, "Bitte veröffentlichen", "Eva Weber <eva@example.de>"))
    space.append(mail(robot, "Ihre Bestellung", "Shop <noreply@example.de>"))
    space.write_config(
        smtp=smtp_section(sink),
        address=TEAM_ADDRESS,
        reply="first",
        require_authenticated=True,
        trusted_authserv_ids=[TRUSTED],
        reply_unpublished=True,
    )

    result, events = run(space)

    assert result is not None and result.quarantined == 2 and result.published == 0
    [refusal] = sink.messages
    assert refusal.rcpt_tos == ("eva@example.de",) and refusal.mail_from == "<>"
    assert refusal.message["In-Reply-To"] == f"<{person}>"
    assert refusal.message["Auto-Submitted"] == "auto-replied"
    text = refusal.message.get_body(preferencelist=("plain",))
    assert text is not None
    assert "not published" in str(text.get_content()) and "not authenticated" in str(text.get_content())
    [suppressed] = [e for e in events if e["event"] == "reply.suppressed"]
    assert suppressed["message_id"] == robot and suppressed["kind"] == "refusal"
    assert "automatic sender" in suppressed["reason"]


def test_refusal_is_sent_even_when_link_replies_are_off(space: Space, sink: SmtpSink) -> None:
    """`reply_unpublished = true` works on its own: with `reply = "never"` (no link replies) a
    refused sender is still told why."""
    refused = f"{unique('refused')}@example.de"
    space.append(mail(refused, "Bitte veröffentlichen", "Eva Weber <eva@example.de>"))
    space.write_config(
        smtp=smtp_section(sink),
        address=TEAM_ADDRESS,
        reply="never",
        allowed_senders=["*@sales.example.de"],
        reply_unpublished=True,
    )

    result = passed(space)

    assert result.quarantined == 1
    assert [m.message["In-Reply-To"] for m in sink.messages] == [f"<{refused}>"]


# -- after_publish ---------------------------------------------------------------------------


def test_after_publish_flag_sets_the_keyword_and_keeps_other_flags(space: Space) -> None:
    """`after_publish = "flag"` adds `$Wiki` to each published mail; its other flags stay."""
    read, unread = f"{unique('read')}@example.de", f"{unique('unread')}@example.de"
    space.append(mail(read, "Gelesen"), flags=["\\Seen", "\\Flagged"])
    space.append(mail(unread, "Ungelesen"))
    space.write_config(after_publish="flag")

    assert passed(space).published == 2

    assert folder_mail(space.dovecot, space.user, space.folders[0]) == {
        read: frozenset({"\\Seen", "\\Flagged", "$Wiki"}),
        unread: frozenset({"$Wiki"}),
    }


@pytest.mark.parametrize("server", ["move", "no-move", "no-move-no-uidplus"])
def test_after_publish_move_archives_and_never_expunges_other_mail(
    request: pytest.FixtureRequest,
    mediawiki: MediaWikiServer,
    reader: WikiReader,
    tmp_path: Path,
    server: str,
) -> None:
    """`after_publish = "move"` moves published mail to the archive folder (created when missing),
    with MOVE or, on a server without it, by COPY and expunging just those UIDs; a mail a person
    marked \\Deleted in the same folder is never expunged."""
    dovecot = server_named(request, server)
    space = new_space(dovecot, mediawiki, tmp_path)
    archive = f"{space.folders[0]}-Archiv/Wiki"
    deleted = f"{unique('deleted')}@example.de"
    space.append(mail(deleted, "Schon erledigt"), flags=["\\Deleted", "\\Seen"])
    space.write_config(after_publish="move", archive_folder=archive, start_at="now")
    assert passed(space).published == 0  # start_at = "now": the deleted mail is left alone
    ids = [f"{unique('archived')}@example.de" for _ in range(2)]
    for number, message_id in enumerate(ids):
        space.append(mail(message_id, f"Ablage {number}"), flags=["\\Seen"] if number else [])
    assert folder_mail(dovecot, space.user, archive) is None

    assert passed(space).published == 2

    assert on_wiki(reader, space) == set(ids)
    assert folder_mail(dovecot, space.user, space.folders[0]) == {deleted: frozenset({"\\Deleted", "\\Seen"})}
    archived = folder_mail(dovecot, space.user, archive)
    assert archived is not None and set(archived) == set(ids)
    assert archived[ids[1]] >= {"\\Seen"} and "\\Deleted" not in archived[ids[0]] | archived[ids[1]]
    assert passed(space).published == 0
    assert set(folder_mail(dovecot, space.user, archive) or {}) == set(ids)


def test_after_publish_keep_leaves_the_mailbox_unchanged(space: Space, reader: WikiReader) -> None:
    """`after_publish = "keep"` (the default) changes no flag and moves nothing."""
    first, second = f"{unique('keep')}@example.de", f"{unique('keep')}@example.de"
    space.append(mail(first, "Bleibt"), flags=["\\Seen"])
    space.append(mail(second, "Bleibt auch"))
    before = folder_mail(space.dovecot, space.user, space.folders[0])
    space.write_config(after_publish="keep", archive_folder=f"{space.folders[0]}-Archiv")

    assert passed(space).published == 2

    assert on_wiki(reader, space) == {first, second}
    assert folder_mail(space.dovecot, space.user, space.folders[0]) == before
    assert folder_mail(space.dovecot, space.user, f"{space.folders[0]}-Archiv") is None


@pytest.mark.parametrize("after_publish", ["flag", "move"])
def test_mail_is_touched_only_after_the_wiki_confirmed_the_write(
    space: Space, reader: WikiReader, mediawiki: MediaWikiServer, sink: SmtpSink, after_publish: str
) -> None:
    """With the wiki read-only the pass fails, the mail stays exactly as it was and nobody gets a
    reply; once the wiki takes the edit, the mail is flagged or moved and the reply sent."""
    archive = f"{space.folders[0]}-Archiv"
    message_id = f"{unique('readonly')}@example.de"
    space.append(mail(message_id, "Wartungsfenster"), flags=["\\Seen"])
    space.write_config(
        smtp=smtp_section(sink), address=TEAM_ADDRESS, after_publish=after_publish, archive_folder=archive
    )
    before = folder_mail(space.dovecot, space.user, space.folders[0])
    mediawiki.set_readonly("Datenbankwartung")

    result, events = run(space)

    assert result is None and [e for e in events if e["event"] == "pass.failed"]
    assert reader.titles(space.prefix) == []
    assert folder_mail(space.dovecot, space.user, space.folders[0]) == before
    assert folder_mail(space.dovecot, space.user, archive) is None
    assert sink.messages == []

    mediawiki.set_readonly(None)
    assert passed(space).published == 1

    assert on_wiki(reader, space) == {message_id}
    if after_publish == "flag":
        assert folder_mail(space.dovecot, space.user, space.folders[0]) == {
            message_id: frozenset({"\\Seen", "$Wiki"})
        }
    else:
        assert folder_mail(space.dovecot, space.user, space.folders[0]) == {}
        assert set(folder_mail(space.dovecot, space.user, archive) or {}) == {message_id}
    assert [m.message["In-Reply-To"] for m in sink.messages] == [f"<{message_id}>"]


# -- start_at --------------------------------------------------------------------------------


def test_start_at_now_skips_existing_mail_and_publishes_new_mail(space: Space, reader: WikiReader) -> None:
    """`start_at = "now"`: what the folder holds at the first pass is never published; later mail is."""
    old = f"{unique('existing')}@example.de"
    new = f"{unique('new')}@example.de"
    space.append(mail(old, "Altbestand"))
    space.write_config(start_at="now")

    assert passed(space).published == 0
    space.append(mail(new, "Neu"))
    assert passed(space).published == 1

    assert on_wiki(reader, space) == {new}
    assert passed(space).published == 0


def test_start_at_date_publishes_only_mail_since_that_day(space: Space, reader: WikiReader) -> None:
    """`start_at = "YYYY-MM-DD"`: mail received before that day is never published, mail since is."""
    before = f"{unique('before')}@example.de"
    since = f"{unique('since')}@example.de"
    october = datetime(2026, 10, 15, 9, 0, tzinfo=UTC)
    space.append(mail(before, "Oktober", date=october), msg_time=october)
    space.append(mail(since, "November", date=recent()), msg_time=recent())
    space.write_config(start_at="2026-11-01")

    assert passed(space).published == 1
    later = f"{unique('later')}@example.de"
    space.append(mail(later, "Später", date=recent()))
    assert passed(space).published == 1

    assert on_wiki(reader, space) == {since, later}


def test_start_at_date_with_only_older_mail_never_publishes_it(space: Space, reader: WikiReader) -> None:
    """A folder holding only mail from before `start_at` publishes nothing, in the first pass
    or in any later one."""
    october = datetime(2026, 10, 15, 9, 0, tzinfo=UTC)
    space.append(mail(f"{unique('old')}@example.de", "Oktober", date=october), msg_time=october)
    space.write_config(start_at="2026-11-01")

    first = passed(space)
    second = passed(space)

    assert (first.published, second.published) == (0, 0)
    assert reader.titles(space.prefix) == []


def test_old_mail_is_published_from_the_beginning_but_gets_no_reply(
    space: Space, reader: WikiReader, sink: SmtpSink
) -> None:
    """`start_at = "beginning"` publishes old mail too, but nobody gets a reply to mail older than
    `reply_max_age_days`; recent mail in the same pass does get one."""
    old = f"{unique('old')}@example.de"
    fresh = f"{unique('fresh')}@example.de"
    old_date = recent() - timedelta(days=60)
    space.append(
        mail(old, "Altes Angebot", "Jürgen Müller <juergen@example.de>", date=old_date), msg_time=old_date
    )
    space.append(mail(fresh, "Neues Angebot", "Jürgen Müller <juergen@example.de>"))
    space.write_config(
        smtp=smtp_section(sink),
        address=TEAM_ADDRESS,
        reply="every",
        reply_max_age_days=14,
        start_at="beginning",
    )

    result, events = run(space)

    assert result is not None and result.published == 2
    assert on_wiki(reader, space) == {old, fresh}
    [suppressed] = [e for e in events if e["event"] == "reply.suppressed"]
    assert suppressed["message_id"] == old and "older than 14 days" in suppressed["reason"]
    assert [m.message["In-Reply-To"] for m in sink.messages] == [f"<{fresh}>"]


# -- dry run ---------------------------------------------------------------------------------


def bot_edits_since(reader: WikiReader, mediawiki: MediaWikiServer, since: str) -> int:
    """Edits (and uploads) of the bridge's account since `since` (an ISO timestamp)."""
    body = reader.get(
        action="query", list="usercontribs", ucuser=mediawiki.bot_user, ucend=since, uclimit="max"
    )
    return len(body["query"]["usercontribs"])


def test_dry_run_describes_everything_and_changes_nothing(
    space: Space, reader: WikiReader, mediawiki: MediaWikiServer, sink: SmtpSink
) -> None:
    """`once --dry-run` prints the pages, replies, quarantines and moves it would make, and makes
    none: no wiki edit, no mail sent, no flag or folder changed, no state advanced."""
    root = f"{unique('dry-root')}@example.de"
    answer = f"{unique('dry-answer')}@example.de"
    stranger = f"{unique('dry-stranger')}@example.de"
    archive = f"{space.folders[0]}-Archiv"
    space.append(mail(root, "Jahresplanung", "Jürgen Müller <juergen@example.de>"))
    space.append(mail(answer, "AW: Jahresplanung", in_reply_to=root), flags=["\\Seen"])
    space.append(mail(stranger, "Gewinnspiel", "Promo <promo@lottery.example>"))
    space.write_config(
        smtp=smtp_section(sink),
        address=TEAM_ADDRESS,
        reply="first",
        allowed_senders=["*@example.de"],
        after_publish="move",
        archive_folder=archive,
    )
    mailbox_before = folder_mail(space.dovecot, space.user, space.folders[0])
    since = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    edits_before = bot_edits_since(reader, mediawiki, since)

    output = cli_ok(space, "once", "--dry-run")

    assert "would create page" in output and "Jahresplanung" in output
    assert "would send reply to juergen@example.de" in output
    assert "would send reply to anna@example.de" in output
    assert re.search(r"would .*quarantine .*not in allowed_senders", output)
    assert re.search(r"would .*move to '" + re.escape(archive) + "'", output)
    assert "dry run: nothing was changed" in output
    assert bot_edits_since(reader, mediawiki, since) == edits_before
    assert reader.titles(space.prefix) == []
    assert sink.messages == []
    assert folder_mail(space.dovecot, space.user, space.folders[0]) == mailbox_before
    assert folder_mail(space.dovecot, space.user, archive) is None
    assert cli_ok(space, "quarantine", "list").strip() == "no quarantined mail"

    real = cli_ok(space, "once")

    assert "2 published" in real and "1 quarantined" in real
    assert on_wiki(reader, space) == {root, answer}
    assert set(folder_mail(space.dovecot, space.user, archive) or {}) == {root, answer}
    assert folder_mail(space.dovecot, space.user, space.folders[0]) == {
        stranger: frozenset({"$WikiQuarantine"})
    }
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == ["anna@example.de", "juergen@example.de"]


def test_person_marking_mail_deleted_is_not_undone_by_flagging(space: Space) -> None:
    """Flagging published mail adds only `$Wiki`: a \\Deleted a person set meanwhile stays, and
    nothing is expunged."""
    message_id = f"{unique('marked')}@example.de"
    space.append(mail(message_id, "Wird gelöscht"))
    space.write_config(after_publish="flag", start_at="beginning")
    add_flags(space.dovecot, space.user, space.folders[0], message_id, ["\\Deleted"])

    assert passed(space).published == 1

    assert folder_mail(space.dovecot, space.user, space.folders[0]) == {
        message_id: frozenset({"\\Deleted", "$Wiki"})
    }
