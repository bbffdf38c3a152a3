"""Telling a reply's new text from its quoted history and signature (pure).

The new text is shown; what follows the first quote header, separator or signature is kept on
the page but folded away, and so is the leading quote of a bottom-posted reply. German and
English clients are recognised: `Am … schrieb …:`,
`On … wrote:`, `-----Ursprüngliche Nachricht-----`, `-----Original Message-----`, Outlook's
`Von:/Gesendet:` (`From:/Sent:`) header blocks, `>` quoting at the end of a mail, the signature
delimiter `-- `, and in HTML the quote containers of Gmail, Thunderbird, Outlook and Apple Mail.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bridge.core.render.html import block_text
from bridge.core.render.pandoc import Block

_ATTRIBUTION = re.compile(
    r"^\s*(?:on\b.{3,300}\bwrote|am\b.{3,300}\bschrieb(?:\s.{0,120})?|le\b.{3,300}\ba écrit)\s*:\s*$",
    re.IGNORECASE | re.DOTALL,
)
_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(?:original message|ursprüngliche nachricht|originalnachricht|forwarded message|"
    r"weitergeleitete nachricht|message d'origine)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_OUTLOOK_FROM = re.compile(r"^\s*\*?(?:from|von|de)\s*:\*?\s+\S", re.IGNORECASE)
_OUTLOOK_SENT = re.compile(r"^\s*\*?(?:sent|gesendet|date|datum|envoyé)\s*:\*?\s+\S", re.IGNORECASE)
_UNDERSCORE_RULE = re.compile(r"^\s*_{10,}\s*$")
_SIGNATURE = re.compile(r"^-- ?$")
_QUOTE_CLASSES = frozenset(
    {
        "gmail_quote",
        "yahoo_quoted",
        "protonmail_quote",
        "outlookmessageheader",
        "gmail_signature",
        "moz-signature",
        "apple-mail-signature",
    }
)
# Quote containers that hold the quoted mail itself: at the top of a reply they are the quote a
# bottom-posted answer follows, not history after it.
_QUOTED_MAIL_CLASSES = frozenset({"gmail_quote", "yahoo_quoted", "protonmail_quote"})
# Thunderbird's attribution container: answers may follow between the quotes it introduces.
_SOFT_CLASSES = frozenset({"moz-cite-prefix"})
_QUOTE_IDS = frozenset(
    {
        "divrplyfwdmsg",
        "appendonsend",
        "mail-editor-reference-message-container",
        "signature",
        "outlook-signature",
    }
)


def _fold_start(kinds: Sequence[str | None]) -> int | None:
    """Where folding starts, given each item's kind: `hard` (history or signature follows, whatever
    comes next), `soft` (a quote or attribution, which may be answered in between), `blank`, None.

    A soft item starts the fold only when nothing but soft or blank items follows it up to the
    first hard one: interleaved answers between quotes stay visible.
    """
    hard = next((index for index, kind in enumerate(kinds) if kind == "hard"), len(kinds))
    for index in range(hard):
        if kinds[index] == "soft" and all(kind in ("soft", "blank") for kind in kinds[index:hard]):
            return index
    return hard if hard < len(kinds) else None


def _folds(kinds: Sequence[str | None]) -> tuple[int, int]:
    """The visible range (start, end) of a body: a bottom-posted reply's leading quote and the
    trailing history are folded, the answer between them stays.

    The leading quote folds only when one answer follows it: between interleaved quotes and
    answers, the quotes are the context of the answers and stay visible.
    """
    end = _fold_start(kinds)
    end = len(kinds) if end is None else end
    lead = 0
    while lead < end and kinds[lead] in ("soft", "blank"):
        lead += 1
    answer = kinds[lead:end]
    if "soft" not in kinds[:lead] or not any(kind is None for kind in answer) or "soft" in answer:
        lead = 0
    return lead, end


def split_plain(text: str) -> tuple[str, str]:
    """Split a plain-text body into (new text, quoted history and signature)."""
    lines = text.split("\n")
    lead, end = _folds(_line_kinds(lines))
    if not end:  # nothing but history (a bare forward): all visible
        return text.strip("\n"), ""
    folded = ("\n".join(lines[:lead]).strip("\n"), "\n".join(lines[end:]).strip("\n"))
    return "\n".join(lines[lead:end]).strip("\n"), "\n\n".join(part for part in folded if part)


def _line_kinds(lines: Sequence[str]) -> list[str | None]:
    kinds: list[str | None] = []
    for index, line in enumerate(lines):
        following = lines[index + 1 : index + 4]
        if (
            _SIGNATURE.match(line)
            or _SEPARATOR.match(line)
            or (
                _UNDERSCORE_RULE.match(line)
                and any(_OUTLOOK_FROM.match(next_line) for next_line in following[:2])
            )
            or (_OUTLOOK_FROM.match(line) and any(_OUTLOOK_SENT.match(next_line) for next_line in following))
        ):
            kinds.append("hard")
        elif line.startswith(">"):
            kinds.append("soft")
        elif line.strip() and (
            _ATTRIBUTION.match(line) or _ATTRIBUTION.match(" ".join(lines[index : index + 2]))
        ):
            # Clients wrap long attribution lines: the line and the next one are tried together.
            kinds.append("soft")
        elif kinds and kinds[-1] == "soft" and index > 0 and _ATTRIBUTION.match(f"{lines[index - 1]} {line}"):
            kinds.append("soft")
        else:
            kinds.append(None if line.strip() else "blank")
    return kinds


def split_blocks(blocks: Sequence[Block]) -> tuple[list[Block], list[Block]]:
    """Split an HTML body's blocks into (new text, quoted history and signature)."""
    flat = _unwrap(list(blocks))
    kinds = [
        _block_kind(block, flat[index + 1] if index + 1 < len(flat) else None)
        for index, block in enumerate(flat)
    ]
    if flat and kinds[0] == "hard" and _classes(flat[0]) & _QUOTED_MAIL_CLASSES:
        kinds[0] = "soft"
    lead, end = _folds(kinds)
    if not end:
        return flat, []
    return flat[lead:end], flat[:lead] + flat[end:]


def _unwrap(blocks: list[Block]) -> list[Block]:
    """Replace plain wrapper <div>s (Outlook's WordSection1) by their children, keeping quote containers."""
    changed = True
    while changed:
        changed = False
        result: list[Block] = []
        for block in blocks:
            if block.get("t") == "Div" and not _container_kind(block):
                result.extend(block["c"][1])
                changed = True
            else:
                result.append(block)
        blocks = result
    return blocks


def _classes(block: Block) -> set[str]:
    return {str(c).lower() for c in block["c"][0][1]} if block.get("t") == "Div" else set()


def _container_kind(block: Block) -> str | None:
    identifier = block["c"][0][0]
    names = _classes(block)
    if names & _SOFT_CLASSES:
        return "soft"
    if str(identifier).lower() in _QUOTE_IDS or names & _QUOTE_CLASSES:
        return "hard"
    return None


def _block_kind(block: Block, following: Block | None) -> str | None:
    kind = block.get("t")
    if kind == "Div":
        return _container_kind(block)
    if kind == "BlockQuote":
        return "soft"
    text = block_text(block)
    if kind in ("Para", "Plain") and not text.strip():
        return "blank"  # a lone <br>
    if kind == "HorizontalRule":
        return "hard" if following is not None and _OUTLOOK_FROM.match(block_text(following)) else None
    lines = text.split("\n")
    if _SEPARATOR.match(lines[0]) or _SIGNATURE.match(text):
        return "hard"
    if _OUTLOOK_FROM.match(lines[0]) and any(_OUTLOOK_SENT.match(line) for line in lines[1:4]):
        return "hard"
    return "soft" if _ATTRIBUTION.match(text) else None
