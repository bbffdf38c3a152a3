"""Redaction before publishing (pure): IBANs, card numbers, phone numbers, e-mail addresses, own patterns.

What a mapping or route lists in `redact` is replaced by a visible marker (`[IBAN entfernt]` /
`[IBAN removed]`) in a mail's subject, texts, HTML, invitations and attachment names, before the
planner names a page or the renderer writes one; attachments of withheld types are listed, not
uploaded. The built-in kinds check what they find, to keep order numbers, dates and prices: an
IBAN needs its country's length and the mod-97 checksum, a card number a card prefix and the Luhn
check, a phone number a `+`/`00` prefix, a German area code (`030 …`, `(030) …`) or a word such
as "Tel." before it. Markers already in a text are never redacted again, so redaction is
idempotent, and markers hold no digits, `@` or wiki markup.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from bridge.core.attachments import extension
from bridge.core.model import Attachment, Message


class RedactKind(StrEnum):
    """The built-in kinds of personal data `redact` may list."""

    IBAN = "iban"
    CREDIT_CARD = "credit_card"
    PHONE = "phone"
    EMAIL = "email"


CUSTOM = "custom"
_MARKERS: dict[str, dict[str, str]] = {
    RedactKind.IBAN: {"de": "[IBAN entfernt]", "en": "[IBAN removed]"},
    RedactKind.CREDIT_CARD: {"de": "[Kartennummer entfernt]", "en": "[card number removed]"},
    RedactKind.PHONE: {"de": "[Telefonnummer entfernt]", "en": "[phone number removed]"},
    RedactKind.EMAIL: {"de": "[E-Mail-Adresse entfernt]", "en": "[e-mail address removed]"},
    CUSTOM: {"de": "[entfernt]", "en": "[removed]"},
}
_ANY_MARKER = re.compile(
    "(" + "|".join(re.escape(text) for texts in _MARKERS.values() for text in texts.values()) + ")"
)


@dataclass(frozen=True, slots=True)
class Redaction:
    """What a mapping (or route) removes before publishing, and the language of its markers."""

    kinds: frozenset[RedactKind] = frozenset()
    patterns: tuple[str, ...] = ()
    attachment_types: tuple[str, ...] = ()
    language: str = "en"

    @property
    def active(self) -> bool:
        """Whether anything is redacted at all."""
        return bool(self.kinds or self.patterns or self.attachment_types)


def marker(kind: str, language: str) -> str:
    """The visible text that stands where data of `kind` was removed."""
    texts = _MARKERS[kind]
    return texts.get(language, texts["en"])


# -- IBAN -------------------------------------------------------------------------------------

_IBAN_LENGTHS = {
    **dict.fromkeys(("NO",), 15),
    **dict.fromkeys(("BE",), 16),
    **dict.fromkeys(("DK", "FI", "FO", "GL", "NL"), 18),
    **dict.fromkeys(("MK", "SI"), 19),
    **dict.fromkeys(("AT", "BA", "EE", "KZ", "LT", "LU", "XK"), 20),
    **dict.fromkeys(("CH", "HR", "LI", "LV"), 21),
    **dict.fromkeys(("BG", "BH", "CR", "DE", "GB", "GE", "IE", "ME", "RS", "VA"), 22),
    **dict.fromkeys(("AE", "GI", "IL", "IQ"), 23),
    **dict.fromkeys(("AD", "CZ", "ES", "MD", "PK", "RO", "SA", "SE", "SK", "TN", "VG"), 24),
    **dict.fromkeys(("PT",), 25),
    **dict.fromkeys(("IS", "TR"), 26),
    **dict.fromkeys(("FR", "GR", "IT", "MC", "MR", "SM"), 27),
    **dict.fromkeys(("AL", "AZ", "BY", "CY", "DO", "GT", "HU", "LB", "PL"), 28),
    **dict.fromkeys(("BR", "EG", "PS", "QA", "UA"), 29),
    **dict.fromkeys(("JO", "KW", "MU"), 30),
    **dict.fromkeys(("MT",), 31),
    **dict.fromkeys(("LC",), 32),
}
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2})\d\d")
_GROUP_SEPARATORS = " \u00a0\u202f-"


def _alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


def iban_valid(text: str) -> bool:
    """Tell whether `text` (separators allowed) is an IBAN of its country's length with a valid checksum."""
    compact = "".join(c for c in text if c not in _GROUP_SEPARATORS).upper()
    if _IBAN_LENGTHS.get(compact[:2]) != len(compact) or not all(_alnum(c) for c in compact):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


@lru_cache(maxsize=32)
def _iban_shape(length: int) -> re.Pattern[str]:
    """An IBAN of `length` characters, its groups split by single blanks or hyphens."""
    group = rf"(?:[{_GROUP_SEPARATORS}]?[A-Za-z0-9])"
    return re.compile(rf"[A-Za-z]{{2}}\d\d{group}{{{length - 4}}}(?![A-Za-z0-9])")


def _iban_end(text: str, start: int) -> int | None:
    """Where an IBAN starting at `start` ends (its country's length, a valid checksum), or None."""
    length = _IBAN_LENGTHS.get(text[start : start + 2].upper())
    found = _iban_shape(length).match(text, start) if length is not None else None
    return found.end() if found is not None and iban_valid(found.group()) else None


def _redact_ibans(text: str, replacement: str) -> str:
    out: list[str] = []
    position = 0
    for found in _IBAN_START.finditer(text):
        if found.start() < position:
            continue
        end = _iban_end(text, found.start())
        if end is not None:
            out += [text[position : found.start()], replacement]
            position = end
    return "".join(out) + text[position:]


# -- card numbers ----------------------------------------------------------------------------

_CARD = re.compile(r"(?<![\w.,/+-])\d(?:[ -]?\d){12,18}(?![\w]|[.,/-]\d)")
# Card networks by prefix, with the lengths their numbers have.
_CARD_NETWORKS = (
    (re.compile(r"^3[47]"), (15,)),
    (re.compile(r"^4"), (13, 16, 19)),
    (re.compile(r"^(?:5[1-5]|2[2-7])"), (16,)),
    (re.compile(r"^(?:3[068]|6(?:011|5|4[4-9]|22)|35)"), (14, 15, 16, 17, 18, 19)),
)
# The first group of an IBAN-like string whose checksum failed: what follows is not a card or phone.
_IBAN_HEAD = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d\d[ \u00a0\u202f-]?$")


def luhn_valid(digits: str) -> bool:
    """The Luhn check of card numbers."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def card_valid(text: str) -> bool:
    """A card number: 13–19 digits with a card network's prefix that pass the Luhn check."""
    digits = re.sub(r"[ -]", "", text)
    lengths = next((lengths for prefix, lengths in _CARD_NETWORKS if prefix.match(digits)), ())
    return len(digits) in lengths and luhn_valid(digits)


def _after_iban_head(found: re.Match[str]) -> bool:
    return bool(_IBAN_HEAD.search(found.string[max(0, found.start() - 5) : found.start()]))


def _card(found: re.Match[str], replacement: str) -> str:
    keep = _after_iban_head(found) or not card_valid(found.group())
    return found.group() if keep else replacement


# -- phone numbers ---------------------------------------------------------------------------

# Not glued to a `+` and a digit on the right either: `2+2`-like text is arithmetic, and the
# right-hand side, once the left was replaced, would count as a number of its own.
_PHONE = re.compile(
    r"(?<![\w+/,-])(?<!\d\.)(?:\+|\b00)?\(?\d[\d \u00a0\u202f()/-]{4,26}\d(?![\w]|[.,:]\d|\+\d)"
)
_PHONE_WORD = re.compile(
    r"(?:\b(?:tel|telefon|phone|fon|fax|mobil|mobile|handy|cell|ruf|rufnummer|durchwahl)\b\.?"
    r"(?:\s*(?:nr|no)\.?)?|\b[TMF])\s*:?\s*$",
    re.IGNORECASE,
)
_NUMBER_WORD = re.compile(
    r"\b(?:nr|no|nummer|number|bestell\w*|order|auftrag\w*|rechnung\w*|invoice|kunden\w*|customer|"
    r"ref\w*|az|aktenzeichen|id|plz|konto\w*|account|artikel\w*|item|sku|ticket|vorgang\w*|case)"
    r"\b\.?\s*[#:.]?\s*$",
    re.IGNORECASE,
)
_NATIONAL = re.compile(r"^\(?0[1-9]\d{1,4}\)?[ \u00a0\u202f/-]")
_RUN_OF_BLANKS = re.compile(r"[ \u00a0\u202f]{2,}")
_LAST_GROUP = re.compile(r"[ \u00a0\u202f/-]+[^ \u00a0\u202f/-]*$")


def _phone_like(candidate: str, phone_word: bool, number_word: bool) -> bool:
    digits = sum(map(str.isdigit, candidate))
    if candidate.count("(") != candidate.count(")"):
        return False
    if candidate.startswith(("+", "00")):
        return 8 <= digits <= 15
    if phone_word:
        return 6 <= digits <= 13
    return bool(_NATIONAL.match(candidate)) and not number_word and 9 <= digits <= 13


def _phone(found: re.Match[str], replacement: str) -> str:
    """The redacted text of one candidate: the phone number in it, or the candidate as it was."""
    text = found.group()
    if _RUN_OF_BLANKS.search(text) or _after_iban_head(found):  # table columns; an IBAN-like string
        return text
    before = found.string[max(0, found.start() - 30) : found.start()]
    phone_word, number_word = bool(_PHONE_WORD.search(before)), bool(_NUMBER_WORD.search(before))
    candidate = text
    for _ in range(4):  # a number followed by another (a postal code): drop trailing groups
        if _phone_like(candidate, phone_word, number_word):
            return replacement + text[len(candidate) :]
        shorter = _LAST_GROUP.sub("", candidate)
        if shorter == candidate or not shorter[-1:].isdigit():
            break
        candidate = shorter
    return text


# -- e-mail addresses ------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.%+-])(?<!cid:)[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])"
)


# -- applying them ---------------------------------------------------------------------------


@lru_cache(maxsize=64)
def compiled(pattern: str) -> re.Pattern[str]:
    """A custom pattern, compiled once (the config checked it compiles and matches no empty text)."""
    return re.compile(pattern)


def _outside_markers(text: str, change: Callable[[str], str]) -> str:
    """Apply `change` to the stretches of `text` between markers, leaving the markers as they are."""
    parts = _ANY_MARKER.split(text)
    return "".join(part if index % 2 else change(part) for index, part in enumerate(parts))


def _substitute(pattern: re.Pattern[str], replacement: str) -> Callable[[str], str]:
    return lambda text: pattern.sub(replacement, text)


def redact_text(text: str, redaction: Redaction) -> str:
    """`text` with every kind and pattern of `redaction` replaced by its marker."""
    if not text or not (redaction.kinds or redaction.patterns):
        return text
    language = redaction.language
    steps: list[Callable[[str], str]] = []
    if RedactKind.IBAN in redaction.kinds:
        steps.append(lambda t: _redact_ibans(t, marker(RedactKind.IBAN, language)))
    if RedactKind.CREDIT_CARD in redaction.kinds:
        card = marker(RedactKind.CREDIT_CARD, language)
        steps.append(lambda t: _CARD.sub(lambda m: _card(m, card), t))
    if RedactKind.PHONE in redaction.kinds:
        phone = marker(RedactKind.PHONE, language)
        steps.append(lambda t: _PHONE.sub(lambda m: _phone(m, phone), t))
    if RedactKind.EMAIL in redaction.kinds:
        steps.append(lambda t: _EMAIL.sub(marker(RedactKind.EMAIL, language), t))
    custom = marker(CUSTOM, language)
    steps += [_substitute(compiled(pattern), custom) for pattern in redaction.patterns]
    # One kind's marker can give the text next to it the boundary another kind looks for
    # (`0@0.AA000000` is an address only once the digits after it are gone), so the rounds go on
    # until nothing changes: redacting the result again then changes nothing either. Each round
    # that changes something turns text into markers, which later rounds leave alone: it ends.
    while True:
        redacted = text
        for step in steps:
            redacted = _outside_markers(redacted, step)
        if redacted == text:
            return text
        text = redacted


def withholds(attachment: Attachment, types: tuple[str, ...]) -> bool:
    """Whether `types` (MIME types, `type/*`, or extensions such as `.p12`) name this attachment."""
    kind = attachment.content_type.lower()
    ext = "." + extension(attachment)
    for entry in (t.strip().lower() for t in types):
        if entry.startswith("."):
            if entry == ext:
                return True
        elif entry == kind or (entry.endswith("/*") and kind.startswith(entry[:-1])):
            return True
    return False


def redact_message(message: Message, redaction: Redaction) -> Message:
    """`message` as it may be published: texts, subject, invitations, attachment names redacted."""
    if not redaction.active:
        return message

    def text(value: str) -> str:
        return redact_text(value, redaction)

    attachments = tuple(
        dataclasses.replace(
            a, filename=text(a.filename), withheld=a.withheld or withholds(a, redaction.attachment_types)
        )
        for a in message.attachments
    )
    return dataclasses.replace(
        message,
        subject=text(message.subject),
        body_text=text(message.body_text),
        body_html=text(message.body_html),
        attachments=attachments,
        forwarded=tuple(redact_message(inner, redaction) for inner in message.forwarded),
        events=tuple(
            dataclasses.replace(e, summary=text(e.summary), location=text(e.location)) for e in message.events
        ),
    )
