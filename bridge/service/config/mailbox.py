"""One [[mailboxes]] entry: flat keys in the file, split into the parts each consumer takes.

`account` is what the IMAP adapter needs, `space` how the pages look, `replies` what the outbox
needs, `senders` who may publish, `mail_actions` what happens to published mail and `polling`
when and how much is read. The file keeps its flat keys (`mailboxes[0].port`); `ConfigModel`
gathers them into the parts, and problems are reported under the flat key.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from bridge.core.routing import RouteRule, route_of_title
from bridge.service.config.reporting import MailboxReport, default_report_title
from bridge.service.config.routes import (
    AddressSetting,
    Categories,
    ExternalReplySetting,
    InternalDomains,
    LanguageSetting,
    MailboxRedaction,
    MailboxRoute,
    PagePrefix,
    ReplyMode,
    SenderPatterns,
    Unrouted,
)
from bridge.service.config.rules import (
    ISO_DATE,
    ConfigModel,
    Derived,
    LoadContext,
    MaskedSecret,
    Missing,
    Secret,
    boolean,
    choice,
    context_of,
    email_address,
    integer,
    keyword,
    mailbox_name,
    nonempty_string_list,
    problem,
    rule,
    seconds,
    start_point,
    string,
    string_list,
)
from bridge.service.config.secrets import read_secret
from bridge.service.config.tls import TlsSettings

Security = Literal["none", "starttls", "tls"]
MailAction = Literal["flag", "move"]
AfterPublish = Literal["keep", "flag", "move"]
MailboxAuth = Literal["password", "xoauth2"]
_Flag = Annotated[bool, rule(boolean, "true or false")]
_SECURITY = rule(choice("none", "starttls", "tls"), "one of none, starttls, tls")


class MailboxAccount(ConfigModel):
    """The IMAP login and the folders read: all the IMAP adapter needs."""

    parts = ("tls",)

    host: Annotated[str, rule(string, "a host name or address")]
    security: Annotated[Security, _SECURITY] = "tls"
    port: Annotated[int, rule(integer(1, 65535), "an integer between 1 and 65535")] = 993
    username: Annotated[str, rule(string, "the IMAP login name")]
    auth: Annotated[MailboxAuth, rule(choice("password", "xoauth2"), "password or xoauth2")] = "password"
    token_command: tuple[str, ...] = ()
    password: MaskedSecret = Secret("")
    tls: TlsSettings = TlsSettings()
    timeout: Annotated[float, rule(seconds, "seconds between 1 and 600")] = 30.0
    folders: Annotated[tuple[str, ...], rule(nonempty_string_list, "a non-empty list of folder names")] = (
        "INBOX",
    )

    @classmethod
    def prepare(cls, data: dict[str, Any], context: LoadContext | None) -> None:
        """The port follows the security (993 for TLS, else 143); an absent token command is None."""
        data.setdefault("port", 143 if data.get("security") in ("starttls", "none") else 993)
        data.setdefault("token_command", None)

    @field_validator("token_command", mode="plain")
    @classmethod
    def _token_command(cls, value: Any, info: ValidationInfo) -> tuple[str, ...]:
        if value is None:
            if info.data.get("auth") == "xoauth2":
                raise problem('auth = "xoauth2" needs a token_command that prints an access token')
            return ()
        command = nonempty_string_list(value)
        if command is None:
            raise problem("must be a command as a list of strings")
        return command

    @field_validator("password", mode="plain")
    @classmethod
    def _password(cls, value: Any, info: ValidationInfo) -> Secret:
        context = context_of(info)
        needed = context is not None and info.data.get("auth") == "password"
        label = context.mailboxes[-1] if context is not None and context.mailboxes else ""
        return read_secret(value, context, f"mailbox {label}" if needed else None)


class MailboxSpace(ConfigModel):
    """Where the thread pages go and how they look."""

    page_prefix: PagePrefix
    categories: Categories = ()
    language: LanguageSetting = "en"
    show_addresses: AddressSetting = "full"
    max_attachment_mb: Annotated[int, rule(integer(1, 2048), "megabytes between 1 and 2048")] = 25
    thread_by_subject: _Flag = False
    subject_window_days: Annotated[int, rule(integer(1, 3650), "days between 1 and 3650")] = 30


class MailboxReplies(ConfigModel):
    """The link replies: the team address they come from, when they are sent, their texts."""

    address: Annotated[str, rule(email_address, "an e-mail address")] = ""
    reply: ReplyMode = Field(default="never", validate_default=True)
    reply_templates: Path | None = None
    reply_max_age_days: Annotated[int, rule(integer(0, 3650), "days between 0 and 3650")] = 7
    reply_unpublished: _Flag = False
    external_reply: ExternalReplySetting = "none"

    @field_validator("reply", mode="plain")
    @classmethod
    def _reply(cls, value: Any, info: ValidationInfo) -> ReplyMode:
        mode: ReplyMode | None = choice("first", "every", "never")(value)
        if mode is None:
            raise problem("must be first, every or never")
        context = context_of(info)
        if mode != "never" and context is not None and not context.smtp_configured:
            raise problem('link replies need an [smtp] section (or set reply = "never")')
        if mode != "never" and not info.data.get("address"):
            raise problem("the team mailbox's e-mail address is needed for replies (Reply-To)", "address")
        return mode

    @field_validator("reply_templates", mode="plain")
    @classmethod
    def _templates(cls, value: Any, info: ValidationInfo) -> Path | None:
        if value is None or isinstance(value, Path):
            return value
        text = string(value)
        if text is None:
            raise problem("must be a directory")
        context = context_of(info)
        directory = context.path(text) if context is not None else Path(text)
        if not directory.is_dir():
            raise problem(f"{directory} is not a directory")
        _check_templates(directory)
        return directory


_TEMPLATE_FILES = tuple(
    f"{kind}.{language}.{ext}"
    for kind, ext in (("reply", "txt"), ("reply", "html"), ("refused", "txt"), ("acknowledge", "txt"))
    for language in ("en", "de")
)


def _check_templates(directory: Path) -> None:
    """Refuse reply texts that cannot be read as UTF-8 (they would otherwise fail every pass)."""
    for file_name in _TEMPLATE_FILES:
        candidate = directory / file_name
        if not candidate.exists():
            continue
        try:
            candidate.read_text(encoding="utf-8")
        except OSError as exc:
            raise problem(f"cannot read {candidate}: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise problem(f"{candidate} is not UTF-8 text (offset {exc.start})") from None


class MailboxSenders(ConfigModel):
    """Who may publish, and what happens to mail from anyone else."""

    allowed_senders: SenderPatterns = ()
    require_authenticated: _Flag = False
    trusted_authserv_ids: Annotated[tuple[str, ...], rule(string_list, "a list of host names")] = ()
    quarantine: Annotated[MailAction, rule(choice("flag", "move"), "flag or move")] = "flag"
    quarantine_folder: Annotated[str, rule(string, "a folder name")] = "Quarantine"
    quarantine_flag: Annotated[str, rule(keyword, "an IMAP keyword such as $WikiQuarantine")] = (
        "$WikiQuarantine"
    )
    # None: the [organisation] domains, else the domain of the mapping's address.
    internal_domains: InternalDomains = None


class MailboxActions(ConfigModel):
    """What happens to a mail once it is on the wiki."""

    after_publish: Annotated[AfterPublish, rule(choice("keep", "flag", "move"), "keep, flag or move")] = (
        "keep"
    )
    publish_flag: Annotated[str, rule(keyword, "an IMAP keyword such as $Wiki")] = "$Wiki"
    archive_folder: Annotated[str, rule(string, "a folder name")] = "Archive/Wiki"


class MailboxPolling(ConfigModel):
    """When the mailbox is read, how much per pass, and from which day on."""

    poll_interval: Annotated[int, rule(integer(5, 86400), "seconds between 5 and 86400")] = 60
    batch_size: Annotated[int, rule(integer(1, 1000), "an integer between 1 and 1000")] = 50
    max_attempts: Annotated[int, rule(integer(1, 100), "an integer between 1 and 100")] = 5
    start_at: Annotated[str, rule(start_point, 'beginning, now or a date "YYYY-MM-DD"')] = "beginning"
    idle: _Flag = False
    idle_refresh_seconds: Annotated[
        int, rule(integer(60, 1740), "seconds between 60 and 1740 (29 minutes)")
    ] = 1500

    @property
    def start_date(self) -> date | None:
        """The first day to publish when `start_at` is a date."""
        return date.fromisoformat(self.start_at) if ISO_DATE.match(self.start_at) else None


class MailboxSettings(ConfigModel):
    """One mailbox-to-space mapping: which IMAP account and folders feed which wiki pages."""

    parts = ("account", "space", "replies", "senders", "mail_actions", "polling", "reporting", "redaction")

    name: str
    account: MailboxAccount
    space: MailboxSpace
    replies: MailboxReplies = MailboxReplies()
    senders: MailboxSenders = MailboxSenders()
    mail_actions: MailboxActions = MailboxActions()
    polling: MailboxPolling = MailboxPolling()
    reporting: MailboxReport = MailboxReport()
    redaction: MailboxRedaction = MailboxRedaction()
    routes: tuple[MailboxRoute, ...] = ()
    unrouted: Annotated[Unrouted, rule(choice("quarantine", "default"), "quarantine or default")] = (
        "quarantine"
    )

    @property
    def route_rules(self) -> tuple[RouteRule, ...]:
        """The routes as the core matches them, in the file's order."""
        return tuple(route.matcher for route in self.routes)

    @property
    def page_prefixes(self) -> tuple[str, ...]:
        """The prefixes this mapping publishes under: its own, then each route's."""
        return (self.space.page_prefix, *(route.page_prefix for route in self.routes))

    @property
    def may_quarantine(self) -> bool:
        """Whether mail may be quarantined: a sender policy (the mapping's or a route's), or routes at all."""
        senders = self.senders
        return bool(senders.allowed_senders or senders.require_authenticated or self.routes)

    def for_route(self, name: str | None) -> MailboxSettings:
        """The settings a route's mail is published with (None, or an unknown name: the mapping's own)."""
        route = next((r for r in self.routes if r.name == name), None)
        if route is None:
            return self
        space = self.space.model_copy(
            update=route.overrides(self.space, ("page_prefix", "categories", "language", "show_addresses"))
        )
        kinds = ("redact", "redact_patterns", "redact_attachment_types")
        redaction = self.redaction.model_copy(
            update={k: getattr(route.redaction, k) for k in kinds if k in route.redaction.model_fields_set}
        )
        return self.model_copy(
            update={
                "space": space,
                "senders": self.senders.model_copy(
                    update=route.overrides(self.senders, ("allowed_senders", "internal_domains"))
                ),
                "replies": self.replies.model_copy(
                    update=route.overrides(self.replies, ("reply", "external_reply"))
                ),
                "redaction": redaction,
            }
        )

    def for_page(self, title: str) -> MailboxSettings:
        """The settings of the route whose space holds the page `title` (see `for_route`)."""
        return self.for_route(route_of_title(title, self.route_rules))

    @field_validator("routes", mode="after")
    @classmethod
    def _distinct_routes(
        cls, routes: tuple[MailboxRoute, ...], info: ValidationInfo
    ) -> tuple[MailboxRoute, ...]:
        space = info.data.get("space")
        taken = {space.page_prefix: "the mailbox itself"} if isinstance(space, MailboxSpace) else {}
        names: set[str] = set()
        for index, route in enumerate(routes):
            if route.name in names:
                raise problem(f"{route.name!r} names another route too", f"routes[{index}].name")
            names.add(route.name)
            if route.page_prefix in taken:
                raise problem(
                    f"{route.page_prefix!r} is the prefix of {taken[route.page_prefix]}: each route needs "
                    "its own (a page tells its route by its prefix)",
                    f"routes[{index}].page_prefix",
                )
            taken[route.page_prefix] = f"route {route.name!r}"
        return routes

    @property
    def report_title(self) -> str:
        """The adoption report's page: `report_page`, else `Report`/`Bericht` under the prefix."""
        return self.reporting.report_page or default_report_title(self.space.page_prefix, self.space.language)

    @classmethod
    def prepare(cls, data: dict[str, Any], context: LoadContext | None) -> None:
        """Defaults from other keys: the address from an address-like login, replies on with [smtp]."""
        login = str(data.get("username", ""))
        if "address" not in data and "@" in login:
            data["address"] = Derived(login)
        if "reply" not in data:
            data["reply"] = "first" if context is not None and context.smtp_configured else "never"
        if context is not None:
            # Problems of this entry name it (or its index when the name is unusable).
            context.mailboxes.append(mailbox_name(data.get("name")) or f"#{len(context.mailboxes)}")

    @field_validator("name", mode="plain")
    @classmethod
    def _name(cls, value: Any, info: ValidationInfo) -> str:
        text = mailbox_name(value)
        if text is None:
            expected = "letters, digits, '.', '_' or '-' (at most 64)"
            raise problem(
                f"is required ({expected})" if isinstance(value, Missing) else f"must be {expected}"
            )
        context = context_of(info)
        if context is not None and text in context.mailboxes[:-1]:
            raise problem(f"{text!r} is used by another mailbox")
        return text
