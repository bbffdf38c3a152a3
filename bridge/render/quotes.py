"""Telling a reply's new text from its quoted history and signature (pure).

The new text is shown; what follows the first quote header, separator or signature is kept on
the page but folded away. German and English clients are recognised: `Am … schrieb …:`,
`On … wrote:`, `-----Ursprüngliche Nachricht-----`, `-----Original Message-----`, Outlook's
`Von:/Gesendet:` (`From:/Sent:`) header blocks, `>` quoting at the end of a mail, the signature
delimiter `-- `, and in HTML the quote containers of Gmail, Thunderbird, Outlook and Apple Mail.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bridge.render.html import Block, block_text

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
        "moz-cite-prefix",
        "yahoo_quoted",
        "protonmail_quote",
        "outlookmessageheader",
        "gmail_signature",
        "moz-signature",
        "apple-mail-signature",
    }
)
_QUOTE_IDS = frozenset(
    {
        "divrplyfwdmsg",
        "appendonsend",
        "mail-editor-reference-message-container",
        "signature",
        "outlook-signature",
    }
)


def split_plain(text: str) -> tuple[str, str]:
    """Split a plain-text body into (new text, quoted history and signature)."""
    lines = text.split("\n")
    start = _quote_start(lines)
    if start is None:
        return text.strip("\n"), ""
    visible = "\n".join(lines[:start]).strip("\n")
    folded = "\n".join(lines[start:]).strip("\n")
    # A mail that is all quote (a bare forward) keeps everything visible.
    return (visible, folded) if visible.strip() else (text.strip("\n"), "")


def _quote_start(lines: Sequence[str]) -> int | None:
    for index, line in enumerate(lines):
        following = "\n".join(lines[index : index + 3])
        if _SIGNATURE.match(line) or _SEPARATOR.match(line):
            return index
        # Clients wrap long attribution lines, so the line and the next one are tried together.
        if line.strip() and (
            _ATTRIBUTION.match(line) or _ATTRIBUTION.match(" ".join(lines[index : index + 2]))
        ):
            return index
        if _UNDERSCORE_RULE.match(line) and _OUTLOOK_FROM.search(following.split("\n", 1)[-1]):
            return index
        if _OUTLOOK_FROM.match(line) and any(
            _OUTLOOK_SENT.match(next_line) for next_line in lines[index + 1 : index + 4]
        ):
            return index
        if line.startswith(">") and _is_quoted_tail(lines, index):
            return index
    return None


def _is_quoted_tail(lines: Sequence[str], start: int) -> bool:
    """True when every non-blank line from `start` on is quoted or part of a signature."""
    for line in lines[start:]:
        if _SIGNATURE.match(line):
            return True
        if line.strip() and not line.startswith(">"):
            return False
    return True


def split_blocks(blocks: Sequence[Block]) -> tuple[list[Block], list[Block]]:
    """Split an HTML body's blocks into (new text, quoted history and signature)."""
    flat = _unwrap(list(blocks))
    for index, block in enumerate(flat):
        if _starts_quote(block, flat[index + 1] if index + 1 < len(flat) else None):
            if index == 0:
                break
            previous = block_text(flat[index - 1])
            start = index - 1 if block.get("t") == "BlockQuote" and _ATTRIBUTION.match(previous) else index
            if start == 0:
                break
            return flat[:start], flat[start:]
    return flat, []


def _unwrap(blocks: list[Block]) -> list[Block]:
    """Replace plain wrapper <div>s (Outlook's WordSection1) by their children, keeping quote containers."""
    changed = True
    while changed:
        changed = False
        result: list[Block] = []
        for block in blocks:
            if block.get("t") == "Div" and not _is_quote_container(block):
                result.extend(block["c"][1])
                changed = True
            else:
                result.append(block)
        blocks = result
    return blocks


def _is_quote_container(block: Block) -> bool:
    identifier, classes, _ = block["c"][0]
    return str(identifier).lower() in _QUOTE_IDS or any(str(c).lower() in _QUOTE_CLASSES for c in classes)


def _starts_quote(block: Block, following: Block | None) -> bool:
    kind = block.get("t")
    if kind == "Div":
        return _is_quote_container(block)
    if kind == "BlockQuote":
        return True
    text = block_text(block)
    if kind == "HorizontalRule":
        return following is not None and bool(_OUTLOOK_FROM.match(block_text(following)))
    lines = text.split("\n")
    if _SEPARATOR.match(lines[0]) or _SIGNATURE.match(text):
        return True
    if _OUTLOOK_FROM.match(lines[0]) and any(_OUTLOOK_SENT.match(line) for line in lines[1:4]):
        return True
    return bool(_ATTRIBUTION.match(text) and following is not None and following.get("t") == "BlockQuote")
