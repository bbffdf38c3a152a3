"""Helpers for integration tests: per-test spaces (IMAP folder + page prefix + config) and a
reader that checks the real wiki through its API."""

from __future__ import annotations

import html
import itertools
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import requests

from bridge.adapters.state.store import open_state_store
from bridge.adapters.wiki import WikiClient
from bridge.errors import BridgeError
from bridge.service.config import Settings, load_settings
from bridge.service.daemon import run_pass as daemon_run_pass
from bridge.sync.mailbox_pass import MailboxSync, PassResult
from bridge.sync.wikisetup import install_templates
from tests.servers import DovecotServer, MediaWikiServer, SmtpSink, append_mail, wiki_login

_counter = itertools.count(1)


def unique(stem: str) -> str:
    """Return a name unique within the test session (folders and page prefixes are shared)."""
    return f"{stem}{next(_counter)}"


def make_mail(
    message_id: str | None,
    subject: str,
    body: str = "Hello team,\nplease see below.\n",
    *,
    sender: str = "Jürgen Müller <juergen@example.de>",
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    date: datetime | None = None,
    headers: Sequence[tuple[str, str]] = (),
    to: str = "team-sales@example.de",
) -> bytes:
    """Build a real RFC 5322 mail (UTF-8, encoded headers) as bytes.

    ``headers`` come first, in order, as a delivering MTA prepends trace headers such as
    ``Return-Path`` and ``Authentication-Results``.
    """
    mail = EmailMessage()
    for name, value in headers:
        mail[name] = value
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = format_datetime(date or datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    if message_id is not None:
        mail["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        mail["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        mail["References"] = " ".join(f"<{ref}>" for ref in references)
    mail.set_content(body)
    return mail.as_bytes()


def delivered(message_id: str, subject: str, sender: str, in_reply_to: str | None = None) -> bytes:
    """A mail as delivered: its Return-Path first, dated a few minutes ago."""
    address = sender.rpartition("<")[2].rstrip(">")
    date = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    headers = [("Return-Path", f"<{address}>")]
    return make_mail(message_id, subject, sender=sender, headers=headers, date=date, in_reply_to=in_reply_to)


@dataclass
class Space:
    """One mapping under test: its IMAP folder(s), page prefix, config file and state file."""

    dovecot: DovecotServer
    mediawiki: MediaWikiServer
    directory: Path
    user: str
    folders: list[str]
    prefix: str
    categories: list[str]
    # `[state] url` of a PostgreSQL database; None keeps the state in the SQLite file.
    state_url: str | None = None

    @property
    def config_path(self) -> Path:
        return self.directory / "config.toml"

    @property
    def state_path(self) -> Path:
        return self.directory / "state.sqlite3"

    def append(
        self,
        raw: bytes,
        folder: str | None = None,
        *,
        flags: Iterable[str] = (),
        msg_time: datetime | None = None,
    ) -> int | None:
        return append_mail(
            self.dovecot, self.user, folder or self.folders[0], raw, flags=flags, msg_time=msg_time
        )

    def mailbox_table(self, **overrides: Any) -> dict[str, Any]:
        """Return this space's ``[[mailboxes]]`` entry with ``overrides`` applied."""
        mailbox: dict[str, Any] = {
            "name": "sales",
            "host": self.dovecot.host,
            "port": self.dovecot.port,
            "security": "none",
            "username": self.user,
            "password_file": str(self.secret_file(self.user, self.dovecot.users[self.user])),
            "folders": self.folders,
            "page_prefix": self.prefix,
            "categories": self.categories,
        }
        mailbox.update(overrides)
        return mailbox

    def write_config(
        self,
        extra_mailboxes: list[dict[str, Any]] | None = None,
        *,
        smtp: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> Path:
        """Write a config for this space (plus optional further mailboxes) and return its path.

        ``smtp`` becomes the ``[smtp]`` section (see :func:`smtp_section`); a mailbox's ``routes``
        (a list of tables) its ``[[mailboxes.routes]]``. The metrics endpoint
        is off, so daemons started by tests do not compete for its default port.
        """
        secrets = self.directory / "secrets"
        secrets.mkdir(exist_ok=True, mode=0o700)
        wiki_secret = secrets / "wiki"
        wiki_secret.write_text(self.mediawiki.bot_password)
        wiki_secret.chmod(0o600)
        mailbox = self.mailbox_table(**overrides)
        lines = [
            "[wiki]",
            f"api_url = {json.dumps(self.mediawiki.api_url)}",
            f"username = {json.dumps(self.mediawiki.bot_login)}",
            f"password_file = {json.dumps(str(wiki_secret))}",
            "[state]",
            f"path = {json.dumps(str(self.state_path))}",
            *([f"url = {json.dumps(self.state_url)}"] if self.state_url else []),
            "[log]",
            'format = "json"',
            "[service]",
            'metrics_listen = ""',
        ]
        if smtp is not None:
            lines.append("[smtp]")
            lines.extend(f"{key} = {json.dumps(value)}" for key, value in smtp.items())
        for entry in [mailbox, *(extra_mailboxes or [])]:
            lines.append("[[mailboxes]]")
            lines.extend(f"{key} = {json.dumps(value)}" for key, value in entry.items() if key != "routes")
            for route in entry.get("routes", []):
                lines.append("[[mailboxes.routes]]")
                lines.extend(f"{key} = {json.dumps(value)}" for key, value in route.items())
        self.config_path.write_text("\n".join(lines) + "\n")
        return self.config_path

    def secret_file(self, name: str, value: str) -> Path:
        path = self.directory / "secrets" / f"imap-{name}"
        path.parent.mkdir(exist_ok=True, mode=0o700)
        path.write_text(value)
        path.chmod(0o600)
        return path

    def settings(self) -> Settings:
        if not self.config_path.exists():
            self.write_config()
        return load_settings(self.config_path)

    def run_pass(self, wiki: WikiClient | None = None, mailbox_index: int = 0) -> PassResult:
        """Run one pass in-process (so tests can inject a wrapped wiki client)."""
        settings = self.settings()
        client = wiki or WikiClient(settings.wiki)
        state = open_state_store(settings.state)
        install_templates(client, only_missing=True)  # as the command line does at start-up
        try:
            return MailboxSync(settings.mailboxes[mailbox_index], client, state).run()
        finally:
            state.close()
            client.close()

    def bridge_pass(self, mailbox_index: int = 0) -> PassResult | None:
        """Run one full pass in-process as the daemon does (link replies, mail actions included).

        Returns None when the pass failed (logged as ``pass.failed``), like ``daemon.run_pass``.
        """
        settings = self.settings()
        state = open_state_store(settings.state)
        # As the command line does at start-up: missing templates are installed, and a wiki
        # that refuses now leaves it to the pass to report.
        client = WikiClient(settings.wiki)
        try:
            install_templates(client, only_missing=True)
        except BridgeError:
            pass
        finally:
            client.close()
        try:
            return daemon_run_pass(settings.mailboxes[mailbox_index], settings, state)
        finally:
            state.close()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the real command line as a subprocess."""
        return subprocess.run(
            [sys.executable, "-m", "bridge", "--config", str(self.config_path), *args],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


def smtp_section(sink: SmtpSink, **overrides: Any) -> dict[str, Any]:
    """Return an ``[smtp]`` section sending through ``sink`` (plain SMTP on loopback, no login)."""
    section: dict[str, Any] = {
        "host": sink.host,
        "port": sink.port,
        "security": "none",
        "from_address": "wiki-bridge@example.de",
    }
    section.update(overrides)
    return section


_MESSAGE_ID_HEADER = b"BODY[HEADER.FIELDS (MESSAGE-ID)]"


def _imap_login(dovecot: DovecotServer, user: str) -> Any:
    from imapclient import IMAPClient  # type: ignore[import-untyped, unused-ignore]

    client = IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=10)
    client.login(user, dovecot.users[user])
    return client


def _logout(client: Any) -> None:
    try:
        client.logout()
    except Exception:  # the answer matters, not a failed goodbye
        client.shutdown()


def folder_mail(dovecot: DovecotServer, user: str, folder: str) -> dict[str, frozenset[str]] | None:
    """Return Message-ID (as written, without brackets) -> FLAGS of every mail in ``folder``.

    None when the folder does not exist. The folder is EXAMINEd, so nothing in it changes.
    ``\\Recent`` is left out: it only tells which session saw a mail first.
    """
    client = _imap_login(dovecot, user)
    try:
        if not client.folder_exists(folder):
            return None
        client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        if not uids:
            return {}
        response = client.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        found: dict[str, frozenset[str]] = {}
        for uid, data in response.items():
            header = bytes(data.get(_MESSAGE_ID_HEADER, b"")).decode("ascii", "replace")
            match = re.search(r"<([^<>]+)>", header)
            key = match.group(1) if match else f"uid:{uid}"
            flags = {flag.decode() if isinstance(flag, bytes) else str(flag) for flag in data[b"FLAGS"]}
            found[key] = frozenset(flags - {"\\Recent"})
        return found
    finally:
        _logout(client)


def add_flags(dovecot: DovecotServer, user: str, folder: str, message_id: str, flags: Sequence[str]) -> None:
    """Set ``flags`` on the mail with ``message_id`` in ``folder``, as a person's mail client would."""
    client = _imap_login(dovecot, user)
    try:
        client.select_folder(folder)
        uids = client.search(["HEADER", "Message-ID", message_id])
        assert uids, f"no mail {message_id} in {folder}"
        client.add_flags(uids, list(flags))
    finally:
        _logout(client)


class _MarkerFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.message_ids: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name == "data-message-id" and value is not None:
                self.message_ids.append(value)


@dataclass(frozen=True)
class ParsedPage:
    """What the real wiki made of a page (`action=parse`)."""

    html: str
    message_ids: list[str]
    tags: list[str]
    categories: list[str]
    links: list[str]
    templates: list[str]
    sections: list[str]


class WikiReader:
    """Reads the real wiki anonymously (reading is public) to check what the bridge wrote."""

    def __init__(self, mediawiki: MediaWikiServer) -> None:
        self.api = mediawiki.api_url
        self.session = requests.Session()

    def get(self, **params: Any) -> dict[str, Any]:
        response = self.session.get(
            self.api, params={**params, "format": "json", "formatversion": "2"}, timeout=30
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        assert "error" not in body, body
        return body

    def titles(self, prefix: str) -> list[str]:
        """All page titles under `prefix/` in the main namespace."""
        body = self.get(action="query", list="allpages", apprefix=f"{prefix}/", aplimit="max")
        return sorted(page["title"] for page in body["query"]["allpages"])

    def parse(self, title: str) -> ParsedPage:
        body = self.get(action="parse", page=title, prop="text|categories|links|templates|sections")
        parse = body["parse"]
        finder = _MarkerFinder()
        finder.feed(parse["text"])
        return ParsedPage(
            html=parse["text"],
            message_ids=finder.message_ids,
            tags=finder.tags,
            categories=[c["category"] for c in parse["categories"]],
            links=[link["title"] for link in parse["links"]],
            templates=[t["title"] for t in parse["templates"]],
            sections=[html.unescape(s["line"]) for s in parse["sections"]],
        )

    def text(self, title: str) -> str:
        """The current wikitext of a page ("" when it does not exist)."""
        body = self.get(action="query", prop="revisions", titles=title, rvprop="content", rvslots="main")
        revisions = body["query"]["pages"][0].get("revisions", [])
        return str(revisions[0]["slots"]["main"]["content"]) if revisions else ""

    def revisions(self, title: str) -> list[dict[str, Any]]:
        body = self.get(
            action="query", prop="revisions", titles=title, rvprop="ids|user|comment", rvlimit="max"
        )
        return list(body["query"]["pages"][0].get("revisions", []))

    def _all(self, key: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a query list or generator, following API continuation."""
        items: list[dict[str, Any]] = []
        request = params
        while True:
            body = self.get(**request)
            items.extend(body.get("query", {}).get(key, []))
            if "continue" not in body:
                return items
            # Only the latest continuation: a stale `rvcontinue` would skip pages of the next batch.
            request = {**params, **body["continue"]}

    def bot_contributions(self, bot_user: str, prefix: str = "") -> list[dict[str, Any]]:
        """Every edit of the bridge's account (to pages under `prefix/` when given)."""
        contributions = self._all(
            "usercontribs",
            action="query",
            list="usercontribs",
            ucuser=bot_user,
            uclimit="max",
            ucprop="ids|title|flags",
        )
        return [c for c in contributions if not prefix or str(c["title"]).startswith(f"{prefix}/")]

    def bot_edit_count(self, bot_user: str, prefix: str = "") -> int:
        """How many edits the bridge's account made (to pages under `prefix/` when given)."""
        return len(self.bot_contributions(bot_user, prefix))

    def page_texts(self, prefix: str) -> dict[str, str]:
        """The current wikitext of every page under `prefix/`, 50 pages per request."""
        pages = self._all(
            "pages",
            action="query",
            generator="allpages",
            gapprefix=f"{prefix}/",
            gaplimit="50",
            prop="revisions",
            rvprop="content",
            rvslots="main",
        )
        return {
            str(page["title"]): str(revision["slots"]["main"]["content"])
            for page in pages
            for revision in page.get("revisions", [])
        }


def human_edit(mediawiki: MediaWikiServer, title: str, text: str) -> None:
    """Save `text` as page `title`, as the wiki's human user Alice would in the browser."""
    session = wiki_login(mediawiki, mediawiki.human_user, mediawiki.human_password)
    try:
        tokens = session.get(
            mediawiki.api_url, params={"action": "query", "meta": "tokens", "format": "json"}, timeout=30
        ).json()
        data = {"action": "edit", "title": title, "text": text, "format": "json"}
        data["token"] = tokens["query"]["tokens"]["csrftoken"]
        answer = session.post(mediawiki.api_url, data=data, timeout=30).json()
    finally:
        session.close()
    assert answer["edit"]["result"] == "Success", answer


def plain_text(fragment: str) -> str:
    """Visible text of an HTML fragment, entities decoded (for 'the reader sees X' checks)."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment)))


def new_space(
    dovecot: DovecotServer, mediawiki: MediaWikiServer, directory: Path, categories: list[str] | None = None
) -> Space:
    """A fresh mapping on `dovecot`: its own IMAP folder of team-sales, page prefix and state file."""
    name = unique("S")
    return Space(
        dovecot=dovecot,
        mediawiki=mediawiki,
        directory=directory,
        user="team-sales",
        folders=[f"{name}-in"],
        prefix=f"{name}/Mail",
        categories=["Sales mail"] if categories is None else categories,
    )
