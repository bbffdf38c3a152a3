"""Escaping mail text for wikitext, one function per context.

Mail is hostile input, yet people edit the pages: the source must stay readable. So each
context escapes only what can open markup there, with named entities where they exist:

- `escape_pre`: multi-line text inside `<pre>`. MediaWiki treats `<pre>` like `<nowiki>`: the
  preprocessor keeps its content away from templates, `{{subst:}}` and signatures (also at
  save time) and the parser reads no markup in it. Only a tag (`</pre>`, `<nowiki>`, which the
  `<pre>` hook strips) or an entity the browser would decode can change what is shown.
- `escape_inline`: text on one line of normal wikitext (headings, template values, categories,
  captions, link labels, HTML-derived paragraph text): tags, links, templates, table and
  template separators, bold/italic quotes, signatures, behaviour switches, line-initial block
  markup, heading ends, magic links and free URLs.
- `escape_argument`: a positional template argument: one line, and no `=` (which would make
  the text before it a parameter name).
- `escape_attribute`: attribute values, where every markup character is a numeric reference.
  The bridge's markers were always written this way; keeping the form lets recovery find them
  on every page, however old.
"""

from __future__ import annotations

import re
from html.entities import html5

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]")
_WHITESPACE_RUN = re.compile(r"\s+")
# An `&` that a browser (or MediaWiki's sanitizer) would read as the start of a reference:
# numeric ones, named ones ending in `;`, and the legacy names HTML decodes without `;`.
_LEGACY_ENTITIES = "|".join(sorted((name for name in html5 if not name.endswith(";")), key=len, reverse=True))
_ENTITY_START = re.compile(rf"&(?=#|[A-Za-z][A-Za-z0-9]*;|(?:{_LEGACY_ENTITIES}))")


def _normalize(text: str) -> str:
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def escape_pre(text: str) -> str:
    """Return multi-line `text` for the inside of a `<pre>` element; line breaks and tabs are kept."""
    return _ENTITY_START.sub("&amp;", _normalize(text)).replace("<", "&lt;")


# One-line contexts: what can open markup anywhere on a line.
_INLINE_CHARS = {
    "<": "&lt;",
    ">": "&gt;",
    "[": "&#91;",
    "]": "&#93;",
    "{": "&#123;",
    "}": "&#125;",
    "|": "&#124;",
}
_INLINE = re.compile(
    r"[<>\[\]{}|]"
    r"|'{2,}|^'|'$"  # bold/italic quotes, also where they would join the renderer's own `''`
    r"|~{3,}"  # signatures
    r"|_{2,}"  # behaviour switches (__NOTOC__)
    r"|!{2,}"  # table header cell separators
    r"|^[*#:;=!\-]|=$"  # block markup at a line's start, heading markup at its end
    r"|^[ \t]+"  # a line starting with blanks would become preformatted
    # Magic links; the first letter is enough to defuse them. `_` counts as a separator here, as
    # escaping a following `__` would make it one.
    r"|(?<![A-Za-z0-9])(?:ISBN|RFC|PMID)(?![A-Za-z0-9])"
    r"|(?<=[A-Za-z]):(?=\S)",  # the colon of a free URL (`https://`, `mailto:x`); `TOP 1: x` stays
    re.MULTILINE,
)


def _inline_reference(match: re.Match[str]) -> str:
    found = match.group(0)
    if found in _INLINE_CHARS:
        return _INLINE_CHARS[found]
    if found[0].isalpha():
        return f"&#{ord(found[0])};{found[1:]}"
    return "".join(f"&#{ord(char)};" for char in found)


def escape_inline(text: str) -> str:
    """Return `text` as wikitext shown literally on a line (use `single_line` first for fields).

    Every line of a multi-line text is treated like the first, so no line can start markup.
    """
    return _INLINE.sub(_inline_reference, _ENTITY_START.sub("&amp;", _normalize(text)))


def escape_argument(text: str) -> str:
    """Return `text` as a positional template argument shown literally (use `single_line` first)."""
    return escape_inline(text).replace("=", "&#61;")


# Characters that open or close markup somewhere in wikitext, HTML or attribute syntax.
_MARKUP_CHARS = frozenset("&<>[]{}|'\"~=#*:;_!-")
_LEADING_BLANKS = re.compile(r"^[ \t]+", re.MULTILINE)
# Words that MediaWiki may turn into "magic links" when followed by a number.
_MAGIC_LINK_WORDS = re.compile(r"\b(?:ISBN|RFC|PMID)\b")


def escape_attribute(text: str) -> str:
    """Return `text` for a double-quoted attribute value: every markup character as `&#NN;`."""
    text = _normalize(text)
    escaped = "".join(f"&#{ord(char)};" if char in _MARKUP_CHARS else char for char in text)
    escaped = _LEADING_BLANKS.sub(lambda match: "".join(f"&#{ord(c)};" for c in match.group(0)), escaped)
    # After the references are in place, so that none of them is escaped again; every occurrence,
    # as a reference just before the word (`&#95;ISBN`) still counts as a word boundary.
    return _MAGIC_LINK_WORDS.sub(lambda match: f"&#{ord(match.group(0)[0])};{match.group(0)[1:]}", escaped)


def single_line(text: str) -> str:
    """Collapse line breaks, control characters and runs of white space into single spaces."""
    return _WHITESPACE_RUN.sub(" ", _CONTROL.sub(" ", text)).strip()
