"""Dry runs: stand-ins for the writing side of the wiki and SMTP that describe instead of act.

`once --dry-run` runs the real pass logic against the real servers for reading, with these
in place of every write and a throw-away copy of the state store, so nothing changes anywhere.
"""

from __future__ import annotations

import email
import email.policy

from bridge.adapters.wiki import EditResult, WikiClient
from bridge.service.config import WikiSettings


class PlanningWiki(WikiClient):
    """Reads the real wiki; records each edit and upload in `plan` instead of making it."""

    def __init__(self, settings: WikiSettings, plan: list[str]) -> None:
        super().__init__(settings)
        self.plan = plan

    def create_page(self, title: str, text: str, summary: str) -> EditResult | None:
        """Describe the page creation (None, as the wiki would answer, when the title exists)."""
        if self.page_content(title) is not None:
            return None
        self.plan.append(f"create page {title!r}: {summary}")
        return EditResult(title=title, revision=0)

    def append_to_page(self, title: str, text: str, summary: str) -> EditResult | None:
        """Describe the append."""
        self.plan.append(f"append to {title!r}: {summary}")
        return EditResult(title=title, revision=0)

    def replace_page(self, title: str, text: str, summary: str, base_revision: int) -> EditResult:
        """Describe the replacement."""
        self.plan.append(f"update {title!r}: {summary}")
        return EditResult(title=title, revision=0)

    def upload(self, filename: str, data: bytes, comment: str) -> str:
        """Describe the upload."""
        self.plan.append(f"upload File:{filename} ({len(data)} bytes)")
        return f"File:{filename}"


class PlanningSender:
    """Records each reply in `plan` instead of sending it."""

    def __init__(self, plan: list[str]) -> None:
        self.plan = plan

    def send(self, message: bytes, recipient: str) -> None:
        """Describe the reply."""
        subject = email.message_from_bytes(message, policy=email.policy.default).get("Subject", "")
        self.plan.append(f"send reply to {recipient}: {subject}")
