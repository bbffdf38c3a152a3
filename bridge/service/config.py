"""TOML configuration -> validated, frozen settings; secrets read from files or the environment.

Every problem is collected before reporting, each naming its key (`mailboxes[1].port: …`), so an
admin fixes the file in one round. Nothing else in the bridge reads the environment or files
for settings: the objects built here are passed down.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from bridge.core.render.labels import Language
from bridge.core.render.page import AddressDisplay
from bridge.errors import ConfigError

Security = Literal["none", "starttls", "tls"]
ReplyMode = Literal["first", "every", "never"]
MailAction = Literal["flag", "move"]
AfterPublish = Literal["keep", "flag", "move"]
WikiAuth = Literal["botpassword", "oauth2"]
MailboxAuth = Literal["password", "xoauth2"]
LogFormat = Literal["auto", "json", "console"]
T = TypeVar("T")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TITLE_ILLEGAL = re.compile(r"[#<>\[\]|{}\x00-\x1f\x7f]")
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_KEYWORD = re.compile(r"^\$?[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class Secret:
    """A password or token; its value never appears in repr, logs or exception text."""

    value: str = field(repr=False)

    def __str__(self) -> str:
        return "********"


@dataclass(frozen=True)
class TlsSettings:
    """How a connection verifies its peer: certificates are checked unless `verify` is off."""

    verify: bool = True
    ca_file: Path | None = None


@dataclass(frozen=True)
class WikiSettings:
    """The MediaWiki the pages go to, and the bot-password login used for it."""

    api_url: str
    username: str
    password: Secret
    tls: TlsSettings
    timeout: float = 30.0
    maxlag: int = 5
    auth: WikiAuth = "botpassword"
    edits_per_minute: int = 0


@dataclass(frozen=True)
class StateSettings:
    """Where the state store lives."""

    path: Path


@dataclass(frozen=True)
class MailboxSettings:
    """One mailbox-to-space mapping: which IMAP account and folders feed which wiki pages."""

    name: str
    host: str
    port: int
    security: Security
    username: str
    password: Secret
    folders: tuple[str, ...]
    page_prefix: str
    categories: tuple[str, ...]
    tls: TlsSettings
    poll_interval: int = 60
    batch_size: int = 50
    max_attempts: int = 5
    timeout: float = 30.0
    thread_by_subject: bool = False
    subject_window_days: int = 30
    language: Language = "en"
    show_addresses: AddressDisplay = "full"
    max_attachment_mb: int = 25
    address: str = ""
    reply: ReplyMode = "never"
    reply_templates: Path | None = None
    reply_max_age_days: int = 7
    reply_unpublished: bool = False
    allowed_senders: tuple[str, ...] = ()
    require_authenticated: bool = False
    trusted_authserv_ids: tuple[str, ...] = ()
    quarantine: MailAction = "flag"
    quarantine_folder: str = "Quarantine"
    quarantine_flag: str = "$WikiQuarantine"
    after_publish: AfterPublish = "keep"
    publish_flag: str = "$Wiki"
    archive_folder: str = "Archive/Wiki"
    start_at: str = "beginning"
    auth: MailboxAuth = "password"
    token_command: tuple[str, ...] = ()
    idle: bool = False
    idle_refresh_seconds: int = 1500

    @property
    def start_date(self) -> date | None:
        """The first day to publish when `start_at` is a date."""
        return date.fromisoformat(self.start_at) if _ISO_DATE.match(self.start_at) else None


@dataclass(frozen=True)
class LogSettings:
    """Log level and format (`auto`: JSON when stdout is not a terminal)."""

    level: str = "info"
    format: LogFormat = "auto"


@dataclass(frozen=True)
class SmtpSettings:
    """The server link replies are sent through."""

    host: str
    port: int
    security: Security
    from_address: str
    username: str
    password: Secret
    tls: TlsSettings
    timeout: float = 30.0
    max_replies_per_sender_per_hour: int = 5


@dataclass(frozen=True)
class ServiceSettings:
    """The daemon's own endpoints: Prometheus metrics and health, on loopback unless configured."""

    metrics_listen: str = "127.0.0.1:9464"
    health_failure_seconds: int = 900

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """(host, port) to serve metrics on, or None when switched off (`metrics_listen = ""`)."""
        if not self.metrics_listen:
            return None
        host, _, port = self.metrics_listen.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)


@dataclass(frozen=True)
class Settings:
    """The whole validated configuration."""

    wiki: WikiSettings
    state: StateSettings
    mailboxes: tuple[MailboxSettings, ...]
    log: LogSettings
    smtp: SmtpSettings | None = None
    service: ServiceSettings = field(default_factory=ServiceSettings)
    warnings: tuple[str, ...] = ()

    def own_addresses(self) -> frozenset[str]:
        """The bridge's sending address and every team mailbox address (never replied to)."""
        addresses = {mailbox.address for mailbox in self.mailboxes}
        if self.smtp is not None:
            addresses.add(self.smtp.from_address)
        return frozenset(address.lower() for address in addresses if address)


class _Table:
    """Reads typed values from one TOML table, recording every problem under its full key."""

    def __init__(self, data: Mapping[str, Any], path: str, problems: list[str]) -> None:
        self.data, self.path, self.problems = data, path, problems
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def problem(self, name: str, text: str) -> None:
        self.problems.append(f"{self.key(name)}: {text}")

    def get(
        self, name: str, check: Callable[[Any], T | None], expected: str, default: T | None = None
    ) -> T | None:
        self.used.add(name)
        if name not in self.data:
            if default is None:
                self.problem(name, f"is required ({expected})")
            return default
        value = check(self.data[name])
        if value is None:
            self.problem(name, f"must be {expected}")
        return value

    def optional(self, name: str, check: Callable[[Any], T | None], expected: str) -> T | None:
        self.used.add(name)
        if name not in self.data:
            return None
        value = check(self.data[name])
        if value is None:
            self.problem(name, f"must be {expected}")
        return value

    def finish(self) -> None:
        for unknown in sorted(set(self.data) - self.used):
            self.problem(unknown, "is not a known setting (check its spelling)")


def _string(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _integer(low: int, high: int) -> Callable[[Any], int | None]:
    def check(value: Any) -> int | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        return cast(int, value) if ok else None

    return check


def _boolean(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _choice(*options: str) -> Callable[[Any], str | None]:
    return lambda value: value if value in options else None


def _string_list(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(item, str) and item.strip() for item in value):
        return tuple(item.strip() for item in value)
    return None


def _nonempty_string_list(value: Any) -> tuple[str, ...] | None:
    return _string_list(value) or None


def _page_prefix(value: Any) -> str | None:
    text = _string(value)
    if text is None or _TITLE_ILLEGAL.search(text) or text.startswith(("/", ":")) or text.endswith("/"):
        return None
    if any(part in {"", ".", ".."} for part in text.split("/")) or len(text.encode()) > 150:
        return None
    return text


class _Loader:
    def __init__(self, base_dir: Path, environ: Mapping[str, str], smtp_configured: bool) -> None:
        self.base_dir, self.environ, self.smtp_configured = base_dir, environ, smtp_configured
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def table(self, data: Any, path: str) -> _Table:
        if not isinstance(data, dict):
            self.problems.append(f"{path}: must be a table")
            data = {}
        return _Table(data, path, self.problems)

    def path(self, raw: str) -> Path:
        candidate = Path(raw).expanduser()
        return candidate if candidate.is_absolute() else self.base_dir / candidate

    def secret(self, table: _Table, what: str, required: bool = True) -> Secret:
        """Read the secret named by `password_file`, `password_env` or `credential`; exactly one.

        `credential` names a systemd credential (`LoadCredential=`), read from
        `$CREDENTIALS_DIRECTORY`, where systemd places it readable by the service alone.
        """
        sources = {
            key: table.optional(key, _string, expected)
            for key, expected in (
                ("password_file", "a file path"),
                ("password_env", "an environment variable name"),
                ("credential", "a systemd credential name"),
            )
        }
        if "password" in table.data:
            table.used.add("password")
            table.problem(
                "password",
                "secrets never go in the config file; use password_file, password_env or credential",
            )
            return Secret("")
        given = {key: value for key, value in sources.items() if value is not None}
        if not given:
            if required and not any(key in table.data for key in sources):
                table.problem("password_file", f"set password_file, password_env or credential for {what}")
            return Secret("")
        if len(given) > 1:
            table.problem(list(given)[1], "set only one of password_file, password_env and credential")
            return Secret("")
        [(key, value)] = given.items()
        if key == "password_env":
            if not self.environ.get(value):
                table.problem(key, f"the environment variable {value} is not set or empty")
                return Secret("")
            return Secret(self.environ[value])
        if key == "credential":
            directory = self.environ.get("CREDENTIALS_DIRECTORY")
            if not directory:
                table.problem(
                    key, "CREDENTIALS_DIRECTORY is not set (use LoadCredential= in the systemd unit)"
                )
                return Secret("")
            return self._secret_file(table, key, Path(directory) / value)
        return self._secret_file(table, key, self.path(value))

    def _secret_file(self, table: _Table, key: str, secret_path: Path) -> Secret:
        try:
            mode = secret_path.stat().st_mode
            value = secret_path.read_text(encoding="utf-8").strip("\r\n")
        except OSError as exc:
            table.problem(key, f"cannot read {secret_path}: {exc.strerror or exc}")
            return Secret("")
        except UnicodeDecodeError as exc:
            table.problem(
                key, f"{secret_path} is not UTF-8 text (offset {exc.start}); save the secret as UTF-8"
            )
            return Secret("")
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            self.warnings.append(f"{table.key(key)}: {secret_path} is readable by other users")
        if not value:
            table.problem(key, f"{secret_path} is empty")
        return Secret(value)

    def tls(self, table: _Table, enabled: bool) -> TlsSettings:
        verify = table.get("tls_verify", _boolean, "true or false", default=True)
        ca_raw = table.optional("ca_file", _string, "a file path")
        ca_file = self.path(ca_raw) if ca_raw else None
        if ca_file is not None and not ca_file.is_file():
            table.problem("ca_file", _not_a_file(ca_file))
        if enabled and verify is False:
            self.warnings.append(f"{table.key('tls_verify')}: certificate verification is switched off")
        return TlsSettings(verify=bool(verify), ca_file=ca_file)

    def wiki(self, data: Any) -> WikiSettings:
        table = self.table(data, "wiki")
        api_url = table.get("api_url", _url, "an http:// or https:// URL ending in api.php") or ""
        auth = cast(
            WikiAuth,
            table.get(
                "auth", _choice("botpassword", "oauth2"), "botpassword or oauth2", default="botpassword"
            ),
        )
        username = (
            table.get("username", _string, "a bot-password login such as 'Bridge@bridge'")
            if auth == "botpassword"
            else table.optional("username", _string, "the wiki user name")
        ) or ""
        settings = WikiSettings(
            api_url=api_url,
            username=username,
            password=self.secret(table, "the wiki (the bot password, or the OAuth 2.0 access token)"),
            auth=auth,
            edits_per_minute=table.get(
                "edits_per_minute", _integer(0, 10000), "an integer between 0 (no limit) and 10000", default=0
            )
            or 0,
            tls=self.tls(table, api_url.startswith("https://")),
            timeout=_timeout(table),
            maxlag=table.get("maxlag", _integer(1, 60), "seconds between 1 and 60", default=5) or 5,
        )
        table.finish()
        return settings

    def state(self, data: Any) -> StateSettings:
        table = self.table(data, "state")
        raw = table.get("path", _string, "a file path", default="var/state.sqlite3") or "var/state.sqlite3"
        path = self.path(raw)
        problem = _state_path_problem(path)
        if problem:
            table.problem("path", problem)
        table.finish()
        return StateSettings(path=path)

    def log(self, data: Any) -> LogSettings:
        table = self.table(data, "log")
        level = table.get(
            "level",
            _choice("debug", "info", "warning", "error"),
            "debug, info, warning or error",
            default="info",
        )
        fmt = table.get("format", _choice("auto", "json", "console"), "auto, json or console", default="auto")
        table.finish()
        return LogSettings(level=level or "info", format=cast(LogFormat, fmt or "auto"))

    def mailbox_policy(self, table: _Table, name: str) -> dict[str, Any]:
        """Replies, sender policy, what happens to mail, where to start (issue-5 keys)."""
        username = str(table.data.get("username", ""))
        address = table.get(
            "address", _address, "an e-mail address", default=username if "@" in username else ""
        )
        reply = table.get(
            "reply",
            _choice("first", "every", "never"),
            "first, every or never",
            default="first" if self.smtp_configured else "never",
        )
        if reply != "never" and not self.smtp_configured:
            table.problem("reply", 'link replies need an [smtp] section (or set reply = "never")')
        if reply != "never" and not address:
            table.problem("address", "the team mailbox's e-mail address is needed for replies (Reply-To)")
        templates = table.optional("reply_templates", _string, "a directory")
        template_dir = self.path(templates) if templates else None
        if template_dir is not None and not template_dir.is_dir():
            table.problem("reply_templates", f"{template_dir} is not a directory")
        elif template_dir is not None:
            _check_templates(table, template_dir)
        start_at = table.get(
            "start_at", _start_at, 'beginning, now or a date "YYYY-MM-DD"', default="beginning"
        )
        return {
            "address": address or "",
            "reply": reply or "never",
            "reply_templates": template_dir,
            "reply_max_age_days": table.get(
                "reply_max_age_days", _integer(0, 3650), "days between 0 and 3650", default=7
            ),
            "reply_unpublished": bool(
                table.get("reply_unpublished", _boolean, "true or false", default=False)
            ),
            "allowed_senders": table.get(
                "allowed_senders", _patterns, "a list of addresses or '*@domain' patterns", default=()
            )
            or (),
            "require_authenticated": bool(
                table.get("require_authenticated", _boolean, "true or false", default=False)
            ),
            "trusted_authserv_ids": table.get(
                "trusted_authserv_ids", _string_list, "a list of host names", default=()
            )
            or (),
            "quarantine": table.get("quarantine", _choice("flag", "move"), "flag or move", default="flag"),
            "quarantine_folder": table.get(
                "quarantine_folder", _string, "a folder name", default="Quarantine"
            ),
            "quarantine_flag": table.get(
                "quarantine_flag",
                _keyword,
                "an IMAP keyword such as $WikiQuarantine",
                default="$WikiQuarantine",
            ),
            "after_publish": table.get(
                "after_publish", _choice("keep", "flag", "move"), "keep, flag or move", default="keep"
            ),
            "publish_flag": table.get(
                "publish_flag", _keyword, "an IMAP keyword such as $Wiki", default="$Wiki"
            ),
            "archive_folder": table.get("archive_folder", _string, "a folder name", default="Archive/Wiki"),
            "start_at": start_at or "beginning",
        }

    def service(self, data: Any) -> ServiceSettings:
        table = self.table(data, "service")
        listen = table.get(
            "metrics_listen", _listen, 'a "host:port" to listen on, or "" for none', default="127.0.0.1:9464"
        )
        settings = ServiceSettings(
            metrics_listen="" if listen is None else listen,
            health_failure_seconds=table.get(
                "health_failure_seconds",
                _integer(10, 86400 * 7),
                "seconds between 10 and 604800",
                default=900,
            )
            or 900,
        )
        table.finish()
        return settings

    def smtp(self, data: Any) -> SmtpSettings:
        table = self.table(data, "smtp")
        host = table.get("host", _string, "a host name or address") or ""
        security = cast(
            Security,
            table.get(
                "security",
                _choice("none", "starttls", "tls"),
                "one of none, starttls, tls",
                default="starttls",
            )
            or "starttls",
        )
        default_port = {"tls": 465, "starttls": 587, "none": 25}[security]
        username = table.optional("username", _string, "the SMTP login name") or ""
        password = self.secret(table, "the SMTP server", required=bool(username))
        if security == "none" and username and host not in _LOOPBACK:
            self.warnings.append("smtp.security: the SMTP password travels unencrypted")
        settings = SmtpSettings(
            host=host,
            port=table.get("port", _integer(1, 65535), "an integer between 1 and 65535", default=default_port)
            or default_port,
            security=security,
            from_address=table.get("from_address", _address, "an e-mail address") or "",
            username=username,
            password=password,
            tls=self.tls(table, security != "none"),
            timeout=_timeout(table),
            max_replies_per_sender_per_hour=table.get(
                "max_replies_per_sender_per_hour",
                _integer(1, 1000),
                "an integer between 1 and 1000",
                default=5,
            )
            or 5,
        )
        table.finish()
        return settings

    def mailbox(self, data: Any, index: int) -> MailboxSettings:
        table = self.table(data, f"mailboxes[{index}]")
        name = table.get("name", _name, "letters, digits, '.', '_' or '-' (at most 64)") or f"#{index}"
        host = table.get("host", _string, "a host name or address") or ""
        security = cast(
            Security,
            table.get(
                "security", _choice("none", "starttls", "tls"), "one of none, starttls, tls", default="tls"
            )
            or "tls",
        )
        default_port = 993 if security == "tls" else 143
        port = table.get("port", _integer(1, 65535), "an integer between 1 and 65535", default=default_port)
        auth = cast(
            MailboxAuth,
            table.get("auth", _choice("password", "xoauth2"), "password or xoauth2", default="password"),
        )
        token_command = table.optional(
            "token_command", _nonempty_string_list, "a command as a list of strings"
        )
        if auth == "xoauth2" and token_command is None:
            table.problem(
                "token_command", 'auth = "xoauth2" needs a token_command that prints an access token'
            )
        if security == "none" and host not in _LOOPBACK:
            self.warnings.append(f"{table.key('security')}: the IMAP password of {name} travels unencrypted")
        settings = MailboxSettings(
            name=name,
            host=host,
            port=port or default_port,
            security=security,
            username=table.get("username", _string, "the IMAP login name") or "",
            password=self.secret(table, f"mailbox {name}", required=auth == "password"),
            auth=auth,
            token_command=token_command or (),
            idle=bool(table.get("idle", _boolean, "true or false", default=False)),
            idle_refresh_seconds=table.get(
                "idle_refresh_seconds",
                _integer(60, 1740),
                "seconds between 60 and 1740 (29 minutes)",
                default=1500,
            )
            or 1500,
            folders=table.get(
                "folders", _nonempty_string_list, "a non-empty list of folder names", default=("INBOX",)
            )
            or ("INBOX",),
            page_prefix=table.get(
                "page_prefix",
                _page_prefix,
                "a legal page title such as 'Sales/Mail' (no #<>[]|{}, no leading or "
                "trailing '/', no '..' parts, at most 150 bytes)",
            )
            or "",
            categories=table.get("categories", _string_list, "a list of category names", default=()) or (),
            tls=self.tls(table, security != "none"),
            poll_interval=table.get(
                "poll_interval", _integer(5, 86400), "seconds between 5 and 86400", default=60
            )
            or 60,
            batch_size=table.get("batch_size", _integer(1, 1000), "an integer between 1 and 1000", default=50)
            or 50,
            max_attempts=table.get(
                "max_attempts", _integer(1, 100), "an integer between 1 and 100", default=5
            )
            or 5,
            timeout=_timeout(table),
            thread_by_subject=bool(table.get("thread_by_subject", _boolean, "true or false", default=False)),
            subject_window_days=table.get(
                "subject_window_days", _integer(1, 3650), "days between 1 and 3650", default=30
            )
            or 30,
            language=cast(Language, table.get("language", _choice("en", "de"), "en or de", default="en")),
            show_addresses=cast(
                AddressDisplay,
                table.get(
                    "show_addresses", _choice("full", "name", "none"), "full, name or none", default="full"
                ),
            ),
            max_attachment_mb=table.get(
                "max_attachment_mb", _integer(1, 2048), "megabytes between 1 and 2048", default=25
            )
            or 25,
            **self.mailbox_policy(table, name),
        )
        for category in settings.categories:
            if _TITLE_ILLEGAL.search(category):
                table.problem("categories", f"{category!r} is not a legal category name")
        table.finish()
        return settings


def _timeout(table: _Table) -> float:
    """The `timeout` key every connection has: seconds, 30 unless set."""
    return float(table.get("timeout", _integer(1, 600), "seconds between 1 and 600", default=30) or 30)


def _listen(value: Any) -> str | None:
    if value == "":
        return ""
    text = _string(value)
    if not text:
        return None
    match = re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})", text)
    return text if match and 0 < int(match.group(2)) < 65536 else None


def _address(value: Any) -> str | None:
    text = _string(value)
    return text if text and _ADDRESS.match(text) else None


def _keyword(value: Any) -> str | None:
    text = _string(value)
    return text if text and _KEYWORD.match(text) else None


def _patterns(value: Any) -> tuple[str, ...] | None:
    items = _string_list(value)
    if items is None or not all(re.fullmatch(r"[^@\s]+@[^@\s]+", item) for item in items):
        return None
    return items


def _start_at(value: Any) -> str | None:
    text = _string(value)
    if text in ("beginning", "now"):
        return text
    if text and _ISO_DATE.match(text):
        try:
            date.fromisoformat(text)
        except ValueError:
            return None
        return text
    return None


def _not_a_file(path: Path) -> str:
    return f"{path} is a directory, not a file" if path.is_dir() else f"{path} does not exist"


_TEMPLATE_FILES = tuple(
    f"{kind}.{language}.{ext}"
    for kind, ext in (("reply", "txt"), ("reply", "html"), ("refused", "txt"))
    for language in ("en", "de")
)


def _check_templates(table: _Table, directory: Path) -> None:
    """Report reply texts that cannot be read as UTF-8 (they would otherwise fail every pass)."""
    for name in _TEMPLATE_FILES:
        candidate = directory / name
        if not candidate.exists():
            continue
        try:
            candidate.read_text(encoding="utf-8")
        except OSError as exc:
            table.problem("reply_templates", f"cannot read {candidate}: {exc.strerror or exc}")
        except UnicodeDecodeError as exc:
            table.problem("reply_templates", f"{candidate} is not UTF-8 text (offset {exc.start})")


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


def _url(value: Any) -> str | None:
    text = _string(value)
    return text if text and re.match(r"^https?://[^\s/]+(/\S*)?$", text) else None


def _name(value: Any) -> str | None:
    text = _string(value)
    return text if text and _NAME.match(text) else None


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the config file; raise `ConfigError` listing every problem by key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot be read: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: is not UTF-8 text (offset {exc.start})"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: is not valid TOML: {exc}"]) from exc
    loader = _Loader(path.resolve().parent, os.environ if environ is None else environ, "smtp" in data)
    root = _Table(data, "", loader.problems)
    root.used.update({"wiki", "state", "mailboxes", "log", "smtp", "service"})
    if "wiki" not in data:
        loader.problems.append("wiki: the [wiki] section is required")
    wiki = loader.wiki(data.get("wiki", {}))
    state = loader.state(data.get("state", {}))
    log = loader.log(data.get("log", {}))
    smtp = loader.smtp(data["smtp"]) if "smtp" in data else None
    service = loader.service(data.get("service", {}))
    raw_mailboxes = data.get("mailboxes", [])
    if not isinstance(raw_mailboxes, list) or not raw_mailboxes:
        loader.problems.append("mailboxes: at least one [[mailboxes]] entry is required")
        raw_mailboxes = []
    mailboxes = tuple(loader.mailbox(entry, index) for index, entry in enumerate(raw_mailboxes))
    names = [mailbox.name for mailbox in mailboxes]
    for index, name in enumerate(names):
        if name in names[:index]:
            loader.problems.append(f"mailboxes[{index}].name: {name!r} is used by another mailbox")
    root.finish()
    if loader.problems:
        raise ConfigError(loader.problems)
    return Settings(
        wiki=wiki,
        state=state,
        mailboxes=mailboxes,
        log=log,
        smtp=smtp,
        service=service,
        warnings=tuple(loader.warnings),
    )
