"""The raw ceiling: the least a client can do to put the same pages and files on the wiki and to
read the same mails from IMAP.

`raw_wiki` is a minimal `requests` loop: log in, one CSRF token, upload each file once, save each
page's final text with one ``action=edit``. `raw_imap` is a minimal imapclient loop: log in,
select the folder read-only, fetch every mail's ``BODY.PEEK[]`` in batches. Neither parses,
threads, renders or keeps state, so the bridge's time over theirs is what its own work adds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests

_TIMEOUT = 120


@dataclass(frozen=True)
class RawRun:
    """Wall seconds of a raw loop and how much it moved."""

    seconds: float
    items: int


def raw_wiki(
    api_url: str,
    login: str,
    password: str,
    pages: Sequence[tuple[str, str]],
    files: Sequence[tuple[str, bytes]],
) -> RawRun:
    """Upload `files` (name, bytes) and create `pages` (title, wikitext); return the time taken."""
    started = time.perf_counter()
    with requests.Session() as session:
        token = _get(session, api_url, action="query", meta="tokens", type="login")["query"]["tokens"]
        answer = _post(
            session, api_url, action="login", lgname=login, lgpassword=password, lgtoken=token["logintoken"]
        )
        if answer.get("login", {}).get("result") != "Success":
            raise RuntimeError(f"raw loop: login failed: {answer}")
        csrf = _get(session, api_url, action="query", meta="tokens")["query"]["tokens"]["csrftoken"]
        for name, data in files:
            body = _post(
                session,
                api_url,
                files={"file": (name, data, "application/octet-stream")},
                action="upload",
                filename=name,
                ignorewarnings="1",
                comment="raw ceiling",
                token=csrf,
            )
            if body.get("upload", {}).get("result") != "Success":
                raise RuntimeError(f"raw loop: upload of {name!r} failed: {body}")
        for title, text in pages:
            body = _post(
                session,
                api_url,
                action="edit",
                title=title,
                text=text,
                summary="raw ceiling",
                createonly="1",
                bot="1",
                token=csrf,
            )
            if body.get("edit", {}).get("result") != "Success":
                raise RuntimeError(f"raw loop: edit of {title!r} failed: {body}")
    return RawRun(time.perf_counter() - started, len(pages) + len(files))


def _get(session: requests.Session, api_url: str, **params: str) -> dict[str, Any]:
    response = session.get(api_url, params={**params, "format": "json"}, timeout=_TIMEOUT)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def _post(
    session: requests.Session, api_url: str, files: dict[str, Any] | None = None, **data: str
) -> dict[str, Any]:
    response = session.post(api_url, data={**data, "format": "json"}, files=files, timeout=_TIMEOUT)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def raw_imap(host: str, port: int, user: str, password: str, folder: str, batch: int = 500) -> RawRun:
    """Fetch every mail of `folder` once (``BODY.PEEK[]``); return the time taken and the count."""
    from imapclient import IMAPClient  # type: ignore[import-untyped, unused-ignore]

    started = time.perf_counter()
    client = IMAPClient(host, port=port, ssl=False, timeout=_TIMEOUT)
    fetched = 0
    try:
        client.login(user, password)
        client.select_folder(folder, readonly=True)
        uids = client.search("ALL")
        for start in range(0, len(uids), batch):
            fetched += len(client.fetch(uids[start : start + batch], ["BODY.PEEK[]"]))
    finally:
        client.logout()
    return RawRun(time.perf_counter() - started, fetched)
