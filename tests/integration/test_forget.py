"""`forget` against the real MediaWiki and Dovecot: a person erased from pages, history, files, search, state.

The bridge's own bot account publishes; `forget` runs with the bot password of an account that
has the rights revision deletion needs, as an admin would set it up: MediaWiki 1.39 gives
`delete` to sysops and `deleterevision` to the suppress group. A person's text stays.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest

from bridge.adapters.state.store import SqliteStateStore
from tests.integration.support import Space, WikiReader, make_mail
from tests.integration.test_attachments import pdf_document
from tests.servers import MediaWikiServer, wiki_login

ANNA = "Zitronenfalter.Anna@example.org"
SECRET_TEXT = "Kohlweissling Gehaltsvorstellung"
BERND_TEXT = "Danke, wir melden uns."
_FORGET_APP = "forget"
_CURATOR = "Curator"
_FORGET_PASSWORD = "0123456789abcdef0123456789abcdef"  # bot passwords must be [0-9a-w]{32,}


@pytest.fixture(scope="module")
def admin_bot(mediawiki: MediaWikiServer) -> Iterator[str]:
    """An account with `delete` and `deleterevision` and its bot password; returns the login name."""
    mediawiki.run_maintenance(
        "createAndPromote", "--sysop", "--custom-groups", "suppress", _CURATOR, "curator-secret-pass-1"
    )
    grants = "basic,highvolume,editpage,createeditmovepage,uploadfile,uploadeditmovefile,delete"
    mediawiki.run_maintenance(
        "createBotPassword", "--appid", _FORGET_APP, "--grants", grants, _CURATOR, _FORGET_PASSWORD
    )
    yield f"{_CURATOR}@{_FORGET_APP}"


def _anna_mail(message_id: str, subject: str, body: str, reply_to: str | None = None) -> bytes:
    mail = EmailMessage()
    mail["Return-Path"] = f"<{ANNA}>"
    mail["From"] = f"Anna Zitronenfalter <{ANNA}>"
    mail["To"] = "team-sales@example.de"
    mail["Subject"] = subject
    mail["Date"] = format_datetime(datetime(2026, 11, 20, 9, len(body) % 50, tzinfo=UTC))
    mail["Message-ID"] = f"<{message_id}>"
    if reply_to:
        mail["In-Reply-To"] = f"<{reply_to}>"
    mail.set_content(body)
    mail.add_attachment(
        pdf_document(body[:12]), maintype="application", subtype="pdf", filename="lebenslauf.pdf"
    )
    return mail.as_bytes()


def _forget_config(space: Space, login: str) -> Path:
    """The space's config, logging in to the wiki with the sysop's bot password."""
    secret = space.directory / "secrets" / "wiki-forget"
    secret.write_text(_FORGET_PASSWORD)
    secret.chmod(0o600)
    text = space.config_path.read_text()
    text = text.replace(f'"{space.mediawiki.bot_login}"', f'"{login}"')
    text = text.replace(str(space.directory / "secrets" / "wiki"), str(secret))
    path = space.directory / "forget.toml"
    path.write_text(text)
    return path


def _human_comment(mediawiki: MediaWikiServer, title: str, comment: str) -> None:
    human = wiki_login(mediawiki, mediawiki.human_user, mediawiki.human_password)
    token = human.get(
        mediawiki.api_url, params={"action": "query", "meta": "tokens", "format": "json"}
    ).json()
    answer = human.post(
        mediawiki.api_url,
        data={
            "action": "edit",
            "title": title,
            "appendtext": f"\n\n{comment}\n",
            "token": token["query"]["tokens"]["csrftoken"],
            "format": "json",
        },
    ).json()
    assert answer["edit"]["result"] == "Success"


def _visible_history(reader: WikiReader, title: str) -> list[str]:
    body = reader.get(
        action="query", prop="revisions", titles=title, rvprop="ids|content", rvslots="main", rvlimit="max"
    )
    texts = []
    for revision in body["query"]["pages"][0]["revisions"]:
        main = revision["slots"]["main"]
        if not main.get("texthidden"):
            texts.append(str(main["content"]))
    return texts


def _search(reader: WikiReader, words: str) -> int:
    return int(
        reader.get(action="query", list="search", srsearch=words, srwhat="text")["query"]["searchinfo"][
            "totalhits"
        ]
    )


def test_forget_erases_a_person_and_keeps_everyone_else(
    space: Space, reader: WikiReader, mediawiki: MediaWikiServer, admin_bot: str
) -> None:
    space.append(_anna_mail("anna-1@example.org", "Bewerbung Vertrieb", f"Guten Tag,\n{SECRET_TEXT}.\n"))
    space.append(
        make_mail(
            "bernd-1@example.de",
            "AW: Bewerbung Vertrieb",
            f"{BERND_TEXT}\nAntwort an {ANNA}",
            sender="Bernd Weber <bernd@example.de>",
            to=f"Anna Zitronenfalter <{ANNA}>, Carla Roth <carla@example.de>",
            in_reply_to="anna-1@example.org",
        )
    )
    space.append(
        make_mail("carla-1@example.de", "Messeplanung", "Stand 48", sender="Carla Roth <carla@example.de>")
    )
    space.write_config()
    assert space.run_pass().published == 3
    [thread, other] = sorted(reader.titles(space.prefix), key=lambda t: "Messe" in t)
    _human_comment(mediawiki, thread, "Alice: Kandidatin eingeladen.")
    space.append(
        _anna_mail(
            "anna-2@example.org", "AW: Bewerbung Vertrieb", "Nachtrag Zitronenfalter", "bernd-1@example.de"
        )
    )
    assert space.run_pass().published == 1
    other_revision = reader.revisions(other)[0]["revid"]
    images = reader.get(action="query", prop="images", titles=thread)["query"]["pages"][0]["images"]
    files = [str(image["title"]) for image in images]
    assert len(files) == 2  # Anna's two CVs
    assert ANNA.lower() in reader.text(thread).lower()
    assert _search(reader, "Kohlweissling") == 1
    markers = reader.parse(thread).message_ids
    assert len(markers) == 3

    # The bridge's own bot lacks the rights: forget refuses and changes nothing.
    refused = space.cli("forget", "--address", ANNA)
    assert refused.returncode == 1 and "deleterevision" in refused.stderr
    assert ANNA.lower() in reader.text(thread).lower()

    config = _forget_config(space, admin_bot)
    dry = space.cli("--config", str(config), "forget", "--address", ANNA.lower(), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert (
        f"page {thread}: would be rewritten" in dry.stdout and "2 message(s) would be removed" in dry.stdout
    )
    assert ANNA.lower() in reader.text(thread).lower()

    done = space.cli("--config", str(config), "forget", "--address", ANNA.upper())
    assert done.returncode == 0, done.stderr
    assert ANNA.lower() not in (done.stdout + done.stderr).lower()  # not even in the log

    text = reader.text(thread)
    for history in _visible_history(reader, thread):
        assert (
            ANNA.lower() not in history.lower()
            and SECRET_TEXT not in history
            and "Zitronenfalter" not in history
        )
    assert (
        "Nachricht auf Wunsch der Person entfernt" in text
        or "Message removed at the person's request" in text
    )
    assert BERND_TEXT in text and "Carla Roth" in text and "Alice: Kandidatin eingeladen." in text
    assert reader.parse(thread).message_ids == markers  # still published: never again
    assert _search(reader, "Kohlweissling") == 0 and _search(reader, "Zitronenfalter") == 0
    for file in files:
        assert reader.get(action="query", titles=file)["query"]["pages"][0].get("missing")
    assert reader.revisions(other)[0]["revid"] == other_revision  # another thread is untouched

    # The state keeps no readable trace, not even in freed pages or the write-ahead log.
    store_files = [space.state_path, space.state_path.with_name(space.state_path.name + "-wal")]
    raw = b"".join(path.read_bytes() for path in store_files if path.exists())
    assert ANNA.lower().encode() not in raw.lower()
    state = SqliteStateStore(space.state_path)
    try:
        [audit] = state.audit_entries()
        assert "messages=2" in audit.summary and "anna" not in audit.summary.lower()
    finally:
        state.close()

    # The mail is still in the mailbox: a later pass publishes none of it again.
    assert space.run_pass().published == 0
    assert reader.text(thread) == text


def test_check_tells_whether_forget_can_run(space: Space, admin_bot: str) -> None:
    space.append(make_mail("check-forget@example.de", "Folder exists"))
    space.write_config()
    plain = space.cli("check")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "WARN  wiki: no deleterevision, delete: `forget`" in plain.stdout
    curator = space.cli("--config", str(_forget_config(space, admin_bot)), "check")
    assert "ok    wiki: rights deleterevision, delete (for `forget`)" in curator.stdout


def test_forget_finds_a_person_on_pages_that_show_no_addresses(
    space: Space, reader: WikiReader, admin_bot: str
) -> None:
    space.append(_anna_mail("anna-hidden@example.org", "Urlaubsantrag", f"Hallo,\n{SECRET_TEXT}\n"))
    space.append(
        make_mail(
            "bernd-hidden@example.de",
            "AW: Urlaubsantrag",
            BERND_TEXT,
            sender="Bernd Weber <bernd@example.de>",
            in_reply_to="anna-hidden@example.org",
        )
    )
    space.write_config(show_addresses="none")
    assert space.run_pass().published == 2
    [thread] = reader.titles(space.prefix)
    assert ANNA.lower() not in reader.text(thread).lower() and SECRET_TEXT in reader.text(thread)

    done = space.cli("--config", str(_forget_config(space, admin_bot)), "forget", "--address", ANNA)
    assert done.returncode == 0, done.stderr
    assert "1 message(s) removed" in done.stdout
    text = reader.text(thread)
    assert SECRET_TEXT not in text and "Zitronenfalter" not in text and BERND_TEXT in text
    assert all(SECRET_TEXT not in history for history in _visible_history(reader, thread))
