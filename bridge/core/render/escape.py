"""The one escaping function through which mail content reaches wikitext.

Mail is hostile input. Every character that can start wiki markup is written as a numeric
character reference, which MediaWiki shows as the character but never parses as syntax: no
template, parser function, link, magic word, signature, heading, list, table or HTML tag can
arise, and the text cannot close the element it sits in. The same form is safe in attribute
values and inside `<pre>`, where MediaWiki decodes references for display only.
"""

from __future__ import annotations

import re

# Characters that open or close markup somewhere in wikitext, HTML or attribute syntax.
_MARKUP_CHARS = frozenset("&<>[]{}|'\"~=#*:;_!-")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]")
_WHITESPACE_RUN = re.compile(r"\s+")
_LEADING_BLANKS = re.compile(r"^[ \t]+", re.MULTILINE)
# Words that MediaWiki may turn into "magic links" when followed by a number.
_MAGIC_LINK_WORDS = re.compile(r"\b(?:ISBN|RFC|PMID)\b")


def escape_wikitext(text: str) -> str:
    """Return `text` as wikitext that displays literally; line breaks are kept.

    Use inside `<pre>` for multi-line text, or after `single_line` for headings and fields.
    """
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    escaped = "".join(f"&#{ord(char)};" if char in _MARKUP_CHARS else char for char in text)
    # A line that starts with white space would become a preformatted block.
    escaped = _LEADING_BLANKS.sub(lambda match: "".join(f"&#{ord(c)};" for c in match.group(0)), escaped)
    # After the references are in place, so that none of them is escaped again; every occurrence,
    # as a reference just before the word (`&#95;ISBN`) still counts as a word boundary.
    return _MAGIC_LINK_WORDS.sub(lambda match: f"&#{ord(match.group(0)[0])};{match.group(0)[1:]}", escaped)


def single_line(text: str) -> str:
    """Collapse line breaks, control characters and runs of white space into single spaces."""
    return _WHITESPACE_RUN.sub(" ", _CONTROL.sub(" ", text)).strip()
