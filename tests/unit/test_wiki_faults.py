"""WikiClient under faults a real MediaWiki cannot easily be made to produce.

These tests inject faults through a fake `requests.Session` (HTTP 502, HTML instead of JSON,
maxlag refusals, dropped connections) and a recording `sleep`; the behaviour against a real wiki
is covered by the integration tests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from bridge.adapters.wiki import WikiClient
from bridge.errors import WikiError, WikiUnavailableError
from bridge.service.config import Secret, TlsSettings, WikiSettings

API_URL = "https://wiki.example.org/w/api.php"
SETTINGS = WikiSettings(
    api_url=API_URL, username="Bridge@bridge", password=Secret("bot-pass"), tls=TlsSettings(), maxlag=5
)

Answer = requests.Response | Exception


def _response(status: int, body: Any = None, *, text: str | None = None, **headers: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.url = API_URL
    if text is None:
        response._content = json.dumps(body if body is not None else {}).encode()
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json; charset=utf-8", **headers})
    else:
        response._content = text.encode()
        response.headers = CaseInsensitiveDict({"Content-Type": "text/html; charset=utf-8", **headers})
    response.encoding = "utf-8"
    return response


def _key(method: str, params: Mapping[str, Any]) -> str:
    """Name a request by what it asks for: `edit`, `login`, `tokens:login`, `siteinfo` …"""
    action = str(params.get("action"))
    if action == "query" and "meta" in params:
        meta = str(params["meta"])
        return f"tokens:{params['type']}" if meta == "tokens" else meta
    if action == "query" and "prop" in params:
        return str(params["prop"])
    return action


class FakeSession(requests.Session):
    """Answers the login dance itself; every other request takes the next queued answer for its key."""

    def __init__(self, queued: Mapping[str, list[Answer]] | None = None) -> None:
        super().__init__()
        self.queued = {key: list(answers) for key, answers in (queued or {}).items()}
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        assert url == API_URL
        assert kwargs.get("timeout") == SETTINGS.timeout
        sent = dict(params or data or {})
        key = _key(method, sent)
        self.calls.append((method, key, sent))
        if self.queued.get(key):
            answer = self.queued[key].pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return self._default(key, sent)

    def _default(self, key: str, sent: Mapping[str, Any]) -> requests.Response:
        if key == "tokens:login":
            return _response(200, {"query": {"tokens": {"logintoken": "login-token+\\"}}})
        if key == "login":
            assert sent["lgtoken"] == "login-token+\\"
            assert sent["lgpassword"] == "bot-pass"
            return _response(200, {"login": {"result": "Success", "lguserid": 2, "lgusername": "Bridge"}})
        if key == "userinfo":
            return _response(
                200, {"query": {"userinfo": {"name": "Bridge", "rights": ["edit", "createpage"]}}}
            )
        if key == "tokens:csrf":
            return _response(200, {"query": {"tokens": {"csrftoken": "csrf-token+\\"}}})
        raise AssertionError(f"unexpected request {key}: {dict(sent)}")

    def count(self, key: str) -> int:
        return sum(1 for _, called, _ in self.calls if called == key)


def _client(session: FakeSession, max_retries: int = 4) -> tuple[WikiClient, list[float]]:
    sleeps: list[float] = []
    sleep: Callable[[float], None] = sleeps.append
    return WikiClient(SETTINGS, session=session, sleep=sleep, max_retries=max_retries), sleeps


def _edit_ok(title: str = "Sales/Mail/X", revid: int = 101) -> requests.Response:
    return _response(200, {"edit": {"result": "Success", "title": title, "newrevid": revid}})


def _siteinfo() -> requests.Response:
    return _response(200, {"query": {"general": {"sitename": "Testwiki", "generator": "MediaWiki 1.41.1"}}})


def test_successful_create_sends_token_assertion_and_maxlag() -> None:
    """A create logs in, then posts the edit once with the CSRF token, assert=user and maxlag."""
    session = FakeSession({"edit": [_edit_ok(revid=7)]})
    client, sleeps = _client(session)
    result = client.create_page("Sales/Mail/X", "text", "summary")
    assert result is not None
    assert result.revision == 7
    (edit,) = [sent for method, key, sent in session.calls if key == "edit"]
    assert edit["token"] == "csrf-token+\\"
    assert edit["assert"] == "user"
    assert edit["maxlag"] == "5"
    assert edit["createonly"] == "1"
    assert [method for method, key, _ in session.calls if key == "edit"] == ["POST"]
    assert sleeps == []


def test_write_answered_502_is_not_resent() -> None:
    """An edit answered by HTTP 502 may have been applied, so it is sent once and not retried."""
    session = FakeSession({"edit": [_response(502, text="<h1>Bad Gateway</h1>"), _edit_ok()]})
    client, sleeps = _client(session)
    with pytest.raises(WikiUnavailableError):
        client.create_page("Sales/Mail/X", "text", "summary")
    assert session.count("edit") == 1
    assert sleeps == []
    assert client.edits == 0


def test_append_answered_502_is_not_resent() -> None:
    """An append answered by HTTP 502 is not resent either."""
    session = FakeSession({"edit": [_response(502, text="Bad Gateway"), _edit_ok()]})
    client, _ = _client(session)
    with pytest.raises(WikiUnavailableError):
        client.append_to_page("Sales/Mail/X", "more", "summary")
    assert session.count("edit") == 1


def test_write_with_dropped_connection_is_not_resent() -> None:
    """An edit whose connection drops is not resent and becomes WikiUnavailableError."""
    session = FakeSession({"edit": [requests.ConnectionError("reset by peer"), _edit_ok()]})
    client, sleeps = _client(session)
    with pytest.raises(WikiUnavailableError) as info:
        client.create_page("Sales/Mail/X", "text", "summary")
    assert session.count("edit") == 1
    assert sleeps == []
    assert API_URL in str(info.value)


def test_read_answered_502_twice_is_retried_with_backoff() -> None:
    """A GET answered 502, 502, then 200 succeeds after two backoff sleeps of growing length."""
    session = FakeSession({"siteinfo": [_response(502, text="x"), _response(502, text="x"), _siteinfo()]})
    client, sleeps = _client(session)
    assert client.site_name() == "Testwiki (MediaWiki 1.41.1)"
    assert session.count("siteinfo") == 3
    assert sleeps == [1.0, 2.0]
    assert client.retries == 2


def test_read_502_honours_retry_after() -> None:
    """A 503 with Retry-After makes the retry wait that many seconds."""
    session = FakeSession({"siteinfo": [_response(503, text="busy", **{"Retry-After": "7"}), _siteinfo()]})
    client, sleeps = _client(session)
    client.site_name()
    assert sleeps == [7.0]


def test_read_failing_every_time_gives_up() -> None:
    """A GET answered 502 on every attempt raises WikiUnavailableError after max_retries retries."""
    session = FakeSession({"siteinfo": [_response(502, text="x") for _ in range(10)]})
    client, sleeps = _client(session, max_retries=3)
    with pytest.raises(WikiUnavailableError):
        client.site_name()
    assert session.count("siteinfo") == 4
    assert len(sleeps) == 3


def test_read_with_dropped_connection_is_retried() -> None:
    """A GET whose connection drops is retried and then succeeds."""
    session = FakeSession({"siteinfo": [requests.ConnectionError("reset"), _siteinfo()]})
    client, sleeps = _client(session)
    assert client.site_name().startswith("Testwiki")
    assert sleeps == [1.0]


def test_backoff_is_capped() -> None:
    """A huge Retry-After is capped so a pass never sleeps for minutes."""
    session = FakeSession({"siteinfo": [_response(503, text="x", **{"Retry-After": "3600"}), _siteinfo()]})
    client, sleeps = _client(session)
    client.site_name()
    assert sleeps == [30.0]


def test_html_answer_with_200_raises_wiki_error_naming_api_url() -> None:
    """An HTML page with HTTP 200 instead of API JSON raises WikiError that names wiki.api_url."""
    html = "<!DOCTYPE html><html><body>MediaWiki API help</body></html>"
    session = FakeSession({"siteinfo": [_response(200, text=html)]})
    client, sleeps = _client(session)
    with pytest.raises(WikiError) as info:
        client.site_name()
    assert not isinstance(info.value, WikiUnavailableError)
    assert API_URL in str(info.value)
    assert "api_url" in str(info.value)
    assert session.count("siteinfo") == 1
    assert sleeps == []


def test_html_answer_to_edit_raises_wiki_error() -> None:
    """An edit answered with HTML (e.g. an oversized POST) raises WikiError and is not resent."""
    session = FakeSession({"edit": [_response(200, text="<html>help</html>")]})
    client, _ = _client(session)
    with pytest.raises(WikiError) as info:
        client.create_page("Sales/Mail/X", "x" * 1000, "summary")
    assert API_URL in str(info.value)
    assert session.count("edit") == 1


def _maxlag(seconds: str) -> requests.Response:
    body = {"error": {"code": "maxlag", "info": "Waiting for db1: 6 seconds lagged", "lag": 6}}
    return _response(200, body, **{"Retry-After": seconds, "X-Database-Lag": "6"})


def test_maxlag_read_is_retried_after_retry_after() -> None:
    """A maxlag refusal of a read is retried after sleeping the Retry-After seconds."""
    session = FakeSession({"siteinfo": [_maxlag("3"), _siteinfo()]})
    client, sleeps = _client(session)
    assert client.site_name().startswith("Testwiki")
    assert sleeps == [3.0]
    assert session.count("siteinfo") == 2


def test_maxlag_write_is_resent_after_retry_after() -> None:
    """A maxlag refusal of an edit is safe to resend (nothing was done) and honours Retry-After."""
    session = FakeSession({"edit": [_maxlag("5"), _maxlag("2"), _edit_ok(revid=9)]})
    client, sleeps = _client(session)
    result = client.create_page("Sales/Mail/X", "text", "summary")
    assert result is not None
    assert result.revision == 9
    assert session.count("edit") == 3
    assert sleeps == [5.0, 2.0]
    assert client.edits == 1


def test_persistent_maxlag_becomes_unavailable() -> None:
    """A wiki that stays lagged makes the write fail as unavailable after the retries."""
    session = FakeSession({"edit": [_maxlag("1") for _ in range(10)]})
    client, sleeps = _client(session, max_retries=2)
    with pytest.raises(WikiUnavailableError) as info:
        client.create_page("Sales/Mail/X", "text", "summary")
    assert info.value.code == "maxlag"
    assert session.count("edit") == 3
    assert sleeps == [1.0, 1.0]


def test_lost_session_is_renewed_once() -> None:
    """An edit refused with assertuserfailed logs in again and is sent once more."""
    refused = _response(200, {"error": {"code": "assertuserfailed", "info": "not logged in"}})
    session = FakeSession({"edit": [refused, _edit_ok(revid=11)]})
    client, _ = _client(session)
    result = client.create_page("Sales/Mail/X", "text", "summary")
    assert result is not None
    assert result.revision == 11
    assert session.count("login") == 2
    assert session.count("edit") == 2


def test_existing_page_returns_none() -> None:
    """create_page answered with articleexists returns None instead of raising."""
    exists = _response(200, {"error": {"code": "articleexists", "info": "The page exists"}})
    session = FakeSession({"edit": [exists]})
    client, _ = _client(session)
    assert client.create_page("Sales/Mail/X", "text", "summary") is None
    assert session.count("edit") == 1


def test_oauth2_token_is_sent_as_bearer_and_replaces_the_login() -> None:
    """With `auth = "oauth2"` every request carries the access token; no action=login is made.

    The test wiki has no OAuth extension, so this is checked against the fake session.
    """
    settings = WikiSettings(
        api_url=API_URL, password=Secret("access-token"), tls=TlsSettings(), auth="oauth2"
    )
    session = FakeSession({"edit": [_edit_ok()]})
    client = WikiClient(settings, session=session)
    client.create_page("Sales/Mail/X", "text", "summary")
    assert session.headers["Authorization"] == "Bearer access-token"
    assert session.count("login") == 0 and session.count("tokens:login") == 0
    assert client.username == "Bridge"


def test_oauth2_token_the_wiki_ignores_is_an_error() -> None:
    """A token the wiki does not accept (requests stay anonymous) fails with a clear error."""
    settings = WikiSettings(api_url=API_URL, password=Secret("stale-token"), tls=TlsSettings(), auth="oauth2")
    anonymous = _response(200, {"query": {"userinfo": {"id": 0, "name": "127.0.0.1", "anon": True}}})
    client = WikiClient(settings, session=FakeSession({"userinfo": [anonymous]}))
    with pytest.raises(WikiError, match=r"OAuth 2\.0 access token"):
        client.login()


def test_edits_per_minute_spaces_the_writes() -> None:
    """With `edits_per_minute = 30`, the second edit waits until two seconds after the first."""
    settings = WikiSettings(
        api_url=API_URL,
        username="Bridge@bridge",
        password=Secret("bot-pass"),
        tls=TlsSettings(),
        edits_per_minute=30,
    )
    sleeps: list[float] = []
    client = WikiClient(
        settings, session=FakeSession({"edit": [_edit_ok(), _edit_ok()]}), sleep=sleeps.append
    )
    client.create_page("Sales/Mail/X", "text", "summary")
    client.append_to_page("Sales/Mail/X", "more", "summary")
    assert len(sleeps) == 1 and 1.5 < sleeps[0] <= 2.0


def test_threads_sharing_a_client_share_edits_per_minute() -> None:
    """Two threads editing through one client (`[wiki] concurrency`): their writes are spaced as one
    stream, two seconds apart at 30 a minute (the clock stands still; sleeps are recorded)."""
    settings = SETTINGS.model_copy(update={"edits_per_minute": 30})
    sleeps: list[float] = []
    client = WikiClient(
        settings, session=FakeSession({"edit": [_edit_ok(), _edit_ok()]}), sleep=sleeps.append
    )
    client._clock = lambda: 100.0
    other = threading.Thread(target=client.create_page, args=("Sales/Mail/A", "text", "summary"))
    other.start()
    other.join()
    client.create_page("Sales/Mail/B", "text", "summary")
    assert sleeps == [2.0]


def test_a_maxlag_pause_of_one_thread_holds_the_others() -> None:
    """One thread told to wait for lag (Retry-After 3): another thread's next request waits for the same
    pause instead of adding to the lag (the clock stands still; sleeps are recorded)."""
    session = FakeSession({"siteinfo": [_maxlag("3"), _siteinfo(), _siteinfo()]})
    client, sleeps = _client(session)
    client._clock = lambda: 50.0
    lagging = threading.Thread(target=client.site_name)
    lagging.start()
    lagging.join()
    assert sleeps == [3.0]
    client.site_name()
    assert sleeps == [3.0, 3.0]
    assert client.retries == 1
