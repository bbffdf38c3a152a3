"""Folder positions and mail actions of the state store: where reading stopped, what to flag or move.

A folder's position is its UIDVALIDITY and highest handled UID. A published mail's after-publish
flag or move (`messages.mail_action`) is marked pending when its wiki edit is confirmed and done
once the mailbox carried it out; after a renumbering (UIDVALIDITY) pending actions are detached
from their old UIDs and given the new ones as the rescan meets their mail again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bridge.adapters.state.sql import StateConnection
from bridge.adapters.state.statuses import MailAction
from bridge.core.model import FolderPosition

_PENDING = f"mail_action = '{MailAction.PENDING}'"


class FolderTables(StateConnection):
    """The `folders` rows and the `mail_action` column of messages (part of every state store)."""

    def folder_position(self, mailbox: str, folder: str) -> FolderPosition | None:
        """Return where reading `folder` stopped, or None when it was never read."""
        rows = self._query(
            "SELECT uidvalidity, last_uid FROM folders WHERE mailbox = ? AND folder = ?", (mailbox, folder)
        )
        if not rows:
            return None
        uidvalidity, last_uid = rows[0]
        return FolderPosition(uidvalidity=int(str(uidvalidity)), last_uid=int(str(last_uid)))

    def save_folder_position(self, mailbox: str, folder: str, position: FolderPosition) -> None:
        """Remember the UIDVALIDITY and highest handled UID of `folder`."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO folders (mailbox, folder, uidvalidity, last_uid) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (mailbox, folder) DO UPDATE SET uidvalidity = excluded.uidvalidity, "
                "last_uid = excluded.last_uid",
                (mailbox, folder, position.uidvalidity, position.last_uid),
            )

    def pending_mail_actions(self, mailbox: str, folder: str) -> list[int]:
        """Return the UIDs in `folder` whose after-publish flag or move is still to do."""
        rows = self._query(
            f"SELECT uid FROM messages WHERE mailbox = ? AND folder = ? AND {_PENDING} "  # noqa: S608 - constant SQL
            "AND uid > 0 ORDER BY uid",
            (mailbox, folder),
        )
        return [int(str(row[0])) for row in rows]

    def unhook_mail_actions(self, mailbox: str, folder: str) -> int:
        """Detach pending actions from UIDs of a folder the server renumbered (UIDVALIDITY).

        Their old UIDs may name other mail now; `relocate_mail_actions` gives them the new ones
        as the rescan meets the mail again. Returns how many are waiting.
        """
        with self._transaction() as db:
            cursor = db.execute(
                f"UPDATE messages SET uid = 0 WHERE mailbox = ? AND folder = ? AND {_PENDING}",  # noqa: S608 - constant SQL
                (mailbox, folder),
            )
            return int(cursor.rowcount)

    def relocate_mail_actions(self, mailbox: str, folder: str, uids_by_id: Mapping[str, int]) -> None:
        """Give detached pending actions the UIDs their mail has after a renumbering."""
        with self._transaction() as db:
            db.executemany(
                "UPDATE messages SET uid = ? WHERE mailbox = ? AND folder = ? AND message_id = ? "  # noqa: S608 - constant SQL
                f"AND {_PENDING} AND uid = 0",
                [(uid, mailbox, folder, message_id) for message_id, uid in uids_by_id.items()],
            )

    def mail_actions_done(self, mailbox: str, folder: str, uids: Sequence[int]) -> None:
        """Record that the after-publish action of these mails is done."""
        with self._transaction() as db:
            db.executemany(
                f"UPDATE messages SET mail_action = '{MailAction.DONE}' WHERE mailbox = ? AND folder = ? "  # noqa: S608 - constant SQL
                f"AND uid = ? AND {_PENDING}",
                [(mailbox, folder, uid) for uid in uids],
            )
