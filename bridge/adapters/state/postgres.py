"""The state store's PostgreSQL connection: a small pool, one transaction per call, faults as sentences.

Several instances of the bridge on different hosts share one state in PostgreSQL. The concern
modules' SQL is the same as for SQLite (see `sql`); here `?` parameters become psycopg's `%s`,
each `_transaction` is one PostgreSQL transaction on a pooled connection (committed when the
block ends, rolled back when it raises) and each `_query` a read of its own. READ COMMITTED
is enough for the store's protocol steps: unique keys decide between two writers of one row,
and a read-then-write locks its rows (`Dialect.for_update`). The schema is created and upgraded
on a direct connection first, so a wrong URL, password or certificate fails at start-up with
libpq's sentence, naming `[state] url`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
import structlog
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from bridge.adapters.state.schema import check_current, migrate
from bridge.adapters.state.sql import POSTGRES, Cursor, StateConnection
from bridge.errors import StateError
from bridge.service.config import StateSettings
from bridge.service.config.models import postgres_is_local

log = structlog.get_logger(__name__)

_CONNECT_TIMEOUT = 10  # seconds, for a new connection and for waiting on a free one
_POOL_SIZE = 4  # the daemon's scheduler jobs share it; a pass holds one only for one statement group


def connection_options(settings: StateSettings, read_only: bool = False) -> dict[str, Any]:
    """libpq options beyond the URL: the password, TLS (verify-full for a remote host), a read-only session.

    An explicit `sslmode` (the key, or in the URL) wins; otherwise a host on loopback (or a Unix
    socket) uses TLS when the server offers it, and any other host must present a certificate
    for its name, checked against `ca_file` or the system's trust store.
    """
    options: dict[str, Any] = {"connect_timeout": _CONNECT_TIMEOUT, "application_name": "email-wiki-bridge"}
    if settings.password.value:
        options["password"] = settings.password.value
    given = conninfo_to_dict(settings.url or "")
    default = "prefer" if postgres_is_local(settings.url or "") else "verify-full"
    options["sslmode"] = settings.sslmode or given.get("sslmode") or default
    if settings.ca_file is not None:
        options["sslrootcert"] = str(settings.ca_file)
    elif options["sslmode"] in ("verify-ca", "verify-full") and not given.get("sslrootcert"):
        options["sslrootcert"] = "system"
    if read_only:
        options["options"] = "-c default_transaction_read_only=on"
    return options


@functools.lru_cache(maxsize=512)
def _translate(sql: str) -> str:
    """The store's `?` parameters as psycopg's `%s` (and a literal `%` escaped)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _values(parameters: Sequence[object]) -> tuple[object, ...]:
    """The parameters as PostgreSQL takes them: text without NUL (`POSTGRES.stored_text`)."""
    return tuple(POSTGRES.stored_text(value) if isinstance(value, str) else value for value in parameters)


class _PostgresTransaction:
    """The statements of one transaction on a pooled connection, in the store's `?` style."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection

    def execute(self, sql: str, parameters: Sequence[object] = (), /) -> Cursor:
        return self._connection.execute(_translate(sql), _values(parameters))

    def executemany(self, sql: str, rows: Iterable[Sequence[object]], /) -> Cursor:
        cursor = self._connection.cursor()
        cursor.executemany(_translate(sql), [_values(row) for row in rows])
        return cursor


class PostgresConnection(StateConnection):
    """A PostgreSQL database holding the state, reached through a small connection pool."""

    def __init__(self, settings: StateSettings, read_only: bool = False) -> None:
        """Connect to `[state] url`, create or upgrade the schema (or, `read_only`, only check it).

        Raises `StateError` naming `[state] url` when the database cannot be reached or used.
        """
        if settings.url is None:
            raise StateError("[state] url is not set: it names the PostgreSQL database of the state")
        self.dialect = POSTGRES
        # Shown in sentences and logs: the config refuses a URL holding a password.
        self.where = settings.url
        options = connection_options(settings, read_only)
        with self._faults(), psycopg.connect(settings.url, **options) as first, first.transaction():
            work = _PostgresTransaction(first)
            if read_only:
                check_current(work, POSTGRES, self.where)
            else:
                migrate(work, POSTGRES, self.where)
        self._pool = ConnectionPool(
            settings.url,
            # A read is one statement, in a transaction of its own without BEGIN and COMMIT round
            # trips; `_transaction` opens an explicit one.
            kwargs={**options, "autocommit": True},
            min_size=1,
            max_size=_POOL_SIZE,
            timeout=_CONNECT_TIMEOUT,
            # A connection the server dropped (restart, failover) is replaced before it is used.
            check=ConnectionPool.check_connection,
            name="state",
            open=True,
        )

    @contextmanager
    def _transaction(self) -> Iterator[_PostgresTransaction]:
        with self._faults(), self._pool.connection() as connection, connection.transaction():
            yield _PostgresTransaction(connection)

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        with self._faults(), self._pool.connection() as connection:
            return list(connection.execute(_translate(sql), _values(params)).fetchall())

    @contextmanager
    def _faults(self) -> Iterator[None]:
        """Turn an unreachable or failing database into a `StateError` that names `[state] url`.

        Constraint violations and misuse are bugs and stay what they are.
        """
        try:
            yield
        except PoolTimeout as exc:
            raise StateError(
                f"no connection to the PostgreSQL state store {self.where} ([state] url) within "
                f"{_CONNECT_TIMEOUT} s; the pass stopped and nothing was lost"
            ) from exc
        except psycopg.errors.ProgramLimitExceeded as exc:
            # SQLite has no such bound: only hostile mail carries ids or subjects this long.
            raise StateError(
                f"the PostgreSQL state store {self.where} cannot index a value this long "
                f"({' '.join(str(exc).split())}): a mail's Message-ID, reference or subject runs to "
                "thousands of characters; move that mail out of the mailbox's folders"
            ) from exc
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            detail = " ".join(str(exc).split()) or type(exc).__name__
            log.warning("state.postgres_error", url=self.where, error=detail)
            raise StateError(
                f"the PostgreSQL state store {self.where} ([state] url) cannot be used: {detail}; "
                "the pass stopped and nothing was lost"
            ) from exc

    def close(self) -> None:
        """Close the pool's connections."""
        self._pool.close()
