"""The [organisation] section: the company's mail domains and how people map to wiki accounts.

`internal_domains` says who is inside (link replies go only there; a mapping may override it);
`wiki_user_from_address` (a rule) and `people_file` (the admin's CSV of address,user) say which
wiki account a colleague has. Accounts are checked against the wiki before any is linked.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import ValidationInfo, field_validator

from bridge.core.people import RULE_FIELDS, valid_account_name
from bridge.service.config.rules import (
    ConfigModel,
    LoadContext,
    context_of,
    integer,
    problem,
    rule,
    string,
    string_list,
)

_DOMAIN_PATTERN = re.compile(
    r"^(?:\*\.)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$"
)
_ADDRESS = re.compile(r"^[^@\s<>,]+@[^@\s<>,]+$")


def domain_patterns(value: Any) -> tuple[str, ...] | None:
    """Mail domains (`firma.de`) or all subdomains of one (`*.firma.de`), lower-cased."""
    items = string_list(value)
    if items is None:
        return None
    lowered = tuple(item.lower().rstrip(".") for item in items)
    return lowered if all(_DOMAIN_PATTERN.match(item) for item in lowered) else None


def _account_rule(value: Any) -> str | None:
    """A rule such as "{local}" or "{local_title}" with only the known fields."""
    text = string(value)
    if text is None:
        return None
    fields = set(re.findall(r"\{([^{}]*)\}", text))
    if not fields or not fields <= set(RULE_FIELDS) or re.sub(r"\{[^{}]*\}", "", text).count("{"):
        return None
    return text


@dataclass(frozen=True)
class PeopleFile:
    """The admin's file of people: each mail address (lower-case) with its wiki account name."""

    path: Path
    accounts: tuple[tuple[str, str], ...]


def read_people_file(path: Path) -> PeopleFile:
    """Read a CSV of `address,user` lines (a header line and `#` comments allowed); refuse bad lines."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise problem(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise problem(f"{path} is not UTF-8 text (offset {exc.start})") from None
    accounts: dict[str, str] = {}
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if number == 1 and "@" not in cells[0]:
            continue  # a header line such as "address,user"
        if len(cells) != 2 or not _ADDRESS.match(cells[0]) or not valid_account_name(cells[1]):
            raise problem(f"{path} line {number}: expected 'address,wiki user name'")
        accounts[cells[0].lower()] = cells[1]
    return PeopleFile(path, tuple(sorted(accounts.items())))


class OrganisationSettings(ConfigModel):
    """Who is inside the company, and which wiki account each colleague has."""

    internal_domains: Annotated[
        tuple[str, ...], rule(domain_patterns, "a list of mail domains such as 'firma.de' or '*.firma.de'")
    ] = ()
    wiki_user_from_address: Annotated[
        str,
        rule(
            _account_rule,
            "a rule such as '{local}' or '{local_title}' (fields: " + ", ".join(RULE_FIELDS) + ")",
        ),
    ] = ""
    people_file: PeopleFile | None = None
    people_cache_hours: Annotated[int, rule(integer(1, 720), "hours between 1 and 720")] = 24

    @classmethod
    def prepare(cls, data: dict[str, Any], context: LoadContext | None) -> None:
        """An empty rule switches the rule off."""
        if data.get("wiki_user_from_address") == "":
            del data["wiki_user_from_address"]

    @field_validator("people_file", mode="plain")
    @classmethod
    def _people_file(cls, value: Any, info: ValidationInfo) -> PeopleFile | None:
        if value is None or isinstance(value, PeopleFile):
            return value
        text = string(value) if not isinstance(value, Path) else str(value)
        if text is None:
            raise problem("must be a file path")
        context = context_of(info)
        return read_people_file(context.path(text) if context is not None else Path(text))

    @property
    def links_people(self) -> bool:
        """Whether any colleague can be linked to a wiki account."""
        return bool(self.wiki_user_from_address or (self.people_file and self.people_file.accounts))

    def file_accounts(self) -> dict[str, str]:
        """The admin's file as a mapping of lower-case address to account name."""
        return dict(self.people_file.accounts) if self.people_file else {}
