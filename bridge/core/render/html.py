"""HTML mail bodies -> safe wikitext, through pandoc's document tree.

pandoc (pypandoc-binary) parses the HTML, which real mail makes hard; its own MediaWiki writer
is not used, because it passes text such as `{{Template}}` through and turns any image into a
`[[File:…]]` link. Instead this module writes the wikitext from pandoc's JSON tree itself:
every piece of text goes through `escape_inline` (`escape_pre` in code blocks), links keep only
http, https and mailto targets (percent-encoded so they cannot carry markup), images appear only
when they are inline parts of the mail (`cid:`) uploaded by the bridge, and raw HTML is dropped. Scripts,
styles, remote images (tracking pixels included) and forms never reach the page. pandoc sees
the HTML through `bridge.core.render.pandoc` (tidied, time-limited, converted in batches).
Empty paragraphs go, runs of line breaks shrink to one blank line, and a linked image the page
does not show becomes a link named by its alt text (or `image`), never an empty `[1]`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from html.parser import HTMLParser
from typing import Any, ClassVar
from urllib.parse import quote

from bridge.core.render.escape import escape_inline, escape_pre
from bridge.core.render.labels import label
from bridge.core.render.pandoc import Block

_SAFE_SCHEMES = ("http://", "https://", "mailto:")
# Characters a URL keeps as they are; everything else (markup characters, quotes, spaces, `!`
# of table cells, `~` of signatures, non-ASCII) is percent-encoded, which URLs treat as equivalent.
_URL_SAFE = "-.:/?#@$&()*+,;=%"
_IMAGE_CONTENT = frozenset({"Image", "Space", "SoftBreak", "LineBreak"})


def safe_url(url: str) -> str | None:
    """Return `url` percent-encoded for an external link, or None for other schemes (javascript:)."""
    url = url.strip()
    if not url.lower().startswith(_SAFE_SCHEMES):
        return None
    # quote() never encodes `~`, and `~~~~` would become a signature when the page is saved.
    encoded = quote(url, safe=_URL_SAFE).replace("~", "%7E")
    # A doubled underscore could spell a magic word; `_` and `%5F` are the same in a URL.
    return encoded.replace("__", "_%5F")


class WikitextWriter:
    """Writes pandoc blocks as wikitext; `images` maps inline Content-IDs to uploaded file titles.

    `language` names linked images the page does not show and that have no alt text.
    """

    def __init__(self, images: Mapping[str, str], language: str = "en") -> None:
        self.images = images
        self.image_word = label(language, "image")
        self.used_images: set[str] = set()

    def blocks(self, blocks: Sequence[Block]) -> str:
        """Render blocks, separated by blank lines."""
        return "\n\n".join(text for block in blocks if (text := self.block(block).strip("\n")))

    def block(self, block: Block) -> str:
        """Render one block."""
        kind, content = block.get("t"), block.get("c")
        handler = self._BLOCKS.get(str(kind))
        return handler(self, content) if handler else ""

    def _para(self, content: Any) -> str:
        return _collapse_breaks(self.inlines(content))

    def _header(self, content: Any) -> str:
        # Headings inside a mail would break the page's own section structure: bold instead.
        text = self.inlines(content[2]).strip()
        return f"'''{text}'''" if text else ""

    def _bullets(self, content: Any) -> str:
        return "\n".join(self._list_lines(content, "*"))

    def _ordered(self, content: Any) -> str:
        return "\n".join(self._list_lines(content[1], "#"))

    def _list_lines(self, items: Any, prefix: str) -> list[str]:
        lines: list[str] = []
        for item in items:
            parts: list[str] = []
            nested: list[str] = []
            for block in item:
                if block.get("t") == "BulletList":
                    nested.extend(self._list_lines(block["c"], prefix + "*"))
                elif block.get("t") == "OrderedList":
                    nested.extend(self._list_lines(block["c"][1], prefix + "#"))
                else:
                    parts.append(self.flat(block))
            lines.append(f"{prefix} {' '.join(part for part in parts if part)}".rstrip())
            lines.extend(nested)
        return lines

    def _definitions(self, content: Any) -> str:
        lines = []
        for term, definitions in content:
            lines.append(f"'''{self.inlines(term).strip()}'''")
            lines.extend(self.flat(block) for definition in definitions for block in definition)
        return "<br />\n".join(line for line in lines if line)

    def _quote(self, content: Any) -> str:
        inner = self.blocks(content)
        return f"<blockquote>\n{inner}\n</blockquote>" if inner else ""

    def _code(self, content: Any) -> str:
        return f'<pre class="ewb-text">{escape_pre(str(content[1]))}</pre>'

    def _lines(self, content: Any) -> str:
        return "<br />\n".join(self.inlines(line).strip() for line in content)

    def _div(self, content: Any) -> str:
        return self.blocks(content[1])

    def _figure(self, content: Any) -> str:
        return self.blocks(content[2])

    def _rule(self, content: Any) -> str:
        return "----"

    def _table(self, content: Any) -> str:
        _, _, _, head, bodies, foot = content
        rows: list[tuple[str, Any]] = [("!", row) for row in head[1]]
        for body in bodies:
            rows.extend(("!", row) for row in body[2])
            rows.extend(("|", row) for row in body[3])
        rows.extend(("|", row) for row in foot[1])
        lines = ['{| class="wikitable"']
        for marker, row in rows:
            lines.append("|-")
            for cell in row[1]:
                _, _, rowspan, colspan, cell_blocks = cell
                spans = "".join(
                    f'{name}="{int(value)}" '
                    for name, value in (("rowspan", rowspan), ("colspan", colspan))
                    if int(value) > 1
                )
                text = " ".join(part for part in (self.flat(block) for block in cell_blocks) if part)
                lines.append(f"{marker} {spans}| {text}" if spans else f"{marker} {text}")
        lines.append("|}")
        return "\n".join(lines) if len(lines) > 2 else ""

    def flat(self, block: Block) -> str:
        """Render a block on one line (inside list items and table cells)."""
        kind = block.get("t")
        if kind in ("Para", "Plain"):
            return self.inlines(block["c"]).strip()
        if kind in ("BulletList", "OrderedList", "Table", "BlockQuote", "Div", "CodeBlock", "LineBlock"):
            return " ".join(_plain_words(block, self.inline))
        return self.block(block).replace("\n", " ").strip()

    def inlines(self, inlines: Sequence[Block]) -> str:
        """Render a run of inline elements."""
        return "".join(self.inline(element) for element in inlines)

    def inline(self, element: Block) -> str:
        """Render one inline element."""
        kind = element.get("t")
        content: Any = element.get("c")
        if kind == "Str":
            return escape_inline(str(content))
        if kind in ("Space", "SoftBreak"):
            return " "
        if kind == "LineBreak":
            return "<br />"
        wrap = _WRAPPERS.get(str(kind))
        if wrap is not None:
            inner = self.inlines(content).strip()
            return f"{wrap[0]}{inner}{wrap[1]}" if inner else ""
        if kind in ("Span", "Cite"):
            return self.inlines(content[1])
        if kind == "Quoted":
            opening, closing = ("“", "”") if content[0]["t"] == "DoubleQuote" else ("‘", "’")
            return f"{opening}{self.inlines(content[1])}{closing}"
        if kind == "Code":
            return f"<code>{escape_inline(str(content[1]))}</code>"
        if kind == "Math":
            return escape_inline(str(content[1]))
        if kind == "Link":
            return self._link(content)
        if kind == "Image":
            return self._image(content)
        return ""  # RawInline (HTML the converter did not understand), Note: dropped

    def _link(self, content: Any) -> str:
        text = self.inlines(content[1]).strip()
        if _image_only(content[1]) and "[[" not in text:
            # A linked image the page does not show (remote, tracking): its alt text names the link.
            alts = (self.inlines(image["c"][1]).strip() for image in content[1] if image.get("t") == "Image")
            text = " ".join(alt for alt in alts if alt) or self.image_word
        url = safe_url(str(content[2][0]))
        if url is None:
            return text
        if not text or text == escape_inline(str(content[2][0])):
            return f"[{url}]" if not text else f"[{url} {text}]"
        return f"[{url} {text}]"

    def _image(self, content: Any) -> str:
        source = str(content[2][0])
        alt = self.inlines(content[1]).strip()
        if source.lower().startswith("cid:"):
            title = self.images.get(source[4:].strip("<>"))
            if title is not None:
                self.used_images.add(source[4:].strip("<>"))
                return (
                    f"[[{title}|frameless|upright=1.5|alt={alt}]]"
                    if alt
                    else f"[[{title}|frameless|upright=1.5]]"
                )
        # Remote images are never loaded (privacy, tracking pixels); the alt text stands in.
        return f"''[{alt}]''".replace("[", "&#91;").replace("]", "&#93;") if alt else ""

    _BLOCKS: ClassVar[Mapping[str, Callable[[WikitextWriter, Any], str]]] = {
        "Para": _para,
        "Plain": _para,
        "Header": _header,
        "BulletList": _bullets,
        "OrderedList": _ordered,
        "DefinitionList": _definitions,
        "BlockQuote": _quote,
        "CodeBlock": _code,
        "LineBlock": _lines,
        "Div": _div,
        "Figure": _figure,
        "HorizontalRule": _rule,
        "Table": _table,
    }


_WRAPPERS = {
    "Emph": ("''", "''"),
    "Strong": ("'''", "'''"),
    "Underline": ("<u>", "</u>"),
    "Strikeout": ("<s>", "</s>"),
    "Superscript": ("<sup>", "</sup>"),
    "Subscript": ("<sub>", "</sub>"),
    "SmallCaps": ("", ""),
}


def _collapse_breaks(text: str) -> str:
    """A paragraph without empty lines at its ends, runs of line breaks kept to one blank line."""
    lines = [line.strip() for line in text.split("<br />")]
    kept = [line for index, line in enumerate(lines) if line or (index and lines[index - 1])]
    while kept and not kept[-1]:
        kept.pop()
    return "<br />".join(kept)


def _image_only(inlines: Sequence[Block]) -> bool:
    """Whether a link holds nothing but images (and the space around them)."""
    kinds = [element.get("t") for element in inlines]
    return "Image" in kinds and all(kind in _IMAGE_CONTENT for kind in kinds)


def _plain_words(node: Any, inline: Callable[[Block], str]) -> list[str]:
    """Collect the rendered inline pieces of any subtree, for one-line flattening."""
    if isinstance(node, dict):
        if node.get("t") in ("Str", "Code", "Link", "Image", "Math"):
            return [inline(node)]
        return _plain_words(node.get("c"), inline)
    if isinstance(node, list):
        return [word for child in node for word in _plain_words(child, inline)]
    return []


def block_text(block: Block) -> str:
    """The plain text of a block (for recognising quote headers), line breaks kept."""
    parts: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            kind = node.get("t")
            if kind == "Str":
                parts.append(str(node["c"]))
            elif kind in ("Space",):
                parts.append(" ")
            elif kind in ("SoftBreak", "LineBreak"):
                parts.append("\n")
            elif kind in ("Para", "Plain") and parts:
                parts.append("\n")
                visit(node.get("c"))
            else:
                visit(node.get("c"))
        elif isinstance(node, list):
            for child in node:
                visit(child)

    visit(block)
    return "".join(parts).strip()


class _TextExtractor(HTMLParser):
    """Collects the visible text of an HTML body; scripts and styles are dropped."""

    _INVISIBLE = frozenset({"script", "style", "head", "title"})
    _BREAKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._INVISIBLE:
            self._hidden_depth += 1
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._INVISIBLE and self._hidden_depth:
            self._hidden_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Plain text of an HTML body (for mails without a text part, and as a fallback)."""
    if not html:
        return ""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = (line.strip() for line in "".join(extractor.parts).splitlines())
    return "\n".join(line for line in lines if line)
