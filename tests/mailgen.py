"""A deterministic generator of realistic conversation mailboxes, as raw RFC 5322 bytes.

`generate_mailbox(seed, messages)` returns the mails of a team mailbox in delivery order and the
true partition of those mails into conversations. Everything is derived from one seeded
`random.Random`, so a seed always yields byte-identical mail.

What makes the mail realistic (and hard to thread):

- conversation sizes: many single mails, many of 2-10, some of 11-29, a few of 30-80;
- reply trees, not chains: most replies answer the latest mail, some an older one (branches);
- German and English senders with their clients' habits: Outlook (``AW:``/``WG:``, upper-case
  Message-ID domains, ``Thread-Index``/``Thread-Topic``), Thunderbird, Apple Mail, Gmail;
  stacked prefixes (``AW: AW: Re:``), edited reply subjects, RFC 2047 encoded umlauts, UTF-8
  and ISO-8859-1 bodies, quoted parent text, some HTML alternatives;
- ``References`` is the parent's ``References`` plus the parent, ``In-Reply-To`` the parent;
  with ``truncate_references`` a chain of more than 4 ids keeps only the first and the last 3,
  as Outlook and many mobile clients do;
- with ``missing_parents`` about 5 % of the mails are never delivered (deleted, sent from a
  private account, never copied in), while their replies still name them;
- with ``shuffle`` the delivery order is perturbed: neighbours swap and some mails arrive much
  later than written, so replies arrive before their parents;
- dates increase along every reply chain;
- optionally (``in_reply_to_only``, off by default) a share of the replies carries only
  ``In-Reply-To``, as some older and mobile clients write it; only replies whose parent is
  delivered, so the conversations can still be told from the mailbox alone.

Message-IDs are written in the clients' spelling (``…@AM9PR04MB8465.eurprd04.prod.outlook.com``
style domains in upper case); `normalize` gives the canonical form (no angle brackets, domain in
lower case) that `GeneratedMailbox.threads` uses. This module deliberately does not import the
bridge, so the truth it produces is independent of the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import html
import random
import struct
import zlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

__all__ = [
    "GeneratedMailbox",
    "MailSpec",
    "MailboxPlan",
    "Person",
    "generate_mailbox",
    "new_conversation",
    "normalize",
    "plan_mailbox",
    "png_image",
    "render_mail",
    "reply_to",
]

MAX_FULL_REFERENCES = 4
"""A References chain longer than this is truncated to the first id and the last 3."""

MISSING_RATE = 0.05
START = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
SPAN = timedelta(days=365)
TEAM_ADDRESS = "team-sales@example.de"


@dataclass(frozen=True, slots=True)
class Person:
    """A correspondent: display name, address, language ("de"/"en") and mail client."""

    name: str
    address: str
    language: str
    client: str


PEOPLE: tuple[Person, ...] = (
    Person("Jürgen Müller", "juergen.mueller@example.de", "de", "outlook"),
    Person("Anna Schmidt", "anna.schmidt@example.de", "de", "thunderbird"),
    Person("Björn Weiß", "bjoern.weiss@mueller-logistik.de", "de", "outlook"),
    Person("Özlem Yılmaz", "oezlem.yilmaz@example.de", "de", "apple"),
    Person("Günther Schön", "g.schoen@baeckerei-schoen.de", "de", "gmail"),
    Person("Käthe Groß", "kaethe.gross@oeko-haus.de", "de", "outlook"),
    Person("Lars Förster", "lars.foerster@example.de", "de", "thunderbird"),
    Person("Renée Dubois", "renee.dubois@example.fr", "en", "apple"),
    Person("Sarah O'Connor", "sarah.oconnor@example.co.uk", "en", "outlook"),
    Person("Tom Baker", "tom.baker@example.com", "en", "gmail"),
    Person("Priya Natarajan", "priya@example.in", "en", "thunderbird"),
    Person("Team Vertrieb", TEAM_ADDRESS, "de", "outlook"),
)

_MAILERS = {
    "outlook": ("X-Mailer", "Microsoft Outlook 16.0"),
    "thunderbird": ("User-Agent", "Mozilla Thunderbird"),
    "apple": ("X-Mailer", "Apple Mail (2.3731.700.6)"),
    "gmail": ("X-Mailer", "Gmail"),
}
_OUTLOOK_HOSTS = ("AM9PR04MB", "DB7PR03MB", "FR2P281MB", "BE1P281MB", "VI1PR07MB")
_OUTLOOK_ZONES = ("eurprd04", "eurprd03", "DEUP281", "GBRP265")
_GMAIL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+=_-"

_CITIES = (
    "Köln",
    "München",
    "Düsseldorf",
    "Nürnberg",
    "Lübeck",
    "Görlitz",
    "Zürich",
    "Würzburg",
    "Osnabrück",
    "Saarbrücken",
    "Hamburg",
    "Leipzig",
)
_PRODUCTS_DE = (
    "Förderband",
    "Hubwagen",
    "Schaltschrank",
    "Gabelstapler",
    "Prüfgerät",
    "Rollenbahn",
    "Palettenregal",
    "Kühlaggregat",
    "Drehmomentschlüssel",
    "Schweißroboter",
)
_PRODUCTS_EN = ("conveyor belt", "pallet truck", "control cabinet", "forklift", "test rig", "cooling unit")
_CUSTOMERS = ("Müller Logistik GmbH", "Bäckerei Schön", "Öko-Haus AG", "Weiß & Söhne KG", "Acme Ltd")
_PROJECTS = ("Nordlicht", "Brückenbau", "Phönix", "Aurora", "Kranich", "Süderelbe")
_WEEKDAYS_DE = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag")
_WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
_MONTHS_DE = ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September")

_SUBJECTS_DE = (
    "Angebot für {city}",
    "Lieferverzögerung Auftrag {num}",
    "Rechnung {year}-{num}",
    "Reklamation {product}",
    "Anfrage {product} ({customer})",
    "Termin {weekday} in {city}",
    "Besprechung Projekt {project}",
    "Übergabe {product} an {customer}",
    "Preisanpassung {year} – {customer}",
    "Urlaubsvertretung {month}",
    "Messe {city}: Standplanung",
    "Frage zu Lieferschein {num}",
    "Maße für {product} Nr. {num}",
)
_SUBJECTS_EN = (
    "Quote request: {product_en}",
    "Delivery delay order {num}",
    "Invoice {num}",
    "Meeting on {weekday_en}",
    "Project {project} status",
    "Follow-up: {city} visit",
    "Question about order {num}",
)
_GENERIC_SUBJECTS = ("Kurze Frage", "Meeting", "Info", "Wochenbericht", "Hallo zusammen", "Quick question")
_EDITS = ("erledigt", "dringend", "Update", "neue Zahlen", "done", "bitte lesen")

_SENTENCES_DE = (
    "anbei das überarbeitete Angebot für das {product}.",
    "können Sie mir bis Freitag eine Rückmeldung geben?",
    "die Lieferung verzögert sich leider um zwei Wochen, der Zulieferer hat Engpässe.",
    "ich habe die Maße noch einmal geprüft: 1.200 × 800 mm passt.",
    "bitte die Rechnung an unsere Buchhaltung in {city} schicken.",
    "wir treffen uns am {weekday} um 14 Uhr im Besprechungsraum „Zugspitze“.",
    "das Prüfprotokoll ist unvollständig, es fehlen die Seiten 3–5.",
    "könnten Sie die Übergabehöhe bestätigen?",
    "danke für die schnelle Antwort!",
    "die Ware ist heute früh beschädigt angekommen; Fotos folgen.",
    "zur Info: Herr Weiß ist ab Montag im Urlaub, Frau Öztürk übernimmt.",
    "der Preis gilt nur bei Abnahme von mindestens 50 Stück.",
    "gerne übernehme ich das, Grüße an das ganze Team.",
)
_SENTENCES_EN = (
    "please find attached the revised quote for the {product_en}.",
    "could you get back to me by Friday?",
    "the shipment is delayed by two weeks, our supplier is short on parts.",
    "I double-checked the dimensions: 1200 x 800 mm fits.",
    "thanks for the quick reply!",
    "let's meet on {weekday_en} at 2 pm.",
    "the goods arrived damaged this morning; photos to follow.",
    "FYI: Tom is out next week, Sarah will cover.",
    "the price only holds for orders of 50 units or more.",
)


@dataclass(frozen=True, slots=True)
class MailSpec:
    """Everything that makes up one mail; `render_mail` turns it into bytes.

    Ids are in their written spelling (no angle brackets). `references` is what the
    References header says (maybe truncated); `ancestors` is the full true chain root..parent.
    `thread_index` is Outlook's binary Thread-Index (empty for other clients).
    """

    message_id: str
    parent_id: str | None
    references: tuple[str, ...]
    ancestors: tuple[str, ...]
    subject: str
    sender: Person
    date: datetime
    body: str
    html: bool
    thread_index: bytes
    thread: int

    @property
    def normalized_id(self) -> str:
        """The canonical Message-ID (no brackets, lower-case domain)."""
        return normalize(self.message_id)


@dataclass(frozen=True, slots=True)
class MailboxPlan:
    """A planned mailbox: the delivered mails in delivery order, not yet rendered to bytes."""

    specs: list[MailSpec]
    threads: list[list[str]]
    missing_ids: list[str]


@dataclass(frozen=True, slots=True)
class GeneratedMailbox:
    """A generated mailbox: raw mails in delivery order and the true conversations.

    `threads` is the true partition of the delivered mails, as lists of normalized Message-IDs
    (oldest first); mails that were never delivered appear in no list. `message_ids[i]` and
    `specs[i]` belong to `mails[i]`; `missing_ids` are the normalized ids that replies name but
    that were never delivered.
    """

    mails: list[bytes]
    threads: list[list[str]]
    message_ids: list[str]
    specs: list[MailSpec]
    missing_ids: list[str]


def normalize(message_id: str) -> str:
    """Return the canonical form of a Message-ID: no angle brackets, domain in lower case."""
    local, _, domain = message_id.strip().strip("<>").rpartition("@")
    return f"{local}@{domain.lower()}"


def generate_mailbox(
    seed: int,
    messages: int,
    *,
    truncate_references: bool = True,
    missing_parents: bool = True,
    shuffle: bool = True,
    in_reply_to_only: float = 0.0,
) -> GeneratedMailbox:
    """Generate `messages` delivered mails of realistic conversations (see the module docstring).

    `in_reply_to_only` is the share (0.0-1.0) of replies with a delivered parent that lack
    References. The same arguments always give byte-identical mails in the same order.
    """
    plan = plan_mailbox(
        seed,
        messages,
        truncate_references=truncate_references,
        missing_parents=missing_parents,
        shuffle=shuffle,
        in_reply_to_only=in_reply_to_only,
    )
    return GeneratedMailbox(
        mails=[render_mail(spec) for spec in plan.specs],
        threads=plan.threads,
        message_ids=[spec.normalized_id for spec in plan.specs],
        specs=plan.specs,
        missing_ids=plan.missing_ids,
    )


def plan_mailbox(
    seed: int,
    messages: int,
    *,
    truncate_references: bool = True,
    missing_parents: bool = True,
    shuffle: bool = True,
    in_reply_to_only: float = 0.0,
) -> MailboxPlan:
    """Plan the mailbox of `generate_mailbox` without rendering it (fast for large mailboxes)."""
    if messages < 0:
        raise ValueError("messages must not be negative")
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    used_ids: set[str] = set()
    delivered: list[MailSpec] = []
    threads: list[list[str]] = []
    missing_ids: list[str] = []
    thread_number = 0
    while len(delivered) < messages:
        size = _thread_size(rng)
        start = START + timedelta(seconds=rng.randrange(int(SPAN.total_seconds())))
        tree = _plan_thread(rng, used_ids, thread_number, size, start, truncate_references)
        lost = [missing_parents and rng.random() < MISSING_RATE for _ in tree]
        kept = [spec for spec, gone in zip(tree, lost, strict=True) if not gone]
        # Every mail is created after its parent, so dropping the newest mails keeps a tree.
        kept = kept[: messages - len(delivered)]
        if in_reply_to_only:
            present = {spec.message_id for spec in kept}
            kept = [
                replace(spec, references=())
                if spec.parent_id in present and rng.random() < in_reply_to_only
                else spec
                for spec in kept
            ]
        missing_ids.extend(
            spec.normalized_id
            for spec, gone in zip(tree, lost, strict=True)
            if gone and any(spec.message_id in other.ancestors for other in kept)
        )
        if kept:
            threads.append([spec.normalized_id for spec in sorted(kept, key=lambda s: s.date)])
            delivered.extend(kept)
        thread_number += 1
    delivered.sort(key=lambda spec: spec.date)
    if shuffle:
        delivered = _perturb(rng, delivered)
    return MailboxPlan(specs=delivered, threads=threads, missing_ids=missing_ids)


def _perturb(rng: random.Random, ordered: list[MailSpec]) -> list[MailSpec]:
    """Return `ordered` with neighbours swapped and about 7 % of the mails arriving much later."""
    keys: list[float] = []
    for position in range(len(ordered)):
        key = position + rng.uniform(0.0, 4.0)
        if rng.random() < 0.07:
            key += rng.randint(20, 600)  # stuck in a queue, moved in from another folder later
        keys.append(key)
    order = sorted(range(len(ordered)), key=lambda index: (keys[index], index))
    return [ordered[index] for index in order]


def _thread_size(rng: random.Random) -> int:
    """Draw a conversation size: many 1s, many 2-10, some 11-29, a few 30-80."""
    draw = rng.random()
    if draw < 0.42:
        return 1
    if draw < 0.90:
        return rng.randint(2, 10)
    if draw < 0.975:
        return rng.randint(11, 29)
    return rng.randint(30, 80)


def _plan_thread(
    rng: random.Random,
    used_ids: set[str],
    thread: int,
    size: int,
    start: datetime,
    truncate_references: bool,
) -> list[MailSpec]:
    """Plan one conversation of `size` mails in creation order (every parent before its replies)."""
    root = new_conversation(rng, used_ids=used_ids, date=start, thread=thread)
    tree = [root]
    for _ in range(1, size):
        draw = rng.random()
        if draw < 0.55:
            parent = tree[-1]  # answering the latest mail
        elif draw < 0.80:
            parent = tree[max(0, len(tree) - 1 - rng.randint(1, 3))]  # a recent one
        else:
            parent = rng.choice(tree)  # reviving an old branch
        tree.append(reply_to(rng, parent, used_ids=used_ids, truncate_references=truncate_references))
    return tree


def _fill(rng: random.Random, template: str) -> str:
    """Fill a subject or sentence template with random but plausible details."""
    return template.format(
        city=rng.choice(_CITIES),
        num=rng.randint(1000, 99999),
        year=rng.randint(2024, 2026),
        product=rng.choice(_PRODUCTS_DE),
        product_en=rng.choice(_PRODUCTS_EN),
        customer=rng.choice(_CUSTOMERS),
        weekday=rng.choice(_WEEKDAYS_DE),
        weekday_en=rng.choice(_WEEKDAYS_EN),
        project=rng.choice(_PROJECTS),
        month=rng.choice(_MONTHS_DE),
    )


def _new_id(rng: random.Random, sender: Person, used_ids: set[str]) -> str:
    """Return a Message-ID in the spelling of the sender's client, unique in `used_ids`."""
    while True:
        domain = sender.address.rpartition("@")[2]
        if sender.client == "outlook":
            host = f"{rng.choice(_OUTLOOK_HOSTS)}{rng.randint(1000, 9999)}"
            local = f"{host}{rng.getrandbits(128):032X}"
            message_id = f"{local}@{host}.{rng.choice(_OUTLOOK_ZONES)}.prod.outlook.com"
        elif sender.client == "apple":
            uuid = f"{rng.getrandbits(128):032X}"
            local = f"{uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:]}"
            spelled = domain.upper() if rng.random() < 0.3 else domain.capitalize()
            message_id = f"{local}@{spelled}"
        elif sender.client == "gmail":
            local = "CA" + "".join(rng.choice(_GMAIL_ALPHABET) for _ in range(46))
            message_id = f"{local}@mail.gmail.com"
        else:
            uuid = f"{rng.getrandbits(128):032x}"
            local = f"{uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:]}"
            message_id = f"{local}@{domain}"
        if normalize(message_id) not in used_ids:
            used_ids.add(normalize(message_id))
            return message_id


def _body(rng: random.Random, sender: Person, recipient: Person | None, quoted: MailSpec | None) -> str:
    """Write a short mail body in the sender's language, maybe quoting the parent."""
    first = recipient.name.split()[0] if recipient else ""
    if sender.language == "de":
        greeting = rng.choice((f"Hallo {first},", f"Guten Tag {recipient.name}," if recipient else "Hallo,"))
        sentences = [_fill(rng, rng.choice(_SENTENCES_DE)) for _ in range(rng.randint(1, 3))]
        closing = rng.choice(("Viele Grüße", "Mit freundlichen Grüßen", "Beste Grüße", "LG"))
    else:
        greeting = rng.choice((f"Hi {first},", f"Dear {first}," if recipient else "Hello,"))
        sentences = [_fill(rng, rng.choice(_SENTENCES_EN)) for _ in range(rng.randint(1, 3))]
        closing = rng.choice(("Best regards", "Cheers", "Thanks", "Kind regards"))
    text = " ".join(sentence[0].upper() + sentence[1:] for sentence in sentences)
    lines = [greeting.replace(" ,", ","), "", text, "", closing, sender.name]
    if rng.random() < 0.3:
        lines += ["-- ", f"{sender.name} | {sender.address}"]
    if quoted is not None and rng.random() < 0.4:
        header = (
            f"Am {quoted.date:%d.%m.%Y} schrieb {quoted.sender.name}:"
            if sender.language == "de"
            else f"On {quoted.date:%b %d, %Y}, {quoted.sender.name} wrote:"
        )
        lines += ["", header, *(f"> {line}" if line else ">" for line in quoted.body.splitlines()[:6])]
    return "\n".join(lines) + "\n"


def new_conversation(
    rng: random.Random,
    *,
    used_ids: set[str] | None = None,
    date: datetime | None = None,
    thread: int = 0,
    subject: str | None = None,
) -> MailSpec:
    """Plan the first mail of a new conversation (no In-Reply-To, no References)."""
    sender = rng.choice(PEOPLE)
    draw = rng.random()
    if subject is None:
        if draw < 0.01:
            subject = ""
        elif draw < 0.04:
            subject = rng.choice(_GENERIC_SUBJECTS)
        else:
            templates = _SUBJECTS_DE if sender.language == "de" else _SUBJECTS_EN
            subject = _fill(rng, rng.choice(templates))
    thread_index = b""
    if sender.client == "outlook":
        thread_index = (
            b"\x01" + rng.getrandbits(40).to_bytes(5, "big") + rng.getrandbits(128).to_bytes(16, "big")
        )
    return MailSpec(
        message_id=_new_id(rng, sender, used_ids if used_ids is not None else set()),
        parent_id=None,
        references=(),
        ancestors=(),
        subject=subject,
        sender=sender,
        date=date or START,
        body=_body(rng, sender, None, None),
        html=rng.random() < 0.2,
        thread_index=thread_index,
        thread=thread,
    )


def _strip_prefixes(subject: str) -> str:
    """Return `subject` without leading reply/forward prefixes (for building reply subjects)."""
    text = subject
    while True:
        head, colon, rest = text.partition(":")
        if colon and head.strip().lower() in {"re", "aw", "wg", "fwd", "fw", "[extern] re", "[extern] aw"}:
            text = rest.lstrip()
        else:
            return text


def _reply_subject(rng: random.Random, sender: Person, parent_subject: str) -> str:
    """Return a reply subject as the sender's client (and sometimes the sender) writes it."""
    forward = rng.random() < 0.05
    if sender.language == "de":
        prefix = "WG: " if forward else ("AW: " if sender.client == "outlook" else "Re: ")
    else:
        prefix = "Fwd: " if forward else "Re: "
    base = _strip_prefixes(parent_subject)
    draw = rng.random()
    if draw < 0.22 and parent_subject.count(":") < 4:
        return prefix + parent_subject  # a client that stacks prefixes: "AW: AW: Re: …"
    if draw < 0.27:
        return f"{prefix}{base} – {rng.choice(_EDITS)}"  # edited by the sender
    if draw < 0.30:
        return f"{_fill(rng, rng.choice(_SUBJECTS_DE))} (war: {base})"
    if draw < 0.32:
        return f"[EXTERN] {prefix}{base}"
    return prefix + base


def reply_to(
    rng: random.Random,
    parent: MailSpec,
    *,
    used_ids: set[str] | None = None,
    truncate_references: bool = True,
    date: datetime | None = None,
) -> MailSpec:
    """Plan a reply to `parent`: In-Reply-To is the parent, References its chain plus the parent."""
    sender = rng.choice([person for person in PEOPLE if person != parent.sender])
    ancestors = (*parent.ancestors, parent.message_id)
    # Truncating the full chain gives the same as truncating the parent's (truncated) References
    # plus the parent: the first id and the last three survive either way.
    references = ancestors
    if truncate_references and len(references) > MAX_FULL_REFERENCES:
        references = (references[0], *references[-3:])
    thread_index = b""
    if sender.client == "outlook":
        if parent.thread_index:
            thread_index = parent.thread_index + rng.getrandbits(40).to_bytes(5, "big")
        else:
            thread_index = (
                b"\x01" + rng.getrandbits(40).to_bytes(5, "big") + rng.getrandbits(128).to_bytes(16, "big")
            )
    delay = timedelta(minutes=rng.randint(3, 60 * 24 * 3 if rng.random() < 0.3 else 60 * 8))
    return MailSpec(
        message_id=_new_id(rng, sender, used_ids if used_ids is not None else set()),
        parent_id=parent.message_id,
        references=references,
        ancestors=ancestors,
        subject=_reply_subject(rng, sender, parent.subject),
        sender=sender,
        date=date or parent.date + delay,
        body=_body(rng, sender, parent.sender, parent),
        html=rng.random() < 0.2,
        thread_index=thread_index,
        thread=parent.thread,
    )


def _fold(name: str, ids: tuple[str, ...]) -> str:
    """Return a References-style header line, folded between ids (never inside one)."""
    line = f"{name}:"
    lines: list[str] = []
    for message_id in ids:
        token = f"<{message_id}>"
        if len(line) + 1 + len(token) > 78 and line != f"{name}:":
            lines.append(line)
            line = " " + token
        else:
            line += " " + token
    lines.append(line)
    return "\r\n".join(lines)


def _zone(spec: MailSpec) -> timezone:
    """The sender's local time zone: German summer or winter time, or UTC for English senders."""
    if spec.sender.language != "de":
        return UTC
    return timezone(timedelta(hours=2 if 4 <= spec.date.month <= 10 else 1))


def render_mail(spec: MailSpec) -> bytes:
    """Render one mail as CRLF RFC 5322 bytes (encoded-word headers, UTF-8 or Latin-1 body).

    The id headers are written by hand: Python's header folding would turn long ids into
    encoded words, which no real client does.
    """
    mail = EmailMessage(policy=SMTP)
    mail["From"] = f"{spec.sender.name} <{spec.sender.address}>"
    mail["To"] = TEAM_ADDRESS
    if spec.subject:
        mail["Subject"] = spec.subject
    mail["Date"] = format_datetime(spec.date.astimezone(_zone(spec)))
    header, value = _MAILERS[spec.sender.client]
    mail[header] = value
    if spec.sender.language == "de":
        mail["Content-Language"] = "de-DE"
    if spec.thread_index and spec.subject:
        mail["Thread-Topic"] = _strip_prefixes(spec.subject)
    charset = "utf-8"
    if spec.sender.language == "de" and spec.thread % 5 == 0:
        try:
            spec.body.encode("iso-8859-1")
            charset = "iso-8859-1"
        except UnicodeEncodeError:
            pass
    mail.set_content(spec.body, charset=charset)
    if spec.html:
        paragraphs = "".join(f"<p>{html.escape(line)}</p>" for line in spec.body.splitlines() if line)
        mail.add_alternative(f"<html><body>{paragraphs}</body></html>", subtype="html")
    raw = mail.as_bytes()
    head, _, body = raw.partition(b"\r\n\r\n")
    ids = [f"Message-ID: <{spec.message_id}>"]
    if spec.parent_id is not None:
        ids.append(f"In-Reply-To: <{spec.parent_id}>")
    if spec.references:
        ids.append(_fold("References", spec.references))
    if spec.thread_index:
        ids.append(f"Thread-Index: {base64.b64encode(spec.thread_index).decode('ascii')}")
    lines = head.split(b"\r\n")
    date_at = next(index for index, line in enumerate(lines) if line.startswith(b"Date:"))
    extra = "\r\n".join(ids).encode("ascii").split(b"\r\n")
    lines[date_at + 1 : date_at + 1] = extra
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def png_image(marker: str, size: int = 24) -> bytes:
    """Return a valid RGB PNG whose colour and text chunk depend on `marker`."""
    digest = hashlib.sha256(marker.encode()).digest()
    row = b"\x00" + bytes(digest[:3]) * size
    raw = row * size

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tEXt", b"Comment\x00" + marker.encode())
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
