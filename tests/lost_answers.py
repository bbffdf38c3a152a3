"""The real wiki client with a fault a real MediaWiki cannot be made to produce: the lost answer.

A server cannot be made to lose its answer after saving, so this subclass of the real adapter
injects exactly that fault: each edit goes to the real wiki, then the client behaves as if the
connection dropped before the answer arrived.
"""

from __future__ import annotations

from bridge.adapters.wiki import EditResult, WikiClient
from bridge.errors import WikiUnavailableError


class LostAnswerWiki(WikiClient):
    """Carries out the real edit, then raises `WikiUnavailableError` as a dropped connection would."""

    def _lose(self, edit: EditResult | None) -> EditResult | None:
        raise WikiUnavailableError("simulated: connection lost after the wiki saved the edit")

    def create_page(self, title: str, text: str, summary: str) -> EditResult | None:
        """Create on the real wiki; lose the answer."""
        return self._lose(super().create_page(title, text, summary))

    def append_to_page(self, title: str, text: str, summary: str) -> EditResult | None:
        """Append on the real wiki; lose the answer."""
        return self._lose(super().append_to_page(title, text, summary))
