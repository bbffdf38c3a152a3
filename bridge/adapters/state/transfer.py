"""`state migrate`: a SQLite state copied whole into an empty PostgreSQL database, verified by counts.

The copy is one PostgreSQL transaction: it lands whole or not at all. Rows keep their ids
(thread ids link messages, parts, subjects and replies) and their order (`rowid` of the tables
read in insertion order); the identity sequences then continue after the highest id. Before the
transaction commits, every table's row count is compared with the source's, so a state that
does not match is never left behind; afterwards the tables are analysed for the planner. A
target holding any state row is refused: merging two states could publish mail twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bridge.adapters.state.connection import SqliteConnection
from bridge.adapters.state.postgres import PostgresConnection
from bridge.adapters.state.schema import ROW_ORDERED, TABLES
from bridge.adapters.state.sql import Transaction
from bridge.errors import StateError

_BATCH = 2000  # rows read from SQLite and sent to PostgreSQL at a time
# Set up by the target's own schema (its version): not state, and replaced by the source's.
_SETTINGS = "meta"
# Identity columns whose sequences must continue after the copied ids.
_IDENTITIES = (("threads", "id"), *((table, "rowid") for table in ROW_ORDERED))


@dataclass(frozen=True, slots=True)
class TableCopy:
    """One table's rows in the SQLite source and in the PostgreSQL target after the copy."""

    table: str
    source: int
    target: int


def _stored(connection: SqliteConnection | PostgresConnection, table: str) -> int:
    return int(str(connection._query(f"SELECT COUNT(*) FROM {table}")[0][0]))  # noqa: S608 - schema constants


def _written(db: Transaction, table: str) -> int:
    return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608 - schema constants


def _rows(
    source: SqliteConnection, table: str, selected: Sequence[str]
) -> Iterator[list[tuple[object, ...]]]:
    """The source table's `selected` values in batches, after its rowid (keyset paging: flat memory)."""
    last = -1
    while True:
        batch = source._query(
            f"SELECT rowid, {', '.join(selected)} FROM {table} "  # noqa: S608 - schema constants
            "WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (last, _BATCH),
        )
        if not batch:
            return
        last = int(str(batch[-1][0]))
        yield batch


def _copy_table(source: SqliteConnection, db: Transaction, table: str) -> None:
    columns = [
        str(row[0]) for row in source._query("SELECT name FROM pragma_table_info(?) ORDER BY cid", (table,))
    ]
    # A thread may point to a later one (an earlier part to the current part): those links are
    # set once every thread exists.
    selected = ["NULL" if table == "threads" and name == "merged_into" else name for name in columns]
    keep_rowid = table in ROW_ORDERED
    names = (["rowid"] if keep_rowid else []) + columns
    insert = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"  # noqa: S608 - schema constants
    if table == _SETTINGS:
        # The source's pseudonym key goes along: `forget --address` must find the hashed senders.
        insert += " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    for batch in _rows(source, table, selected):
        db.executemany(insert, [row if keep_rowid else row[1:] for row in batch])
    if table == "threads":
        for batch in _rows(source, table, ["id", "merged_into"]):
            db.executemany(
                "UPDATE threads SET merged_into = ? WHERE id = ?",
                [(row[2], row[1]) for row in batch if row[2] is not None],
            )


def copy_state(source: SqliteConnection, target: PostgresConnection) -> list[TableCopy]:
    """Copy every row of `source` into the empty `target`; return each table's counts.

    Raises `StateError` when the target holds state already, or when the counts differ (the
    copy is then rolled back and the target stays empty).
    """
    held = {table: rows for table in TABLES if table != _SETTINGS and (rows := _stored(target, table))}
    if held:
        listing = ", ".join(f"{rows} in {table}" for table, rows in held.items())
        raise StateError(
            f"the PostgreSQL database {target.where} already holds a state ({listing} rows); "
            "state migrate copies only into an empty database, so nothing is published twice: "
            "create a new database, or drop this one's tables if that state is not needed"
        )
    copies: list[TableCopy] = []
    with target._transaction() as db:
        for table in TABLES:
            _copy_table(source, db, table)
            copies.append(TableCopy(table, _stored(source, table), _written(db, table)))
        for table, column in _IDENTITIES:
            db.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "  # noqa: S608 - schema constants
                f"COALESCE(MAX({column}), 1), MAX({column}) IS NOT NULL) FROM {table}"
            )
        wrong = [copy for copy in copies if copy.source != copy.target]
        if wrong:
            listing = ", ".join(f"{c.table}: {c.source} read, {c.target} written" for c in wrong)
            raise StateError(f"the copy does not match its source ({listing}); nothing was migrated")
    with target._transaction() as db:
        # Planner statistics for the new rows now, not when autovacuum comes round: without them
        # the first passes would scan whole tables instead of using their indexes.
        db.execute("ANALYZE")
    return copies
