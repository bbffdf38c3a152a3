"""The `[state]` table for PostgreSQL: the URL, its password from a secret, TLS by the host's place."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.adapters.state.postgres import connection_options
from bridge.errors import ConfigError
from bridge.service.config import Settings, StateSettings, load_settings


def _config(tmp_path: Path, state: str) -> Path:
    secret = tmp_path / "secret"
    secret.write_text("wiki-secret\n", encoding="utf-8")
    secret.chmod(0o600)
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[wiki]
api_url = "https://wiki.example.org/w/api.php"
username = "Bridge@bridge"
password_file = "{secret}"

[state]
{state}

[[mailboxes]]
name = "sales"
host = "imap.example.org"
username = "sales@example.org"
password_file = "{secret}"
page_prefix = "Sales/Mail"
""",
        encoding="utf-8",
    )
    return path


def _load(tmp_path: Path, state: str, environ: dict[str, str] | None = None) -> Settings:
    return load_settings(_config(tmp_path, state), environ=environ or {})


def _problems(tmp_path: Path, state: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, state)
    return info.value.problems


def test_url_with_password_from_the_environment(tmp_path: Path) -> None:
    """A PostgreSQL URL selects the shared store; its password comes from password_env."""
    settings = _load(
        tmp_path,
        'url = "postgresql://bridge@db.example.org:5433/bridge"\npassword_env = "PGSECRET"',
        {"PGSECRET": "s3cret"},
    )
    assert settings.state.url == "postgresql://bridge@db.example.org:5433/bridge"
    assert settings.state.password.value == "s3cret"
    assert "s3cret" not in repr(settings.state)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ('url = "mysql://bridge@db/bridge"', "state.url: must be a PostgreSQL URL such as"),
        ('url = "postgresql://bridge:pw@db/bridge"', "state.url: must not hold the password"),
        ('url = "postgresql://bridge@db/bridge?nonsense=1"', "state.url: is not a valid PostgreSQL URL"),
        ('url = ""', "state.url: must be a PostgreSQL URL"),
        ('url = "postgresql://db/bridge"\npassword = "x"', "state.password: secrets never go in the config"),
        ('url = "postgresql://db/bridge"\nsslmode = "sometimes"', "state.sslmode: must be one of disable"),
        ('url = "postgresql://db/bridge"\nca_file = "missing.pem"', "state.ca_file: "),
    ],
)
def test_bad_state_settings_are_named_by_key(tmp_path: Path, state: str, expected: str) -> None:
    """A wrong URL, a password in the file, an unknown sslmode or a missing CA file stop start-up."""
    problems = _problems(tmp_path, state)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_state_path_is_not_checked_when_a_url_is_set(tmp_path: Path) -> None:
    """With a URL the SQLite file is only `state migrate`'s source: an unusable path is no problem."""
    (tmp_path / "a-directory").mkdir()
    settings = _load(tmp_path, f'url = "postgresql://db/bridge"\npath = "{tmp_path / "a-directory"}"')
    assert settings.state.path == tmp_path / "a-directory"


@pytest.mark.parametrize(
    ("url", "sslmode", "rootcert"),
    [
        ("postgresql://bridge@db.example.org/bridge", "verify-full", "system"),
        ("postgresql://bridge@10.0.0.5/bridge", "verify-full", "system"),
        ("postgresql://bridge@127.0.0.1:5433/bridge", "prefer", None),
        ("postgresql://bridge@localhost/bridge", "prefer", None),
        ("postgresql://bridge@[::1]/bridge", "prefer", None),
        ("postgresql:///bridge?host=/run/postgresql", "prefer", None),
        ("postgresql://bridge@127.0.0.1,db.example.org/bridge", "verify-full", "system"),
        ("postgresql://bridge@db.example.org/bridge?sslmode=require", "require", None),
    ],
)
def test_tls_is_verified_for_remote_hosts_by_default(url: str, sslmode: str, rootcert: str | None) -> None:
    """A remote host must show a certificate for its name; loopback and sockets may go without TLS."""
    options = connection_options(StateSettings(url=url))
    assert options["sslmode"] == sslmode
    assert options.get("sslrootcert") == rootcert
    assert "password" not in options


def test_explicit_tls_settings_and_read_only_sessions(tmp_path: Path) -> None:
    """`sslmode` and `ca_file` win; a dry run's sessions are read-only on the server's side."""
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here", encoding="utf-8")
    settings = StateSettings(url="postgresql://bridge@127.0.0.1/bridge", sslmode="verify-ca", ca_file=ca)
    options = connection_options(settings, read_only=True)
    assert (options["sslmode"], options["sslrootcert"]) == ("verify-ca", str(ca))
    assert options["options"] == "-c default_transaction_read_only=on"


def test_risky_state_settings_are_warned_about(tmp_path: Path) -> None:
    """A password file others may read, and TLS without a certificate check to a remote host."""
    secret = tmp_path / "pg-secret"
    secret.write_text("pw\n", encoding="utf-8")
    secret.chmod(0o644)
    state = (
        f'url = "postgresql://bridge@db.example.org/bridge"\npassword_file = "{secret}"\nsslmode = "require"'
    )
    warnings = _load(tmp_path, state).warnings
    assert f"state.password_file: {secret} is readable by other users" in warnings
    assert "state.sslmode: require does not check the PostgreSQL server's certificate" in warnings
    local = _load(tmp_path, 'url = "postgresql://bridge@127.0.0.1/bridge"\nsslmode = "disable"').warnings
    assert not any(warning.startswith("state.") for warning in local)
