"""The report and status page settings: defaults, the derived report page, bad values named by key."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bridge.adapters.state.store import SqliteStateStore
from bridge.errors import ConfigError
from bridge.service.cli_report import report_command
from bridge.service.config import load_settings


def _config(tmp_path: Path, mailbox: str = "", service: str = "") -> Path:
    for name in ("wiki", "imap"):
        (tmp_path / name).write_text("secret\n")
        (tmp_path / name).chmod(0o600)
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[wiki]
api_url = "https://wiki.example.org/w/api.php"
username = "Bridge@bridge"
password_file = "{tmp_path / "wiki"}"
[service]
{service}
[[mailboxes]]
name = "sales"
host = "imap.example.org"
username = "sales@example.org"
password_file = "{tmp_path / "imap"}"
page_prefix = "Sales/Mail"
{mailbox}
""",
        encoding="utf-8",
    )
    return path


def test_defaults_report_daily_in_berlin_under_the_prefix_and_no_status_page(tmp_path: Path) -> None:
    settings = load_settings(_config(tmp_path), environ={})
    [mailbox] = settings.mailboxes
    assert mailbox.reporting.report is True
    assert (mailbox.reporting.report_interval, mailbox.reporting.report_timezone) == (86400, "Europe/Berlin")
    assert mailbox.report_title == "Sales/Mail/Report"
    assert (settings.service.status_page, settings.service.status_interval) == (None, 600)


def test_german_mappings_report_on_bericht_and_an_explicit_page_wins(tmp_path: Path) -> None:
    german = load_settings(_config(tmp_path, 'language = "de"'), environ={})
    assert german.mailboxes[0].report_title == "Sales/Mail/Bericht"
    chosen = load_settings(_config(tmp_path, 'report_page = "Team/Adoption"\nreport = false'), environ={})
    assert chosen.mailboxes[0].report_title == "Team/Adoption"
    assert chosen.mailboxes[0].reporting.report is False


@pytest.mark.parametrize(
    ("mailbox", "service", "key"),
    [
        ('report_timezone = "Mars/Olympus"', "", "mailboxes[0].report_timezone: must be a time zone"),
        ('report_timezone = "../../etc/passwd"', "", "mailboxes[0].report_timezone: must be a time zone"),
        ("report_interval = 10", "", "mailboxes[0].report_interval: must be seconds"),
        ('report_page = "Bad[[page]]"', "", "mailboxes[0].report_page: must be a legal page title"),
        ('report = "yes"', "", "mailboxes[0].report: must be true or false"),
        ("", 'status_page = "/Status"', "service.status_page: must be a legal page title"),
        ("", "status_interval = -1", "service.status_interval: must be seconds"),
    ],
)
def test_bad_report_and_status_settings_stop_start_up_naming_the_key(
    tmp_path: Path, mailbox: str, service: str, key: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_config(tmp_path, mailbox, service), environ={})
    assert any(problem.startswith(key) for problem in info.value.problems), info.value.problems


def test_report_without_a_name_skips_mappings_without_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No wiki is asked (the config's wiki does not exist): no mapping keeps a report."""
    settings = load_settings(_config(tmp_path, "report = false"), environ={})
    state = SqliteStateStore(tmp_path / "state.sqlite3")
    try:
        assert report_command(settings, state, argparse.Namespace(mailbox=None, print=False)) == 0
        assert "no mapping keeps a report" in capsys.readouterr().out
        assert report_command(settings, state, argparse.Namespace(mailbox="nobody", print=True)) == 2
        assert "no mailbox named 'nobody'" in capsys.readouterr().err
    finally:
        state.close()
