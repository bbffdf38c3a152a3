"""Configuration loading: validated frozen settings, every problem named by key, secrets kept out."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from pydantic import ValidationError

from bridge.errors import ConfigError
from bridge.service import cli
from bridge.service.config import Secret, Settings, load_settings

WIKI_SECRET = "wiki-secret-Äö-123"
IMAP_SECRET = "imap-secret-xyz-789"


def _secret(tmp_path: Path, name: str, value: str, mode: int = 0o600) -> Path:
    path = tmp_path / name
    path.write_text(value + "\n", encoding="utf-8")
    path.chmod(mode)
    return path


def _config(tmp_path: Path, mailboxes: str | None = None, wiki: str | None = None, extra: str = "") -> Path:
    _secret(tmp_path, "wiki.secret", WIKI_SECRET)
    _secret(tmp_path, "imap.secret", IMAP_SECRET)
    if wiki is None:
        wiki = f"""
[wiki]
api_url = "https://wiki.example.org/w/api.php"
username = "Bridge@bridge"
password_file = "{tmp_path / "wiki.secret"}"
"""
    if mailboxes is None:
        mailboxes = f"""
[[mailboxes]]
name = "sales"
host = "imap.example.org"
username = "sales@example.org"
password_file = "{tmp_path / "imap.secret"}"
page_prefix = "Sales/Mail"
"""
    path = tmp_path / "config.toml"
    path.write_text(wiki + extra + mailboxes, encoding="utf-8")
    return path


def _problems(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={} if environ is None else environ)
    return info.value.problems


def _has(problems: list[str], start: str) -> bool:
    return any(problem.startswith(start) for problem in problems)


def test_minimal_config_loads_with_defaults(tmp_path: Path) -> None:
    """A minimal valid config loads with the documented defaults and the secrets read from files."""
    settings = load_settings(_config(tmp_path), environ={})
    assert settings.wiki.api_url == "https://wiki.example.org/w/api.php"
    assert settings.wiki.password.value == WIKI_SECRET
    assert settings.wiki.tls.verify is True
    assert settings.wiki.concurrency == 1
    (mailbox,) = settings.mailboxes
    assert mailbox.account.password.value == IMAP_SECRET
    assert mailbox.polling.poll_interval == 60
    assert mailbox.account.folders == ("INBOX",)
    assert mailbox.account.security == "tls"
    assert mailbox.account.port == 993
    assert mailbox.polling.batch_size == 50
    assert mailbox.space.categories == ()
    assert mailbox.space.page_prefix == "Sales/Mail"
    assert settings.log.level == "info"
    assert settings.state.path == tmp_path.resolve() / "var" / "state.sqlite3"
    assert settings.warnings == ()


def test_settings_are_frozen(tmp_path: Path) -> None:
    """Assigning to loaded settings is refused at every level, the secret included."""
    settings = load_settings(_config(tmp_path), environ={})
    with pytest.raises(ValidationError):
        settings.wiki = settings.wiki
    with pytest.raises(ValidationError):
        settings.mailboxes[0].account.port = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.wiki.password.value = "x"  # type: ignore[misc]


def test_starttls_defaults_to_port_143(tmp_path: Path) -> None:
    """With security = "starttls" and no port, the port is 143."""
    mailboxes = f"""
[[mailboxes]]
name = "sales"
host = "imap.example.org"
security = "starttls"
username = "u"
password_file = "{tmp_path / "imap.secret"}"
page_prefix = "Sales/Mail"
"""
    mailbox = load_settings(_config(tmp_path, mailboxes=mailboxes), environ={}).mailboxes[0]
    assert (mailbox.account.security, mailbox.account.port) == ("starttls", 143)


def test_several_problems_reported_at_once_by_key(tmp_path: Path) -> None:
    """A bad port, a misspelt key and a missing api_url are all reported together, each by key."""
    wiki = f"""
[wiki]
username = "Bridge@bridge"
password_file = "{tmp_path / "wiki.secret"}"
"""
    mailboxes = f"""
[[mailboxes]]
name = "one"
host = "imap.example.org"
username = "u"
password_file = "{tmp_path / "imap.secret"}"
pagee_prefix = "Sales/Mail"

[[mailboxes]]
name = "two"
host = "imap.example.org"
port = 70000
username = "u"
password_file = "{tmp_path / "imap.secret"}"
page_prefix = "Support/Mail"
"""
    problems = _problems(_config(tmp_path, mailboxes=mailboxes, wiki=wiki))
    assert "mailboxes[1].port: must be an integer between 1 and 65535" in problems
    assert _has(problems, "mailboxes[0].pagee_prefix: ")
    assert _has(problems, "mailboxes[0].page_prefix: is required")
    assert _has(problems, "wiki.api_url: is required")
    assert len(problems) == 4


def test_config_error_message_lists_every_problem(tmp_path: Path) -> None:
    """The exception text itself names every problem, one per line."""
    path = _config(tmp_path, extra='[log]\nlevel = "loud"\nformat = "xml"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    text = str(info.value)
    assert "log.level: must be debug, info, warning or error" in text
    assert "log.format: must be auto, json or console" in text


def test_unknown_top_level_section_is_named(tmp_path: Path) -> None:
    """A misspelt top-level table is reported by its name."""
    problems = _problems(_config(tmp_path, extra="[wikki]\nx = 1\n"))
    assert _has(problems, "wikki: ")


def test_missing_wiki_section_and_mailboxes(tmp_path: Path) -> None:
    """An empty file names the missing [wiki] section and the missing mailboxes."""
    path = tmp_path / "config.toml"
    path.write_text("", encoding="utf-8")
    problems = _problems(path)
    assert _has(problems, "wiki: ")
    assert _has(problems, "mailboxes: ")


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    """A file that is not TOML raises ConfigError naming the file."""
    path = tmp_path / "config.toml"
    path.write_text("[wiki\napi_url = ", encoding="utf-8")
    problems = _problems(path)
    assert len(problems) == 1
    assert str(path) in problems[0]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A config path that does not exist raises ConfigError naming it."""
    problems = _problems(tmp_path / "nope.toml")
    assert str(tmp_path / "nope.toml") in problems[0]


def test_clear_password_is_refused(tmp_path: Path) -> None:
    """A `password = "…"` key in the file is refused, naming the key, and its value is not echoed."""
    mailboxes = """
[[mailboxes]]
name = "sales"
host = "imap.example.org"
username = "u"
password = "hunter2-in-clear"
page_prefix = "Sales/Mail"
"""
    path = _config(tmp_path, mailboxes=mailboxes)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert _has(info.value.problems, "mailboxes[0].password: ")
    assert "hunter2-in-clear" not in str(info.value)


def test_password_env_is_read_from_given_environ(tmp_path: Path) -> None:
    """password_env takes the secret from the environ mapping passed to load_settings."""
    mailboxes = """
[[mailboxes]]
name = "sales"
host = "imap.example.org"
username = "u"
password_env = "SALES_IMAP_PASSWORD"
page_prefix = "Sales/Mail"
"""
    settings = load_settings(
        _config(tmp_path, mailboxes=mailboxes), environ={"SALES_IMAP_PASSWORD": "from-env-42"}
    )
    assert settings.mailboxes[0].account.password.value == "from-env-42"


def test_missing_env_var_is_named(tmp_path: Path) -> None:
    """An unset (or empty) password_env variable is reported with the variable's name."""
    mailboxes = """
[[mailboxes]]
name = "sales"
host = "imap.example.org"
username = "u"
password_env = "SALES_IMAP_PASSWORD"
page_prefix = "Sales/Mail"
"""
    path = _config(tmp_path, mailboxes=mailboxes)
    for environ in ({}, {"SALES_IMAP_PASSWORD": ""}):
        problems = _problems(path, environ)
        assert any(
            p.startswith("mailboxes[0].password_env: ") and "SALES_IMAP_PASSWORD" in p for p in problems
        )


def test_both_password_sources_are_refused(tmp_path: Path) -> None:
    """Setting password_file and password_env together is an error."""
    mailboxes = f"""
[[mailboxes]]
name = "sales"
host = "imap.example.org"
username = "u"
password_env = "X"
password_file = "{tmp_path / "imap.secret"}"
page_prefix = "Sales/Mail"
"""
    problems = _problems(_config(tmp_path, mailboxes=mailboxes), {"X": "y"})
    assert _has(problems, "mailboxes[0].password_env: ")


def test_no_password_source_is_named(tmp_path: Path) -> None:
    """A mailbox without any password setting is reported under password_file."""
    mailboxes = """
[[mailboxes]]
name = "sales"
host = "imap.example.org"
username = "u"
page_prefix = "Sales/Mail"
"""
    assert _has(_problems(_config(tmp_path, mailboxes=mailboxes)), "mailboxes[0].password_file: ")


def test_unreadable_or_empty_secret_file_is_named(tmp_path: Path) -> None:
    """A missing or empty password file is reported with its key."""
    _secret(tmp_path, "empty.secret", "")
    mailboxes = f"""
[[mailboxes]]
name = "a"
host = "h"
username = "u"
password_file = "{tmp_path / "missing.secret"}"
page_prefix = "A/Mail"

[[mailboxes]]
name = "b"
host = "h"
username = "u"
password_file = "{tmp_path / "empty.secret"}"
page_prefix = "B/Mail"
"""
    problems = _problems(_config(tmp_path, mailboxes=mailboxes))
    assert _has(problems, "mailboxes[0].password_file: cannot read")
    assert _has(problems, "mailboxes[1].password_file: ")


def test_duplicate_mailbox_names_are_refused(tmp_path: Path) -> None:
    """Two mailboxes with the same name are reported at the second one's name key."""
    block = f"""
[[mailboxes]]
name = "sales"
host = "imap.example.org"
username = "u"
password_file = "{tmp_path / "imap.secret"}"
page_prefix = "Sales/Mail"
"""
    problems = _problems(_config(tmp_path, mailboxes=block + block.replace("Sales/Mail", "Other/Mail")))
    assert _has(problems, "mailboxes[1].name: ")
    assert not _has(problems, "mailboxes[0].name: ")


@pytest.mark.parametrize(
    "prefix", ["/x", "x/", "a/../b", "a/./b", "a//b", "x#y", "x[y]", "x|y", ":x", "Ä" * 80]
)
def test_bad_page_prefix_is_refused(tmp_path: Path, prefix: str) -> None:
    """A page prefix that is not a legal, bounded title path is refused under its key."""
    mailboxes = f"""
[[mailboxes]]
name = "sales"
host = "imap.example.org"
username = "u"
password_file = "{tmp_path / "imap.secret"}"
page_prefix = "{prefix}"
"""
    assert _has(_problems(_config(tmp_path, mailboxes=mailboxes)), "mailboxes[0].page_prefix: must be")


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ('security = "ssl"', "security"),
        ("port = 0", "port"),
        ('port = "993"', "port"),
        ("port = true", "port"),
        ("poll_interval = 1", "poll_interval"),
        ("batch_size = 0", "batch_size"),
        ('folders = "INBOX"', "folders"),
        ('folders = ["INBOX", ""]', "folders"),
        ('categories = ["Bad]]"]', "categories"),
        ('name = "has space"', "name"),
        ("tls_verify = 1", "tls_verify"),
    ],
)
def test_bad_mailbox_values_are_named(tmp_path: Path, setting: str, key: str) -> None:
    """Each out-of-range or mistyped mailbox value is reported under its own key."""
    mailboxes = f"""
[[mailboxes]]
name = "sales"
host = "imap.example.org"
username = "u"
password_file = "{tmp_path / "imap.secret"}"
page_prefix = "Sales/Mail"
"""
    lines = [line for line in mailboxes.splitlines() if not line.startswith(setting.split(" ")[0] + " ")]
    problems = _problems(_config(tmp_path, mailboxes="\n".join([*lines, setting, ""])))
    assert _has(problems, f"mailboxes[0].{key}: ")


def test_empty_folder_list_is_refused(tmp_path: Path) -> None:
    """`folders = []` is an error under mailboxes[0].folders, not silently replaced by INBOX."""
    mailboxes = f"""
[[mailboxes]]
name = "sales"
host = "imap.example.org"
username = "u"
password_file = "{tmp_path / "imap.secret"}"
page_prefix = "Sales/Mail"
folders = []
"""
    assert _has(_problems(_config(tmp_path, mailboxes=mailboxes)), "mailboxes[0].folders: ")


def test_bad_wiki_url_is_named(tmp_path: Path) -> None:
    """A wiki api_url that is not an http(s) URL is refused under wiki.api_url."""
    wiki = f"""
[wiki]
api_url = "ftp://wiki.example.org/api.php"
username = "Bridge@bridge"
password_file = "{tmp_path / "wiki.secret"}"
"""
    assert _has(_problems(_config(tmp_path, wiki=wiki)), "wiki.api_url: must be")


def _wiki_with(tmp_path: Path, line: str) -> Path:
    """A config whose [wiki] table has `line` besides the required keys."""
    wiki = f"""
[wiki]
api_url = "https://wiki.example.org/w/api.php"
username = "Bridge@bridge"
password_file = "{tmp_path / "wiki.secret"}"
{line}
"""
    return _config(tmp_path, wiki=wiki)


@pytest.mark.parametrize("value", ["0", "17", '"4"', "true", "2.5"])
def test_bad_wiki_concurrency_is_named(tmp_path: Path, value: str) -> None:
    """`[wiki] concurrency` takes 1 to 16 edits at once; anything else stops start-up naming the key."""
    problems = _problems(_wiki_with(tmp_path, f"concurrency = {value}"))
    assert _has(problems, "wiki.concurrency: must be an integer between 1 and 16")


def test_wiki_concurrency_is_read(tmp_path: Path) -> None:
    """A valid concurrency is taken as written."""
    assert load_settings(_wiki_with(tmp_path, "concurrency = 4"), environ={}).wiki.concurrency == 4


def test_secret_repr_and_str_hide_the_value() -> None:
    """Neither repr nor str of a Secret shows its value."""
    secret = Secret("s3cr3t-value")
    assert "s3cr3t-value" not in repr(secret)
    assert "s3cr3t-value" not in str(secret)
    assert "s3cr3t-value" not in f"{secret}"
    assert secret.value == "s3cr3t-value"


def test_settings_repr_hides_all_secrets(tmp_path: Path) -> None:
    """The repr of the whole Settings contains neither the wiki nor the IMAP password."""
    settings = load_settings(_config(tmp_path), environ={})
    assert isinstance(settings, Settings)
    for text in (repr(settings), str(settings)):
        assert WIKI_SECRET not in text
        assert IMAP_SECRET not in text


def test_relative_password_file_is_relative_to_config_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative password_file is read from beside the config file, not from the working directory."""
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    _secret(config_dir, "relative.secret", "relative-value")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _secret(elsewhere, "relative.secret", "wrong-value")
    mailboxes = """
[[mailboxes]]
name = "sales"
host = "imap.example.org"
username = "u"
password_file = "relative.secret"
page_prefix = "Sales/Mail"
"""
    path = _config(tmp_path, mailboxes=mailboxes)
    moved = config_dir / "config.toml"
    path.rename(moved)
    monkeypatch.chdir(elsewhere)
    settings = load_settings(moved, environ={})
    assert settings.mailboxes[0].account.password.value == "relative-value"


def test_world_readable_secret_gives_warning(tmp_path: Path) -> None:
    """A password file readable by others loads but leaves a warning naming the key."""
    config = _config(tmp_path)
    (tmp_path / "imap.secret").chmod(0o644)
    settings = load_settings(config, environ={})
    assert settings.mailboxes[0].account.password.value == IMAP_SECRET
    assert any(w.startswith("mailboxes[0].password_file: ") for w in settings.warnings)
    assert all(IMAP_SECRET not in w for w in settings.warnings)


def test_plain_imap_to_remote_host_gives_warning(tmp_path: Path) -> None:
    """security = "none" towards a non-loopback host is accepted with a warning."""
    mailboxes = f"""
[[mailboxes]]
name = "sales"
host = "imap.example.org"
security = "none"
username = "u"
password_file = "{tmp_path / "imap.secret"}"
page_prefix = "Sales/Mail"
"""
    settings = load_settings(_config(tmp_path, mailboxes=mailboxes), environ={})
    assert settings.mailboxes[0].account.port == 143
    assert any(w.startswith("mailboxes[0].security: ") for w in settings.warnings)


def test_cli_reports_bad_config_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`once` with an invalid config exits with 2 and names the offending key on stderr."""
    mailboxes = f"""
[[mailboxes]]
name = "sales"
host = "imap.example.org"
port = 70000
username = "u"
password_file = "{tmp_path / "imap.secret"}"
page_prefix = "Sales/Mail"
"""
    bad = _config(tmp_path, mailboxes=mailboxes)
    assert cli.main(["--config", str(bad), "once"]) == 2
    captured = capsys.readouterr()
    assert "mailboxes[0].port" in captured.err
    assert captured.out == ""


def test_cli_missing_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A config path that does not exist also exits with 2 and names the path."""
    missing = tmp_path / "missing.toml"
    assert cli.main(["--config", str(missing), "check"]) == 2
    assert str(missing) in capsys.readouterr().err


def test_secret_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    """A password file in Latin-1 (or binary) is reported at its key, not as a UnicodeDecodeError."""
    latin1 = tmp_path / "latin1.secret"
    latin1.write_bytes("Passwört\n".encode("latin-1"))
    latin1.chmod(0o600)
    wiki = f"""
[wiki]
api_url = "https://wiki.example.org/w/api.php"
username = "Bridge@bridge"
password_file = "{latin1}"
"""
    problems = _problems(_config(tmp_path, wiki=wiki))
    assert _has(problems, f"wiki.password_file: {latin1} is not UTF-8 text (offset 5)")


def test_secret_file_that_is_a_directory_is_named(tmp_path: Path) -> None:
    """A directory given as password file is reported at its key."""
    (tmp_path / "secrets").mkdir()
    mailboxes = f"""
[[mailboxes]]
name = "sales"
host = "imap.example.org"
username = "u"
password_file = "{tmp_path / "secrets"}"
page_prefix = "Sales/Mail"
"""
    problems = _problems(_config(tmp_path, mailboxes=mailboxes))
    assert _has(problems, "mailboxes[0].password_file: cannot read")
    assert any("directory" in problem for problem in problems)


@pytest.mark.parametrize(
    ("state_path", "expected"),
    [
        ("plain-file/state.sqlite3", "is a file, not a directory"),
        ("plain-file/deeper/state.sqlite3", "is a file, not a directory"),
        ("a-directory", "is a directory; name a file in it"),
    ],
)
def test_unusable_state_path_is_named(tmp_path: Path, state_path: str, expected: str) -> None:
    """A state path below a regular file, or naming a directory, is reported at state.path."""
    (tmp_path / "plain-file").write_text("not a directory")
    (tmp_path / "a-directory").mkdir()
    extra = f'[state]\npath = "{tmp_path / state_path}"\n'
    problems = _problems(_config(tmp_path, extra=extra))
    assert any(problem.startswith("state.path: ") and expected in problem for problem in problems), problems


def test_missing_state_directories_are_fine(tmp_path: Path) -> None:
    """Directories that do not exist yet are not a problem: the bridge creates them."""
    extra = f'[state]\npath = "{tmp_path / "new" / "deeper" / "state.sqlite3"}"\n'
    settings = load_settings(_config(tmp_path, extra=extra), environ={})
    assert settings.state.path == tmp_path / "new" / "deeper" / "state.sqlite3"


def test_config_file_that_is_not_utf8_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A config file in Latin-1 is reported with its path and exit code 2, not a traceback."""
    path = _config(tmp_path)
    path.write_bytes(path.read_bytes() + "# Grüße\n".encode("latin-1"))
    assert cli.main(["--config", str(path), "check"]) == 2
    assert f"{path}: is not UTF-8 text" in capsys.readouterr().err


def test_reply_template_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    """A reply text file that cannot be read as UTF-8 is reported at reply_templates."""
    templates = tmp_path / "texts"
    templates.mkdir()
    (templates / "reply.de.txt").write_bytes("Grüße $sender_name".encode("latin-1"))
    mailboxes = f"""
[[mailboxes]]
name = "sales"
host = "imap.example.org"
username = "sales@example.org"
password_file = "{tmp_path / "imap.secret"}"
page_prefix = "Sales/Mail"
reply_templates = "{templates}"
"""
    problems = _problems(_config(tmp_path, mailboxes=mailboxes))
    assert _has(problems, f"mailboxes[0].reply_templates: {templates / 'reply.de.txt'} is not UTF-8 text")


def test_ca_file_that_is_a_directory_is_named(tmp_path: Path) -> None:
    """A directory given as ca_file is called a directory, not a missing file."""
    extra_wiki = f"""
[wiki]
api_url = "https://wiki.example.org/w/api.php"
username = "Bridge@bridge"
password_file = "{tmp_path / "wiki.secret"}"
ca_file = "{tmp_path}"
"""
    problems = _problems(_config(tmp_path, wiki=extra_wiki))
    assert _has(problems, f"wiki.ca_file: {tmp_path} is a directory, not a file")


def test_flat_keys_land_in_the_mailbox_parts_and_part_names_are_not_keys(tmp_path: Path) -> None:
    """Flat [[mailboxes]] keys fill the parts; a part's own name, or a top-level `warnings`, is refused."""
    mailboxes = f"""
[[mailboxes]]
name = "sales"
host = "imap.example.org"
username = "sales@example.org"
password_file = "{tmp_path / "imap.secret"}"
page_prefix = "Sales/Mail"
poll_interval = 120
after_publish = "flag"
"""
    mailbox = load_settings(_config(tmp_path, mailboxes=mailboxes), environ={}).mailboxes[0]
    assert (mailbox.account.host, mailbox.space.page_prefix) == ("imap.example.org", "Sales/Mail")
    assert (mailbox.polling.poll_interval, mailbox.mail_actions.after_publish) == (120, "flag")
    assert mailbox.replies.address == "sales@example.org"  # derived from the login
    stray = mailboxes + 'account = "x"\ntls = true\ntls_verify = "no"\n'
    path = _config(tmp_path, mailboxes=stray)
    path.write_text('warnings = ["x"]\n' + path.read_text(encoding="utf-8"), encoding="utf-8")
    problems = _problems(path)
    assert sorted(problems) == [
        "mailboxes[0].account: is not a known setting (check its spelling)",
        "mailboxes[0].tls: is not a known setting (check its spelling)",
        "mailboxes[0].tls_verify: must be true or false",
        "warnings: is not a known setting (check its spelling)",
    ]
