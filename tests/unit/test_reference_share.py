"""Readable page source: over the mail corpus, few characters of the wikitext are references.

Measured on the corpus renderings of tests/unit/test_corpus.py (pure, no wiki): the share of
page-source characters inside character references stays at most 2 %, and a plain-text body
(inside `<pre>`) carries a reference only where the mail had a `<` or an `&` starting an entity.
"""

from __future__ import annotations

import re

from tests.unit import test_corpus as corpus

_REFERENCE = re.compile(r"&(?:#\d+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
_PRE_BODY = re.compile(r'<pre class="[^"]*\bewb-text\b[^"]*"[^>]*>(.*?)</pre>', re.DOTALL)
MAX_SHARE = 0.02


def reference_share() -> float:
    """The share of all corpus page-source characters that sit inside character references."""
    pages = [corpus.rendered(name).wikitext for name in corpus.PARSED_NAMES]
    inside = sum(len(match) for page in pages for match in _REFERENCE.findall(page))
    return inside / sum(len(page) for page in pages)


def test_few_page_source_characters_are_references() -> None:
    """At most 2 % of the corpus's page source is inside character references."""
    share = reference_share()
    print(f"share of page-source characters inside references: {share:.2%}")
    assert share <= MAX_SHARE


def test_plain_bodies_carry_references_only_for_tags_and_entities() -> None:
    """A `<pre>` body holds a reference only for a `<` or an entity-like `&` of the mail."""
    for name in corpus.PARSED_NAMES:
        for body in _PRE_BODY.findall(corpus.rendered(name).wikitext):
            references = set(_REFERENCE.findall(body))
            assert references <= {"&lt;", "&amp;"}, (name, references)
