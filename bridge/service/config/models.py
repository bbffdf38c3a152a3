"""The validated settings of [wiki], [state], [log], [smtp], [service] and the whole file.

Each table is a frozen pydantic model refusing unknown keys; the [[mailboxes]] entries are in
`bridge.service.config.mailbox`. Defaults are the ones documented in config/example.toml.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import Field, PrivateAttr, ValidationInfo, field_validator

from bridge.core.people import Insiders, domain_of
from bridge.service.config.mailbox import MailboxSettings, Security
from bridge.service.config.organisation import OrganisationSettings
from bridge.service.config.rules import (
    ConfigModel,
    LoadContext,
    MaskedSecret,
    Secret,
    choice,
    context_of,
    integer,
    listen,
    problem,
    rule,
    seconds,
    sender,
    split_sender,
    string,
    title_path,
    url,
)
from bridge.service.config.secrets import read_secret
from bridge.service.config.tls import TlsSettings, ca_file

WikiAuth = Literal["botpassword", "oauth2"]
LogFormat = Literal["auto", "json", "console"]
LogLevel = Literal["debug", "info", "warning", "error"]
_Timeout = Annotated[float, rule(seconds, "seconds between 1 and 600")]


class WikiSettings(ConfigModel):
    """The MediaWiki the pages go to, and the bot-password (or OAuth 2.0) login used for it."""

    parts = ("tls",)

    api_url: Annotated[str, rule(url, "an http:// or https:// URL ending in api.php")]
    auth: Annotated[WikiAuth, rule(choice("botpassword", "oauth2"), "botpassword or oauth2")] = "botpassword"
    username: str = Field(default="", validate_default=True)
    password: MaskedSecret = Secret("")
    tls: TlsSettings = TlsSettings()
    timeout: _Timeout = 30.0
    maxlag: Annotated[int, rule(integer(1, 60), "seconds between 1 and 60")] = 5
    edits_per_minute: Annotated[int, rule(integer(0, 10000), "an integer between 0 (no limit) and 10000")] = 0
    concurrency: Annotated[int, rule(integer(1, 16), "an integer between 1 and 16 (edits at once)")] = 1

    @classmethod
    def prepare(cls, data: dict[str, Any], context: LoadContext | None) -> None:
        """An absent user name reaches its check as None: a bot-password login needs one."""
        data.setdefault("username", None)

    @field_validator("username", mode="plain")
    @classmethod
    def _username(cls, value: Any, info: ValidationInfo) -> str:
        # An invalid `auth` counts as not "botpassword": the user name is then optional.
        bot = info.data.get("auth") == "botpassword"
        expected = "a bot-password login such as 'Bridge@bridge'" if bot else "the wiki user name"
        if value is None:
            if bot:
                raise problem(f"is required ({expected})")
            return ""
        text = string(value)
        if text is None:
            raise problem(f"must be {expected}")
        return text

    @field_validator("password", mode="plain")
    @classmethod
    def _password(cls, value: Any, info: ValidationInfo) -> Secret:
        needed = "the wiki (the bot password, or the OAuth 2.0 access token)"
        return read_secret(value, context_of(info), needed if context_of(info) else None)


SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
_SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_URL_EXAMPLE = "postgresql://bridge@db.example.org/bridge"


class StateSettings(ConfigModel):
    """Where the state store lives: a SQLite file (`path`), or a PostgreSQL database (`url`).

    With `url`, several instances share the state; `path` is then only where `state migrate`
    reads an earlier SQLite state from. The database password comes from `password_file`,
    `password_env` or `credential`; `sslmode` defaults to verify-full for a remote host.
    """

    url: str | None = None
    path: Path = Field(default=Path("var/state.sqlite3"), validate_default=True)
    password: MaskedSecret = Secret("")
    sslmode: Annotated[SslMode | None, rule(choice(*_SSL_MODES), "one of " + ", ".join(_SSL_MODES))] = None
    ca_file: Path | None = None

    @field_validator("url", mode="plain")
    @classmethod
    def _url(cls, value: Any) -> str | None:
        if value is None:
            return None
        trouble = postgres_url_problem(value)
        if trouble:
            raise problem(trouble)
        return str(value).strip()

    @field_validator("path", mode="plain")
    @classmethod
    def _path(cls, value: Any, info: ValidationInfo) -> Path:
        text = string(value) if not isinstance(value, Path) else str(value)
        if text is None:
            raise problem("must be a file path")
        context = context_of(info)
        path = context.path(text) if context is not None else Path(text)
        # With a PostgreSQL url the file is only read by `state migrate`, which checks it then.
        trouble = None if info.data.get("url") else _state_path_problem(path)
        if trouble:
            raise problem(trouble)
        return path

    @field_validator("password", mode="plain")
    @classmethod
    def _password(cls, value: Any, info: ValidationInfo) -> Secret:
        # Optional: PostgreSQL may trust the host, or find the password in ~/.pgpass.
        return read_secret(value, context_of(info), None)

    @field_validator("ca_file", mode="plain")
    @classmethod
    def _ca_file(cls, value: Any, info: ValidationInfo) -> Path | None:
        return ca_file(value, info)


def postgres_is_local(url: str) -> bool:
    """Whether every host of the URL (libpq allows a list) is loopback or a Unix socket directory."""
    hosts = str(conninfo_to_dict(url).get("host") or "")
    for name in [name for name in hosts.split(",") if name] or [""]:
        if name in ("", "localhost") or name.startswith("/"):
            continue
        try:
            if not ipaddress.ip_address(name).is_loopback:
                return False
        except ValueError:
            return False
    return True


def postgres_url_problem(value: Any) -> str | None:
    """Why `value` is not a usable PostgreSQL URL for the state (None when it is)."""
    text = string(value)
    if text is None or not text.startswith(("postgresql://", "postgres://")):
        return f"must be a PostgreSQL URL such as {_URL_EXAMPLE}"
    try:
        parts = conninfo_to_dict(text)
    except psycopg.Error as exc:
        return f"is not a valid PostgreSQL URL ({' '.join(str(exc).split())}); e.g. {_URL_EXAMPLE}"
    if parts.get("password"):
        return (
            "must not hold the password: secrets never go in the config file; "
            "use password_file, password_env or credential"
        )
    return None


def _state_path_problem(path: Path) -> str | None:
    """Tell why the state file cannot live at `path`: a directory there, a file above it, no write access."""
    if path.is_dir():
        return f"{path} is a directory; name a file in it, e.g. {path / 'state.sqlite3'}"
    directory = path.parent
    while not directory.exists():  # missing directories are created by the bridge
        directory = directory.parent
    if not directory.is_dir():
        return f"{path} cannot be created: {directory} is a file, not a directory"
    if not os.access(directory, os.W_OK | os.X_OK):
        # The state's journal and lock files are created next to it, also when it exists.
        return f"{directory} is not writable by this user (the state file and its journal go there)"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return f"{path} is not readable and writable by this user"
    return None


class LogSettings(ConfigModel):
    """Log level and format (`auto`: JSON when stdout is not a terminal)."""

    level: Annotated[
        LogLevel, rule(choice("debug", "info", "warning", "error"), "debug, info, warning or error")
    ] = "info"
    format: Annotated[LogFormat, rule(choice("auto", "json", "console"), "auto, json or console")] = "auto"


_PORTS = {"tls": 465, "starttls": 587, "none": 25}


class SmtpSettings(ConfigModel):
    """The server link replies are sent through."""

    parts = ("tls",)

    host: Annotated[str, rule(string, "a host name or address")]
    security: Annotated[Security, rule(choice("none", "starttls", "tls"), "one of none, starttls, tls")] = (
        "starttls"
    )
    port: Annotated[int, rule(integer(1, 65535), "an integer between 1 and 65535")] = 587
    # As written: the address alone or with a display name (`Wiki-Brücke <wiki@firma.de>`).
    from_address: Annotated[
        str, rule(sender, 'an e-mail address, optionally with a display name ("Name <address>")')
    ]
    username: Annotated[str, rule(string, "the SMTP login name")] = ""
    password: MaskedSecret = Secret("")
    tls: TlsSettings = TlsSettings()
    timeout: _Timeout = 30.0
    max_replies_per_sender_per_hour: Annotated[
        int, rule(integer(1, 1000), "an integer between 1 and 1000")
    ] = 5

    @classmethod
    def prepare(cls, data: dict[str, Any], context: LoadContext | None) -> None:
        """The port follows the security: 465 for TLS, 587 for STARTTLS, 25 for none."""
        security = data.get("security", "starttls")
        data.setdefault("port", _PORTS.get(security, 587) if isinstance(security, str) else 587)

    @property
    def address(self) -> str:
        """The bridge's sending address, without the display name."""
        return self._sender[1]

    @property
    def display_name(self) -> str:
        """The display name of the replies' From header ("" for none)."""
        return self._sender[0]

    @property
    def _sender(self) -> tuple[str, str]:
        split = split_sender(self.from_address)
        assert split is not None, "the from_address rule admits only what split_sender splits"
        return split

    @field_validator("password", mode="plain")
    @classmethod
    def _password(cls, value: Any, info: ValidationInfo) -> Secret:
        needed = "the SMTP server" if info.data.get("username") else None
        return read_secret(value, context_of(info), needed)


class ServiceSettings(ConfigModel):
    """The daemon's own endpoints (metrics and health, on loopback unless configured) and status page."""

    metrics_listen: Annotated[str, rule(listen, 'a "host:port" to listen on, or "" for none')] = (
        "127.0.0.1:9464"
    )
    health_failure_seconds: Annotated[int, rule(integer(10, 86400 * 7), "seconds between 10 and 604800")] = (
        900
    )
    # A wiki page showing the `status` table, updated after passes; None for none.
    status_page: Annotated[str | None, rule(title_path, "a legal page title such as 'Mail/Status'")] = None
    status_interval: Annotated[
        int, rule(integer(0, 86400), "seconds between 0 (after every pass) and 86400")
    ] = 600

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """(host, port) to serve metrics on, or None when switched off (`metrics_listen = ""`)."""
        if not self.metrics_listen:
            return None
        host, _, port = self.metrics_listen.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)


class Settings(ConfigModel):
    """The whole validated configuration."""

    wiki: WikiSettings
    state: StateSettings
    mailboxes: tuple[MailboxSettings, ...]
    log: LogSettings
    smtp: SmtpSettings | None = None
    service: ServiceSettings
    organisation: OrganisationSettings = OrganisationSettings()
    # Not a field: the file cannot set it (a `warnings` key is refused like any unknown one).
    _warnings: tuple[str, ...] = PrivateAttr(default=())

    @property
    def warnings(self) -> tuple[str, ...]:
        """Accepted but risky settings, one sentence each, named by key."""
        return self._warnings

    def noting(self, warnings: Iterable[str]) -> Settings:
        """These settings with `warnings` noted."""
        copy = self.model_copy()
        copy._warnings = tuple(warnings)
        return copy

    @classmethod
    def prepare(cls, data: dict[str, Any], context: LoadContext | None) -> None:
        """Absent tables take their defaults (the default state path is checked too)."""
        for table in ("state", "log", "service", "organisation"):
            data.setdefault(table, {})
        data.setdefault("mailboxes", [])

    @field_validator("mailboxes", mode="before")
    @classmethod
    def _some_mailboxes(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple) or not value:
            raise problem("at least one [[mailboxes]] entry is required")
        return value

    def own_addresses(self) -> frozenset[str]:
        """The bridge's sending address and every team mailbox address (never replied to)."""
        addresses = {mailbox.replies.address for mailbox in self.mailboxes}
        if self.smtp is not None:
            addresses.add(self.smtp.address)
        return frozenset(address.lower() for address in addresses if address)

    def internal_domains(self, mailbox: MailboxSettings) -> tuple[str, ...]:
        """The domains inside for `mailbox`: its own list, else [organisation]'s, else its address's."""
        if mailbox.senders.internal_domains is not None:
            return mailbox.senders.internal_domains
        if self.organisation.internal_domains:
            return self.organisation.internal_domains
        own = domain_of(mailbox.replies.address)
        return (own,) if own else ()

    def insiders(self, mailbox: MailboxSettings) -> Insiders:
        """Who is inside for `mailbox`, and whether its senders need authentication to count."""
        return Insiders(
            self.internal_domains(mailbox),
            mailbox.senders.require_authenticated,
            mailbox.senders.trusted_authserv_ids,
        )
