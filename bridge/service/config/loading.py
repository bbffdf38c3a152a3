"""Reading the config file: TOML in, `Settings` out, or a `ConfigError` listing every problem by key.

Nothing else in the bridge reads the environment or files for settings: the objects built here
are passed down. Problems are printed as `<key>: <sentence>` with the key as the file spells it
(`mailboxes[1].port`), also for keys the models keep in a nested part.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from bridge.errors import ConfigError
from bridge.service.config.mailbox import MailboxSettings
from bridge.service.config.models import Settings, SmtpSettings, WikiSettings, postgres_is_local
from bridge.service.config.rules import LOOPBACK, ConfigModel, LoadContext, Secret
from bridge.service.config.tls import TlsSettings

_SECTIONS = {"wiki", "state", "mailboxes", "log", "smtp", "service", "organisation"}


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
    problems: list[str] = []
    if "wiki" not in data:
        problems.append("wiki: the [wiki] section is required")
        data["wiki"] = {}  # its required keys are named too
    context = LoadContext(
        base_dir=path.resolve().parent,
        environ=dict(os.environ if environ is None else environ),
        smtp_configured="smtp" in data,
    )
    try:
        settings = Settings.model_validate(data, context=context)
    except ValidationError as exc:
        problems.extend(_problem(error) for error in exc.errors())
        # Raised without the pydantic error attached: its text could carry values from the file.
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return settings.noting(_warnings(settings))


def _problem(error: ErrorDetails) -> str:
    """`<key>: <sentence>` for one pydantic error, the key spelt as in the file."""
    location = error["loc"]
    key = ""
    for index, part in enumerate(location):
        if isinstance(part, int):
            key += f"[{part}]"
        elif index + 1 < len(location) and part in _PART_NAMES:
            continue  # a part of the table the file spells flat (`mailboxes[0].port`)
        else:
            key = f"{key}.{part}" if key else part
    given = (error.get("ctx") or {}).get("key")
    if given:
        key = key.rpartition(".")[0] + "." + given if "." in key else given
    if error["type"] == "config":
        text = error["msg"]
    elif error["type"] == "extra_forbidden":
        text = "is not a known setting (check its spelling)"
    elif error["type"] in ("model_type", "model_attributes_type", "dict_type"):
        text = "must be a table"
    else:
        text = error["msg"]
    return f"{key}: {text}"


def _part_names(model: type[ConfigModel]) -> Iterator[str]:
    for name in model.parts:
        yield name
        part = model.model_fields[name].annotation
        if isinstance(part, type) and issubclass(part, ConfigModel):
            yield from _part_names(part)


_PART_NAMES = frozenset(
    name for model in (MailboxSettings, WikiSettings, SmtpSettings) for name in _part_names(model)
)


def _warnings(settings: Settings) -> Iterator[str]:
    """Accepted but risky settings: secrets others may read, plain connections, unchecked certificates."""
    sections: list[tuple[str, Any, bool]] = [
        ("wiki", settings.wiki, settings.wiki.api_url.startswith("https://"))
    ]
    if settings.smtp is not None:
        sections.append(("smtp", settings.smtp, settings.smtp.security != "none"))
    for index, mailbox in enumerate(settings.mailboxes):
        sections.append((f"mailboxes[{index}]", mailbox.account, mailbox.account.security != "none"))
    secrets: list[tuple[str, Secret]] = [(key, table.password) for key, table, _ in sections]
    for key, secret in [*secrets, ("state", settings.state.password)]:
        if secret.file is not None and secret.file.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH):
            yield f"{key}.{secret.key}: {secret.file} is readable by other users"
    for key, table, encrypted in sections:
        tls: TlsSettings = table.tls
        if encrypted and not tls.verify:
            yield f"{key}.tls_verify: certificate verification is switched off"
    state = settings.state
    if (
        state.url
        and state.sslmode
        and not state.sslmode.startswith("verify")
        and not postgres_is_local(state.url)
    ):
        yield f"state.sslmode: {state.sslmode} does not check the PostgreSQL server's certificate"
    smtp = settings.smtp
    if smtp is not None and smtp.security == "none" and smtp.username and smtp.host not in LOOPBACK:
        yield "smtp.security: the SMTP password travels unencrypted"
    for index, mailbox in enumerate(settings.mailboxes):
        if mailbox.account.security == "none" and mailbox.account.host not in LOOPBACK:
            yield f"mailboxes[{index}].security: the IMAP password of {mailbox.name} travels unencrypted"
