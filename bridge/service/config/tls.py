"""How a connection verifies its peer, read from the `tls_verify` and `ca_file` keys of its table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationInfo, field_validator

from bridge.service.config.rules import ConfigModel, boolean, context_of, problem, rule, string


class TlsSettings(ConfigModel):
    """Certificates are checked unless `verify` is off; `ca_file` replaces the system's trust store."""

    verify: Annotated[bool, rule(boolean, "true or false")] = Field(default=True, alias="tls_verify")
    ca_file: Path | None = None

    @field_validator("ca_file", mode="plain")
    @classmethod
    def _ca_file(cls, value: Any, info: ValidationInfo) -> Path | None:
        return ca_file(value, info)


def ca_file(value: Any, info: ValidationInfo) -> Path | None:
    """A CA file key's value: an existing file, relative to the config file's directory."""
    if value is None or isinstance(value, Path):
        return value
    text = string(value)
    if text is None:
        raise problem("must be a file path")
    context = context_of(info)
    path = context.path(text) if context is not None else Path(text)
    if not path.is_file():
        raise problem(not_a_file(path))
    return path


def not_a_file(path: Path) -> str:
    """Why `path` cannot be read as a file."""
    return f"{path} is a directory, not a file" if path.is_dir() else f"{path} does not exist"
