"""XOAUTH2 against a real Dovecot whose `oauth2` passdb asks a token checker on loopback
(OAuth 2.0 token introspection, RFC 7662): the token comes from the mapping's token_command."""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from tests.integration.service_support import ServiceSpace, marker_counts, page_texts
from tests.integration.support import make_mail, unique
from tests.servers import DovecotServer, MediaWikiServer, append_mail, make_temp_dir, start_dovecot

USER = "team-oauth"
VALID_TOKEN = "ya29.valid-" + secrets.token_hex(8)


class TokenChecker(ThreadingHTTPServer):
    """A tiny introspection endpoint: exactly one token is active, and it belongs to USER."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _IntrospectionHandler)
        self.seen: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        """The introspection URL Dovecot posts tokens to."""
        return f"http://127.0.0.1:{self.server_port}/introspect"


class _IntrospectionHandler(BaseHTTPRequestHandler):
    server: TokenChecker

    def do_POST(self) -> None:
        """Answer `token=…` (introspection_mode = post) with RFC 7662 JSON."""
        length = int(self.headers.get("Content-Length", "0"))
        token = parse_qs(self.rfile.read(length).decode("ascii")).get("token", [""])[0]
        with self.server.lock:
            self.server.seen.append(token)
        answer = {"active": True, "username": USER} if token == VALID_TOKEN else {"active": False}
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture(scope="module")
def token_checker() -> Iterator[TokenChecker]:
    """The token checker, serving in a background thread."""
    checker = TokenChecker()
    thread = threading.Thread(target=checker.serve_forever, daemon=True)
    thread.start()
    yield checker
    checker.shutdown()
    checker.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def oauth_dovecot(token_checker: TokenChecker) -> Iterator[DovecotServer]:
    """A second Dovecot that accepts XOAUTH2 through its oauth2 passdb (introspection by POST)."""
    root = make_temp_dir("ewb-oa-")
    settings = root / "dovecot-oauth2.conf.ext"
    settings.write_text(
        "introspection_mode = post\n"
        f"introspection_url = {token_checker.url}\n"
        "username_attribute = username\n"
        "active_attribute = active\n"
        "active_value = true\n"
    )
    settings.chmod(0o644)  # read by Dovecot's unprivileged auth process
    extra = (
        "auth_mechanisms = plain login xoauth2 oauthbearer\n"
        "passdb {\n"
        "  driver = oauth2\n"
        "  mechanisms = xoauth2 oauthbearer\n"
        f"  args = {settings}\n"
        "}\n"
    )
    # The user's IMAP password is random and never used: only the token logs in.
    server = start_dovecot(root / "imap", {USER: secrets.token_hex(12)}, extra_config=extra)
    yield server
    server.stop()
    server.cleanup()
    shutil.rmtree(root, ignore_errors=True)


def _token_command(directory: Path, output: str) -> tuple[list[str], Path]:
    """A token command printing `output` and counting its runs; return it and its counter file."""
    counter = directory / "token-runs"
    script = directory / "token.py"
    script.write_text(
        "import pathlib, sys\n"
        f"counter = pathlib.Path({str(counter)!r})\n"
        "with counter.open('a') as runs:\n"
        "    runs.write('run\\n')\n"
        f"sys.stdout.write({output!r})\n"
    )
    return [sys.executable, str(script)], counter


def _runs(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


@pytest.fixture
def space(oauth_dovecot: DovecotServer, mediawiki: MediaWikiServer, tmp_path: Path) -> ServiceSpace:
    """A config and state file of this test."""
    return ServiceSpace(dovecot=oauth_dovecot, mediawiki=mediawiki, directory=tmp_path)


def test_xoauth2_token_command_logs_in_and_once_publishes(
    space: ServiceSpace, token_checker: TokenChecker
) -> None:
    """The token from token_command (JSON with expires_in) logs in; the mail is published; one run."""
    name = unique("Oauth")
    folder, prefix = f"{name}-in", f"{name}/Mail"
    append_mail(space.dovecot, USER, folder, make_mail("oauth-1@example.de", "Token login"))
    command, counter = _token_command(
        space.directory, json.dumps({"access_token": VALID_TOKEN, "expires_in": 3599, "token_type": "Bearer"})
    )
    space.write_config(
        [space.mailbox("oauth", folder, prefix, user=USER, auth="xoauth2", token_command=command)]
    )
    checked_before = len(token_checker.seen)

    completed = space.cli("once")

    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "oauth: 1 published" in completed.stdout
    assert marker_counts(page_texts(space.mediawiki, prefix).values()) == {"oauth-1@example.de": 1}
    assert _runs(counter) == 1
    assert token_checker.seen[checked_before:] == [VALID_TOKEN]
    assert VALID_TOKEN not in completed.stderr + completed.stdout


def test_xoauth2_wrong_token_fails_the_mailbox_with_a_clear_error(
    space: ServiceSpace, token_checker: TokenChecker
) -> None:
    """A refused token fails the mailbox (exit 1) naming the refused login; nothing is published."""
    name = unique("Oauthbad")
    folder, prefix = f"{name}-in", f"{name}/Mail"
    append_mail(space.dovecot, USER, folder, make_mail("oauth-bad@example.de", "Token refused"))
    wrong = "ya29.revoked-" + secrets.token_hex(8)
    command, counter = _token_command(space.directory, wrong + "\n")
    space.write_config(
        [space.mailbox("oauth", folder, prefix, user=USER, auth="xoauth2", token_command=command)]
    )

    completed = space.cli("once")

    assert completed.returncode == 1
    assert "oauth: FAILED" in completed.stdout
    failures = [json.loads(line) for line in completed.stderr.splitlines() if '"pass.failed"' in line]
    assert len(failures) == 1, completed.stderr[-3000:]
    error = failures[0]["error"]
    assert "refused the login" in error and repr(USER) in error, error
    # The hint must point at what an XOAUTH2 mapping has: a token (command), not a password.
    assert "token" in error and "password" not in error, error
    assert wrong not in completed.stderr + completed.stdout
    # A refused token is fetched anew once (it may have been revoked), then the login fails.
    assert _runs(counter) == 2
    assert token_checker.seen[-2:] == [wrong, wrong]
    assert page_texts(space.mediawiki, prefix) == {}
