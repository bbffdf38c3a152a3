"""Demo: publish the sample team mailbox to a throwaway wiki with one bridge pass.

Starts Dovecot and MediaWiki on 127.0.0.1 (tests/servers.py), APPENDs the sample mailbox
(tests/data/sample-mailbox) to the INBOX of IMAP user team-sales, writes a configuration and
its secret files, runs ``email-wiki-bridge --config CONFIG once`` and prints the URLs of the
pages it created. The servers keep running until Enter is pressed (or not at all with
``--no-wait``); then they are stopped and their directory is removed (unless ``--keep``).

Run it through ``scripts/demo.sh``, which prepares the machine and the virtualenv first.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests/servers.py is not part of the installed package

from tests.servers import (  # noqa: E402 - needs the sys.path entry above
    DovecotServer,
    MediaWikiServer,
    append_mail,
    make_temp_dir,
    start_dovecot,
    start_mediawiki,
)

SAMPLE = REPO / "tests" / "data" / "sample-mailbox"
IMAP_USER = "team-sales"
IMAP_PASSWORD = "secret-sales"  # noqa: S105 - of a throwaway server on 127.0.0.1
PAGE_PREFIX = "Sales/Mail"
CATEGORIES = ["Sales mail"]


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-wait", action="store_true", help="stop the servers right after the pass")
    parser.add_argument("--keep", action="store_true", help="keep the servers' directory (logs, data)")
    return parser.parse_args()


def write_secret(path: Path, value: str) -> Path:
    """Write a secret file readable by its owner only (the bridge warns about looser modes)."""
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(value, encoding="utf-8")
    return path


def toml_string(value: str) -> str:
    """Quote a string for TOML (a JSON string is a valid TOML basic string)."""
    return json.dumps(value)


def write_config(directory: Path, dovecot: DovecotServer, wiki: MediaWikiServer) -> Path:
    """Write the bridge configuration for the two servers and return its path."""
    wiki_secret = write_secret(directory / "secrets" / "wiki", wiki.bot_password)
    imap_secret = write_secret(directory / "secrets" / "sales", IMAP_PASSWORD)
    config = directory / "config.toml"
    config.write_text(
        "\n".join(
            [
                "[wiki]",
                f"api_url = {toml_string(wiki.api_url)}",
                f"username = {toml_string(wiki.bot_login)}",
                f"password_file = {toml_string(str(wiki_secret))}",
                "",
                "[state]",
                f"path = {toml_string(str(directory / 'state.sqlite3'))}",
                "",
                "[[mailboxes]]",
                'name = "sales"',
                f"host = {toml_string(dovecot.host)}",
                f"port = {dovecot.port}",
                'security = "none"',
                f"username = {toml_string(IMAP_USER)}",
                f"password_file = {toml_string(str(imap_secret))}",
                'folders = ["INBOX"]',
                f"page_prefix = {toml_string(PAGE_PREFIX)}",
                f"categories = [{', '.join(toml_string(c) for c in CATEGORIES)}]",
                "",
            ]
        ),
        encoding="utf-8",
    )
    return config


def load_sample_mailbox(dovecot: DovecotServer) -> int:
    """APPEND every sample message to the INBOX, in file-name order; return how many."""
    files = sorted(SAMPLE.glob("*.eml"))
    for path in files:
        append_mail(dovecot, IMAP_USER, "INBOX", path.read_bytes())
    return len(files)


def run_bridge(config: Path) -> int:
    """Run one pass of the installed command line; its output goes straight to the terminal."""
    # The console script lives next to the interpreter of the venv running this demo.
    command = Path(sys.executable).parent / "email-wiki-bridge"
    if not command.exists():
        print(f"demo: {command} not found; run scripts/setup.sh first", file=sys.stderr)
        return 127
    completed = subprocess.run([str(command), "--config", str(config), "once"], check=False, timeout=600)
    return completed.returncode


def page_titles(wiki: MediaWikiServer) -> list[str]:
    """Return the titles of all main-namespace pages under the page prefix."""
    titles: list[str] = []
    params: dict[str, str] = {
        "action": "query",
        "list": "allpages",
        "apprefix": PAGE_PREFIX,
        "apnamespace": "0",
        "aplimit": "max",
        "format": "json",
        "formatversion": "2",
    }
    with requests.Session() as session:
        while True:
            body = session.get(wiki.api_url, params=params, timeout=30).json()
            titles.extend(page["title"] for page in body["query"]["allpages"])
            if "continue" not in body:
                return titles
            params.update(body["continue"])


def main() -> int:
    """Run the demo; return the bridge's exit status."""
    args = parse_args()
    root = make_temp_dir("ewb-demo-")
    dovecot: DovecotServer | None = None
    wiki: MediaWikiServer | None = None
    try:
        started = time.monotonic()
        dovecot = start_dovecot(root / "imap", {IMAP_USER: IMAP_PASSWORD})
        wiki = start_mediawiki(root / "wiki")
        print(f"demo: Dovecot and MediaWiki started in {time.monotonic() - started:.1f} s")
        count = load_sample_mailbox(dovecot)
        print(f"demo: {count} sample messages appended to {IMAP_USER}'s INBOX")
        config = write_config(root, dovecot, wiki)
        print(f"demo: running email-wiki-bridge --config {config} once")
        print("-" * 78, flush=True)
        status = run_bridge(config)
        print("-" * 78)
        if status != 0:
            print(f"demo: the bridge exited with status {status}", file=sys.stderr)

        titles = page_titles(wiki)
        print(f"demo: {len(titles)} pages under {PAGE_PREFIX}/:")
        for title in titles:
            print(f"  {wiki.page_url(title)}")
        print(f"\nWiki:  {wiki.server_url}/  (log in as {wiki.admin_user} / {wiki.admin_password})")
        print(f"IMAP:  {dovecot.host}:{dovecot.port} (plain), user {IMAP_USER} / {IMAP_PASSWORD}")
        print(f"Files: {root}  (config.toml, state.sqlite3, imap/log, wiki/logs)")
        if not args.no_wait:
            with contextlib.suppress(EOFError):  # no terminal: stop right away
                input("\nPress Enter to stop the servers ... ")
        return status
    except KeyboardInterrupt:
        return 130
    finally:
        for server in (wiki, dovecot):
            if server is not None:
                server.stop()
        if args.keep:
            print(f"demo: kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
