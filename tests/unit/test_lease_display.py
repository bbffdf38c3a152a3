"""Leases as operators see them: `status` (table and JSON) and `/metrics` name the holder of each
mailbox and since when; `[service] lease_seconds` and `instance_id` are checked like every key;
`once` leaves a mailbox another instance works on."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bridge.adapters.state.store import SqliteStateStore
from bridge.errors import ConfigError
from bridge.service import cli
from bridge.service.cli_status import stamp, status
from bridge.service.config import Settings, load_settings
from bridge.service.exitcodes import EXIT_OK
from bridge.service.leasing import instance_id
from bridge.service.metrics import Metrics


def _settings(tmp_path: Path, service: str = "") -> Settings:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    secret.chmod(0o600)
    boxes = "".join(
        f'[[mailboxes]]\nname = "{name}"\nhost = "imap.example.org"\nusername = "{name}"\n'
        f'password_file = "{secret}"\npage_prefix = "{name.title()}/Mail"\n'
        for name in ("sales", "support")
    )
    path = tmp_path / "config.toml"
    path.write_text(
        '[wiki]\napi_url = "https://wiki.example.org/w/api.php"\nusername = "B@b"\n'
        f'password_file = "{secret}"\n'
        f'[state]\npath = "{tmp_path / "state.sqlite3"}"\n[service]\n{service}\n{boxes}'
    )
    return load_settings(path, environ={})


def test_status_names_each_mailboxs_holder_and_since(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A held mailbox shows its instance and when it was taken; a free one a dash; JSON carries the token."""
    settings = _settings(tmp_path)
    store = SqliteStateStore(settings.state.path)
    try:
        lease = store.acquire_lease("sales", "host-a:41:beef", 30)
        assert lease is not None
        status(settings, store, as_json=False)
        header, sales, support = capsys.readouterr().out.splitlines()
        assert header.split()[:5] == ["MAILBOX", "HEALTH", "HOLDER", "LEASED", "SINCE"]
        assert re.match(
            rf"sales\s+not run yet\s+host-a:41:beef\s+{re.escape(str(stamp(lease.since)))}\s", sales
        ), sales
        assert re.match(r"support\s+not run yet\s+-\s+-\s", support), support

        status(settings, store, as_json=True)
        rows = {row["mailbox"]: row for row in json.loads(capsys.readouterr().out)}
        assert rows["sales"]["lease"] == {
            "holder": "host-a:41:beef",
            "token": 1,
            "since": stamp(lease.since),
            "expires_at": stamp(lease.expires_at),
            "valid": True,
        }
        assert rows["support"]["lease"] is None
    finally:
        store.close()


def test_status_marks_an_expired_lease(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The holder of an expired lease (a dead instance, not yet taken over) is shown as expired."""
    settings = _settings(tmp_path)
    store = SqliteStateStore(settings.state.path)
    try:
        store.acquire_lease("support", "host-b:7:cafe", -1)
        status(settings, store, as_json=False)
        [support] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("support")]
        assert "host-b:7:cafe (expired)" in support
    finally:
        store.close()


def test_metrics_show_the_leases_this_instance_holds(tmp_path: Path) -> None:
    """`ewb_lease_held` is 1 for a held mailbox and 0 once given up; since and token go with it."""
    store = SqliteStateStore(tmp_path / "state.sqlite3")
    metrics = Metrics()
    try:
        lease = store.acquire_lease("sales", "me", 30)
        assert lease is not None
        metrics.record_leases("me", {"sales": lease}, live=2)

        def sample(name: str, labels: dict[str, str] | None = None) -> float | None:
            return metrics.registry.get_sample_value(name, labels or {})

        assert sample("ewb_lease_held", {"mailbox": "sales"}) == 1
        assert sample("ewb_lease_since_timestamp_seconds", {"mailbox": "sales"}) == lease.since
        assert sample("ewb_lease_token", {"mailbox": "sales"}) == 1
        assert sample("ewb_instance_info", {"instance": "me"}) == 1
        assert sample("ewb_live_instances") == 2
        metrics.record_leases("me", {}, live=1)
        assert sample("ewb_lease_held", {"mailbox": "sales"}) == 0
        assert sample("ewb_lease_since_timestamp_seconds", {"mailbox": "sales"}) is None
    finally:
        store.close()


def test_lease_settings_default_and_are_checked(tmp_path: Path) -> None:
    """lease_seconds defaults to 30 and instance_id to one made at start; bad values name their key."""
    settings = _settings(tmp_path)
    assert (settings.service.lease_seconds, settings.service.instance_id) == (30, "")
    configured = _settings(tmp_path, 'lease_seconds = 5\ninstance_id = "bridge-1.example.org"')
    assert (configured.service.lease_seconds, configured.service.instance_id) == (5, "bridge-1.example.org")
    with pytest.raises(ConfigError) as info:
        _settings(tmp_path, 'lease_seconds = 1\ninstance_id = "two words"')
    problems = info.value.problems
    assert any(p.startswith("service.lease_seconds:") for p in problems), problems
    assert any(p.startswith("service.instance_id:") for p in problems), problems


def test_instance_ids() -> None:
    """Configured ids are kept; made ones are host:pid:random for a shared store, the host for SQLite."""
    assert instance_id("bridge-1", shared=True) == "bridge-1"
    made = instance_id("", shared=True)
    assert re.fullmatch(r"[^:]+:\d+:[0-9a-f]{6}", made) and made != instance_id("", shared=True)
    assert ":" not in instance_id("", shared=False) and instance_id("", shared=False)


def test_once_leaves_a_mailbox_another_instance_works_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`once` takes each mailbox's lease for its pass; one held by another instance is skipped."""
    settings = _settings(tmp_path)
    store = SqliteStateStore(settings.state.path)
    try:
        for name in ("sales", "support"):
            assert store.acquire_lease(name, "bridge-2:77:f00d", 30) is not None
        assert cli._once(settings, store) == EXIT_OK
        assert capsys.readouterr().out.splitlines() == [
            "sales: skipped: another instance works on it (see `status`)",
            "support: skipped: another instance works on it (see `status`)",
        ]
        assert {row.holder for row in store.leases()} == {"bridge-2:77:f00d"}
    finally:
        store.close()
