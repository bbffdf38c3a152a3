"""Hostile HTML -> well-formed, shallow HTML for pandoc (pure).

pandoc's HTML reader backtracks on unclosed nested elements: twenty unclosed `<ul><li>` take it
40 seconds, a few more would stall a pass for hours. Mail HTML is rewritten here first: every
element is closed, elements nest at most `MAX_DEPTH` deep (deeper tags are dropped, their text
kept), and scripts, styles, frames, forms and comments are removed with their content.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser

MAX_DEPTH = 40
# Never shown, never handed on: their content goes with them.
DROPPED = frozenset(
    {"script", "style", "head", "title", "iframe", "object", "embed", "noscript", "form", "template", "svg"}
)
_VOID = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)
# Elements HTML closes implicitly when a sibling of the same kind starts (`<li>a<li>b`).
_SELF_CLOSING_SIBLINGS = frozenset({"li", "p", "td", "th", "tr", "dt", "dd", "option"})


class _Tidier(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.dropping: list[str] = []  # the open elements of a dropped element, itself first
        self.too_deep = 0  # start tags beyond MAX_DEPTH still open

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.dropping.clear()  # sloppy mail leaves <head> unclosed: the body still counts
        if self.dropping or tag in DROPPED:
            if tag not in _VOID:
                self.dropping.append(tag)
            return
        if tag in _SELF_CLOSING_SIBLINGS and self.open and self.open[-1] == tag:
            self._close_to(len(self.open) - 1)
        if tag not in _VOID and len(self.open) >= MAX_DEPTH:
            self.too_deep += 1
            return
        written = "".join(
            f' {name}="{html.escape(value or "", quote=True)}"'
            for name, value in attrs
            if name.replace("-", "").isalnum()
        )
        self.out.append(f"<{tag}{written}>")
        if tag not in _VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and not self.dropping and self.open and self.open[-1] == tag:
            self._close_to(len(self.open) - 1)

    def handle_endtag(self, tag: str) -> None:
        if self.dropping:
            if tag in self.dropping:
                del self.dropping[len(self.dropping) - 1 - self.dropping[::-1].index(tag) :]
            return
        if self.too_deep:  # it closes one of the tags dropped for depth
            self.too_deep -= 1
        elif tag in self.open:
            self._close_to(len(self.open) - 1 - self.open[::-1].index(tag))
        # An end tag that closes nothing open is dropped.

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            self.out.append(html.escape(data, quote=False))

    def _close_to(self, index: int) -> None:
        """Close the open elements from the innermost one down to `index`."""
        while len(self.open) > index:
            self.out.append(f"</{self.open.pop()}>")

    def result(self) -> str:
        self.close()
        self._close_to(0)
        return "".join(self.out)


def tidy_html(markup: str) -> str:
    """Return `markup` well-formed, at most `MAX_DEPTH` elements deep, without dropped elements."""
    tidier = _Tidier()
    tidier.feed(markup)
    return tidier.result()
