"""Data protection in the state store: a forgotten person's addresses become keyed hashes; the audit.

Each published mail's sender is recorded only as a keyed hash, so `forget --address` finds the
person's mail even on pages that show no addresses. After `forget`, the store must keep no
readable trace of the person, yet still know their mail was handled, so it is never published
or answered again. The Message-IDs stay (the ledger needs
them for exactly-once); addresses in replies and quarantine become `hmac:…` pseudonyms made with
a random key kept in the store, reply bodies are dropped (a reply still due is suppressed),
quarantined subjects blanked, reply drafts of the forgotten messages removed (no link reply
goes out for them) and the person dropped from the conversations' participants. Part of
every state store, over its one connection.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from bridge.adapters.state.sql import StateConnection, chunks, now, placeholders
from bridge.adapters.state.statuses import ReplyStatus

# The reason recorded on a reply that was due when its person or message was forgotten.
FORGOTTEN = "forgotten (data protection)"
# A forgotten reply loses its bytes; one still due is suppressed, the others keep their outcome.
_DUE = f"status = '{ReplyStatus.INTENDED}'"
_DROP_REPLY = (
    f"payload = NULL, reason = CASE WHEN {_DUE} THEN '{FORGOTTEN}' ELSE reason END, "
    f"status = CASE WHEN {_DUE} THEN '{ReplyStatus.SUPPRESSED}' ELSE status END"
)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One data-protection action: when, who ran it, what it was, what it touched (counts only)."""

    at: str
    actor: str
    action: str
    summary: str


@dataclass(frozen=True, slots=True)
class ForgottenRows:
    """How many state rows a forget pseudonymized or removed."""

    replies: int
    drafts: int
    quarantined: int


class PrivacyTables(StateConnection):
    """Pseudonymizing a person's addresses and recording the data-protection audit."""

    def pseudonym(self, address: str) -> str:
        """Return the keyed hash that stands for `address` (any case) in the store from now on."""
        digest = hmac.new(self._pseudonym_key(), address.strip().lower().encode(), hashlib.sha256)
        return "hmac:" + digest.hexdigest()[:32]

    def _pseudonym_key(self) -> bytes:
        key: bytes | None = getattr(self, "_key", None)
        if key is None:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('pseudonym_key', ?) ON CONFLICT (key) DO NOTHING",
                    (secrets.token_hex(32),),
                )
                row = db.execute("SELECT value FROM meta WHERE key = 'pseudonym_key'").fetchone()
            key = bytes.fromhex(str(row[0]))
            self._key = key
        return key

    def messages_from(self, addresses: Iterable[str]) -> set[str]:
        """Return the Message-IDs of the published mail that `addresses` sent (since schema 5)."""
        keys = [self.pseudonym(address) for address in addresses]
        found: set[str] = set()
        for chunk in chunks(keys):
            rows = self._query(
                f"SELECT message_id FROM messages WHERE sender_key IN ({placeholders(chunk)})",  # noqa: S608 - placeholders only
                chunk,
            )
            found.update(str(row[0]) for row in rows)
        return found

    def forget_in_state(self, addresses: Iterable[str], message_ids: Iterable[str]) -> ForgottenRows:
        """Replace `addresses` by their pseudonyms and blank what the forgotten messages left behind."""
        names = {address.strip().lower(): self.pseudonym(address) for address in addresses}
        ids = sorted(set(message_ids))
        replies = drafts = quarantined = 0
        # Old row versions must not linger in free pages or a write-ahead log either.
        for statement in self.dialect.erase_before:
            self._query(statement)
        with self._transaction() as db:
            for address, pseudonym in names.items():
                replies += db.execute(
                    f"UPDATE replies SET recipient = ?, {_DROP_REPLY} WHERE lower(recipient) = ?",  # noqa: S608 - constant SQL
                    (pseudonym, address),
                ).rowcount
                drafts += db.execute(
                    "DELETE FROM reply_drafts WHERE lower(recipient) = ?", (address,)
                ).rowcount
                quarantined += db.execute(
                    "UPDATE quarantine SET sender = ?, subject = '' WHERE lower(sender) = ?",
                    (pseudonym, address),
                ).rowcount
                # A conversation's participants (its page's note) forget the person outright.
                db.execute("DELETE FROM thread_people WHERE address = ?", (address,))
            for chunk in chunks(ids):
                marks = placeholders(chunk)
                replies += db.execute(
                    f"UPDATE replies SET {_DROP_REPLY} WHERE message_id IN ({marks})",  # noqa: S608 - placeholders only
                    chunk,
                ).rowcount
                drafts += db.execute(
                    f"DELETE FROM reply_drafts WHERE message_id IN ({marks})",  # noqa: S608 - placeholders only
                    chunk,
                ).rowcount
                quarantined += db.execute(
                    f"UPDATE quarantine SET subject = '' WHERE message_id IN ({marks})",  # noqa: S608 - placeholders only
                    chunk,
                ).rowcount
        for statement in self.dialect.erase_after:
            self._query(statement)
        return ForgottenRows(replies, drafts, quarantined)

    def record_audit(self, actor: str, action: str, summary: str) -> None:
        """Append an audit entry (it must carry no personal data: counts, not names)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO audit (at, actor, action, summary) VALUES (?, ?, ?, ?)",
                (now(), actor, action, summary),
            )

    def audit_entries(self) -> list[AuditEntry]:
        """Return the audit, oldest first."""
        rows = self._query("SELECT at, actor, action, summary FROM audit ORDER BY at")
        return [
            AuditEntry(str(at), str(actor), str(action), str(summary)) for at, actor, action, summary in rows
        ]
