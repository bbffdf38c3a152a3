"""The building blocks of the config models: value checks, the shared base model and the load context.

A check returns the cleaned value or None; `rule` turns it into a pydantic validator whose error
sentence is "must be <expected>" (or "is required (<expected>)" for a missing key), the sentences
the bridge has always printed. Checks accept exactly what TOML produces (no coercion: `port = "993"`
is refused), plus tuples and paths so code and tests can build settings directly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

T = TypeVar("T")

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TITLE_ILLEGAL = re.compile(r"[#<>\[\]|{}\x00-\x1f\x7f]")
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
# `Name <address>` or `"Name" <address>`; a quoted name may hold `<`, `>` and escaped quotes.
_NAMED_ADDRESS = re.compile(r'^(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<name>[^"<>]*?))\s*<(?P<address>[^<>]*)>$')
_HEADER_BREAKING = re.compile(r"[\x00-\x1f\x7f]")
_KEYWORD = re.compile(r"^\$?[A-Za-z0-9_.-]{1,64}$")
# The keys one secret is read from; they are gathered into the model's `password` field.
SECRET_KEYS = ("password", "password_file", "password_env", "credential")


@dataclass(frozen=True)
class Secret:
    """A password or token; its value never appears in repr, logs or exception text.

    `file` is where it was read from (to warn when others may read it), `key` the key that named it.
    """

    value: str = field(repr=False)
    file: Path | None = field(default=None, repr=False, compare=False)
    key: str = field(default="", repr=False, compare=False)

    def __str__(self) -> str:
        return "********"


# A secret in a model: dumped (should settings ever be serialised) as asterisks, never its value.
MaskedSecret = Annotated[Secret, PlainSerializer(str, return_type=str)]


class Missing:
    """Stands in for a required key the file does not set, so its rule can name what is expected."""


MISSING = Missing()


class Derived(str):
    """A default taken from another key (the mailbox address from its login): used as it is."""


@dataclass
class LoadContext:
    """What validation needs beyond the file: its directory, the environment, the [smtp] section."""

    base_dir: Path
    environ: dict[str, str]
    smtp_configured: bool
    # The name of each [[mailboxes]] entry validated so far (`#<index>` when unusable).
    mailboxes: list[str] = field(default_factory=list)

    def path(self, raw: str | Path) -> Path:
        """A path from the file: `~` expanded, relative ones taken from the config file's directory."""
        candidate = Path(raw).expanduser()
        return candidate if candidate.is_absolute() else self.base_dir / candidate


def context_of(info: ValidationInfo) -> LoadContext | None:
    """The load context, or None when settings are built in code (no file, no environment)."""
    return info.context if isinstance(info.context, LoadContext) else None


def problem(text: str, key: str | None = None) -> PydanticCustomError:
    """A config problem; `key` names the TOML key when it is not the field's own (secret sources)."""
    return PydanticCustomError("config", text, {"key": key} if key else None)


def rule(check: Callable[[Any], T | None], expected: str) -> PlainValidator:
    """A validator applying `check`; its errors say what the key must be."""

    def validate(value: Any) -> T:
        if isinstance(value, Missing):
            raise problem(f"is required ({expected})")
        result = check(value)
        if result is None:
            raise problem(f"must be {expected}")
        return result

    return PlainValidator(validate)


class ConfigModel(BaseModel):
    """Frozen, unknown keys refused; nested parts and the secret are gathered from flat TOML keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True, validate_by_name=True)
    # Fields holding a part of the settings that the file spells as flat keys of this table.
    parts: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def prepare(cls, data: dict[str, Any], context: LoadContext | None) -> None:
        """Fill in defaults that depend on other keys (subclasses); runs before any field is checked."""

    @model_validator(mode="before")
    @classmethod
    def _gather(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data  # a built model passes; anything else is refused as "must be a table"
        data = dict(data)
        cls.prepare(data, context_of(info))
        for name in cls.parts:
            part = cls.model_fields[name].annotation
            assert isinstance(part, type) and issubclass(part, ConfigModel)
            if isinstance(data.get(name), part):
                continue
            keys = {*toml_keys(part), name}  # a stray key named like the part is reported inside it
            if "password_file" in keys:
                keys.add("password")  # refused inside the part, with the sentence saying why
            data[name] = {key: data.pop(key) for key in list(data) if key in keys}
        if "password" in cls.model_fields and not isinstance(data.get("password"), Secret):
            data["password"] = {key: data.pop(key) for key in list(data) if key in SECRET_KEYS}
        for name, info_ in cls.model_fields.items():
            if info_.is_required() and (info_.alias or name) not in data and name not in data:
                data[info_.alias or name] = MISSING
        return data


def toml_keys(model: type[ConfigModel]) -> list[str]:
    """The flat keys the file may set for `model`, its parts and its secret included."""
    keys: list[str] = []
    for name, info in model.model_fields.items():
        part = info.annotation
        if name in model.parts and isinstance(part, type) and issubclass(part, ConfigModel):
            keys.extend(toml_keys(part))
        elif name == "password":
            keys.extend(SECRET_KEYS[1:])
        else:
            keys.append(info.alias or name)
    return keys


def string(value: Any) -> str | None:
    """A non-blank string, stripped."""
    return value.strip() if isinstance(value, str) and value.strip() else None


def integer(low: int, high: int) -> Callable[[Any], int | None]:
    """An integer (not a bool, not a string) in [low, high]."""

    def check(value: Any) -> int | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        return value if ok else None

    return check


def seconds(value: Any) -> float | None:
    """The `timeout` every connection has: whole seconds between 1 and 600."""
    checked = integer(1, 600)(value)
    return None if checked is None else float(value)


def boolean(value: Any) -> bool | None:
    """true or false."""
    return value if isinstance(value, bool) else None


def choice(*options: str) -> Callable[[Any], Any]:
    """One of the given words."""
    return lambda value: value if value in options else None


def string_list(value: Any) -> tuple[str, ...] | None:
    """A list of non-blank strings, stripped."""
    if isinstance(value, list | tuple) and all(isinstance(item, str) and item.strip() for item in value):
        return tuple(item.strip() for item in value)
    return None


def nonempty_string_list(value: Any) -> tuple[str, ...] | None:
    """A list of non-blank strings with at least one."""
    return string_list(value) or None


def title_path(value: Any) -> str | None:
    """A legal, bounded wiki title path."""
    text = string(value)
    if text is None or TITLE_ILLEGAL.search(text) or text.startswith(("/", ":")) or text.endswith("/"):
        return None
    if any(part in {"", ".", ".."} for part in text.split("/")) or len(text.encode()) > 150:
        return None
    return text


def category_list(value: Any) -> tuple[str, ...] | None:
    """Category names; one with characters a title cannot hold is named in the error."""
    items = string_list(value)
    for item in items or ():
        if TITLE_ILLEGAL.search(item):
            raise problem(f"{item!r} is not a legal category name")
    return items


def listen(value: Any) -> str | None:
    """A "host:port" to listen on, or "" for none."""
    if value == "":
        return ""
    text = string(value)
    match = re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})", text or "")
    return text if match and 0 < int(match.group(2)) < 65536 else None


def email_address(value: Any) -> str | None:
    """An e-mail address; a default derived from the login is taken as it is."""
    if isinstance(value, Derived):
        return str(value)
    text = string(value)
    return text if text and _ADDRESS.match(text) else None


def split_sender(text: str) -> tuple[str, str] | None:
    """(display name, address) of `address`, `Name <address>` or `"Name" <address>`; None if neither."""
    if _HEADER_BREAKING.search(text):  # a line break would end the From header and start another
        return None
    match = _NAMED_ADDRESS.match(text)
    if match is None:
        return ("", text) if _ADDRESS.match(text) else None
    quoted = match.group("quoted")
    name = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else match.group("name")
    address = match.group("address").strip()
    return (name.strip(), address) if _ADDRESS.match(address) else None


def sender(value: Any) -> str | None:
    """An e-mail address, optionally with a display name (`Wiki-Brücke <wiki@firma.de>`), as written."""
    text = string(value)
    return text if text and split_sender(text) is not None else None


def keyword(value: Any) -> str | None:
    """An IMAP keyword such as $Wiki."""
    text = string(value)
    return text if text and _KEYWORD.match(text) else None


def patterns(value: Any) -> tuple[str, ...] | None:
    """Addresses or '*@domain' patterns."""
    items = string_list(value)
    if items is None or not all(re.fullmatch(r"[^@\s]+@[^@\s]+", item) for item in items):
        return None
    return items


def start_point(value: Any) -> str | None:
    """beginning, now or a real date YYYY-MM-DD."""
    text = string(value)
    if text in ("beginning", "now"):
        return text
    if text and ISO_DATE.match(text):
        try:
            date.fromisoformat(text)
        except ValueError:
            return None
        return text
    return None


def url(value: Any) -> str | None:
    """An http:// or https:// URL."""
    text = string(value)
    return text if text and re.match(r"^https?://[^\s/]+(/\S*)?$", text) else None


def instance_name(value: Any) -> str | None:
    """An instance id for the leases ("" for one made at start): at most 100 of letters, digits, `.:_-`."""
    if value == "":
        return ""
    text = string(value)
    return text if text and re.fullmatch(r"[A-Za-z0-9.:_-]{1,100}", text) else None


def mailbox_name(value: Any) -> str | None:
    """A mailbox name: letters, digits, '.', '_' or '-'."""
    text = string(value)
    return text if text and NAME.match(text) else None
