"""Secrets come from a file, an environment variable or a systemd credential, never from the config file.

The `password` field of a model receives the secret keys of its table, gathered into one mapping
(see `ConfigModel`); `read_secret` turns them into a `Secret` or a problem at the right key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge.service.config.rules import LoadContext, Secret, problem, string

_EXPECTED = {
    "password_file": "a file path",
    "password_env": "an environment variable name",
    "credential": "a systemd credential name",
}


def read_secret(value: Any, context: LoadContext | None, needed_for: str | None) -> Secret:
    """The secret the keys name, exactly one of password_file, password_env and credential.

    `needed_for` says what the secret is for when one is required (None: it may be absent).
    `credential` names a systemd credential (`LoadCredential=`), read from `$CREDENTIALS_DIRECTORY`,
    where systemd places it readable by the service alone.
    """
    if isinstance(value, Secret):
        return value
    sources: dict[str, Any] = value if isinstance(value, dict) else {}
    if "password" in sources:
        raise problem(
            "secrets never go in the config file; use password_file, password_env or credential", "password"
        )
    given: dict[str, str] = {}
    for key in _EXPECTED:
        if key not in sources:
            continue
        text = string(sources[key])
        if text is None:
            raise problem(f"must be {_EXPECTED[key]}", key)
        given[key] = text
    if not given:
        if needed_for is not None:
            raise problem(f"set password_file, password_env or credential for {needed_for}", "password_file")
        return Secret("")
    if len(given) > 1:
        raise problem("set only one of password_file, password_env and credential", list(given)[1])
    [(key, name)] = given.items()
    environ = context.environ if context is not None else {}
    if key == "password_env":
        if not environ.get(name):
            raise problem(f"the environment variable {name} is not set or empty", key)
        return Secret(environ[name], key=key)
    if key == "credential":
        directory = environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise problem("CREDENTIALS_DIRECTORY is not set (use LoadCredential= in the systemd unit)", key)
        return _secret_file(key, Path(directory) / name)
    return _secret_file(key, context.path(name) if context is not None else Path(name))


def _secret_file(key: str, secret_path: Path) -> Secret:
    try:
        value = secret_path.read_text(encoding="utf-8").strip("\r\n")
    except OSError as exc:
        raise problem(f"cannot read {secret_path}: {exc.strerror or exc}", key) from None
    except UnicodeDecodeError as exc:
        raise problem(
            f"{secret_path} is not UTF-8 text (offset {exc.start}); save the secret as UTF-8", key
        ) from None
    if not value:
        raise problem(f"{secret_path} is empty", key)
    return Secret(value, file=secret_path, key=key)
