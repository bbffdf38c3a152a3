"""Link replies (pure): who gets one, and what it says.

Loop and backscatter rules follow RFC 3834 and practice: no reply to anything automatic
(delivery and read reports, Auto-Submitted other than `no`, Precedence bulk/list/junk/auto_reply,
X-Autoreply/X-Autorespond, X-Auto-Response-Suppress, mailing lists, an empty return path,
mailer-daemon/postmaster/no-reply senders, out-of-office subjects), to the bridge's own address
or any team mailbox, to mail older than the age limit, or beyond the per-sender hourly limit.
Every reply is itself marked `Auto-Submitted: auto-replied` and `X-Auto-Response-Suppress: All`,
so well-behaved auto-responders stay silent in turn.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import string
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path

from bridge.core.model import AutomationHeaders, Message
from bridge.core.render.escape import single_line
from bridge.core.subjects import base_subject

# Content types that make a mail a delivery or disposition (read) report (RFC 3462, 3464, 3798,
# 6533), at whatever level of the mail's MIME tree they appear.
_REPORT_TYPES = frozenset(
    {
        "multipart/report",
        "message/delivery-status",
        "message/global-delivery-status",
        "message/disposition-notification",
        "message/global-disposition-notification",
    }
)
_ROBOT_PRECEDENCE = frozenset({"bulk", "list", "junk", "auto_reply", "auto-reply"})
# Local parts of addresses that no person reads: bounce handlers, list robots, no-reply senders.
_ROBOT_LOCAL = re.compile(
    r"^(?:mailer[-_.]?daemon|post[-_.]?master|(?:no|do[-_.]?not)[-_.]?reply(?:[-+_.].*)?|"
    r"bounces?(?:[-+_.].*)?|nicht[-_.]?antworten|abuse|listserv|majordomo|owner-.*|.*-owner|"
    r".*-request)$",
    re.IGNORECASE,
)
# Display names of bounce senders ("Mail Delivery System <MAILER-DAEMON@…>" and the like).
_ROBOT_NAME = re.compile(
    r"^(?:mail delivery (?:sub)?system|mail delivery service|mailer[-_ ]?daemon|post ?master)$"
)
# Out-of-office notices, matched at the start of the subject once reply prefixes, list and
# "[EXT]" tags are removed. The subject is compared case-folded, with runs of blanks, hyphens
# and underscores as one blank.
_OUT_OF_OFFICE = re.compile(
    r"^(?:"
    r"auto ?(?:matic )?(?:reply|response|antwort)(?: ?:| ?\(|$)|auto ?:|"
    r"(?:i am |i'm |im )?out of (?:the )?office|away from (?:the office|my desk)|"
    r"abwesenheits? ?(?:notiz|nachricht|meldung|info)|automatische antwort|abwesend\b|"
    r"(?:ich bin )?nicht im (?:büro|buero)|"
    r"(?:vacation|urlaubs?) ?(?:reply|notice|notiz|abwesenheit)"
    r")"
)
_EXTERNAL_TAG = re.compile(r"^\s*(?:\(?ext(?:ern(?:al)?)?\)?\s*:\s*)+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ReplyRules:
    """The limits a mapping applies to link replies."""

    own_addresses: frozenset[str]
    max_age: timedelta
    per_sender_per_hour: int


def _robot_address(address: str) -> bool:
    return "@" in address and bool(_ROBOT_LOCAL.match(address.rpartition("@")[0].strip()))


def is_out_of_office(subject: str) -> bool:
    """Tell whether `subject` is an out-of-office notice's, also behind `Re:`, `AW:` or `[EXT]`."""
    stripped, previous = single_line(subject), ""
    while stripped != previous:
        previous, stripped = stripped, _EXTERNAL_TAG.sub("", base_subject(stripped))
    words = re.sub(r"[\s_-]+", " ", stripped.casefold()).strip()
    return bool(_OUT_OF_OFFICE.match(words))


def _header_reason(automation: AutomationHeaders) -> str | None:
    """The headers by which mail says it was sent by a machine, or asks for no automatic answer."""
    reports = [kind for kind in automation.content_types if kind.lower() in _REPORT_TYPES]
    if reports:
        return f"delivery or disposition report ({reports[0]})"
    # Comments and parameters do not count: "no (written by a person)" is still `no`.
    auto_submitted = re.sub(r"\([^)]*\)", "", automation.auto_submitted).split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return f"Auto-Submitted: {automation.auto_submitted}"
    precedence = automation.precedence.split(";")[0].strip().lower()
    if precedence in _ROBOT_PRECEDENCE:
        return f"Precedence: {automation.precedence}"
    responder = [
        marker for marker in automation.autoresponder if marker.partition(":")[2].strip().lower() != "no"
    ]
    if responder:
        return f"auto-responder ({responder[0]})"
    if automation.list_id or automation.list_unsubscribe:
        return "mailing-list mail (List-Id/List-Unsubscribe)"
    suppress = {part.strip().lower() for part in automation.auto_response_suppress.split(",")} - {""}
    if suppress - {"none"}:
        return f"X-Auto-Response-Suppress: {automation.auto_response_suppress}"
    return None


def loop_reason(message: Message, own_addresses: frozenset[str]) -> str | None:
    """Return why `message` must never be answered automatically (a loop or backscatter rule), or None."""
    automation = message.automation
    found = _header_reason(automation)
    if found is not None:
        return found
    if automation.return_path is None or automation.return_path in {"", "<>"}:
        return "empty or missing return path"
    sender = message.sender_address.strip().lower()
    if not sender or "@" not in sender:
        return "no sender address"
    for role, address in (
        ("sender", sender),
        ("Sender", automation.sender),
        ("return path", automation.return_path),
    ):
        if _robot_address(address):
            return f"automatic sender ({role} {address})"
    if _ROBOT_NAME.match(" ".join(message.sender_name.casefold().split())):
        return f"automatic sender ({single_line(message.sender_name)})"
    if sender in own_addresses:
        return f"{sender} is the bridge or a team mailbox"
    if is_out_of_office(message.subject):
        return "out-of-office subject"
    return None


def limit_reason(date: datetime, rules: ReplyRules, now: datetime, sent_last_hour: int) -> str | None:
    """Return which limit forbids a reply now: the mail's age, or the sender's hourly count."""
    if now - date > rules.max_age:
        return f"older than {rules.max_age.days} days"
    if sent_last_hour >= rules.per_sender_per_hour:
        return f"already {sent_last_hour} replies to this sender in the last hour"
    return None


def suppression_reason(message: Message, rules: ReplyRules, now: datetime, sent_last_hour: int) -> str | None:
    """Return why `message`'s sender must get no reply now (a loop rule or a limit), or None."""
    return loop_reason(message, rules.own_addresses) or limit_reason(message.date, rules, now, sent_last_hour)


# Shipped reply texts; admins can override them with files reply.<language>.txt / .html.
_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "txt": "Hello $sender_name,\n\n"
        'thank you for your mail "$subject". The conversation now continues in the wiki:\n\n'
        "  Your message: $message_url\n"
        "  The whole conversation: $page_url\n\n"
        "Please reply there, or reply to this mail: it will be added to the same page.\n\n"
        "-- \nemail-wiki-bridge for the $mailbox mailbox (an automatic message)\n",
        "html": "<p>Hello $sender_name,</p>\n"
        "<p>thank you for your mail &ldquo;$subject&rdquo;. The conversation now continues in the wiki:</p>\n"
        '<ul><li><a href="$message_url">Your message</a></li>\n'
        '<li><a href="$page_url">The whole conversation</a></li></ul>\n'
        "<p>Please reply there, or reply to this mail: it will be added to the same page.</p>\n"
        "<p>-- <br>email-wiki-bridge for the $mailbox mailbox (an automatic message)</p>\n",
        "refused": "Hello $sender_name,\n\n"
        'your mail "$subject" was not published in the wiki: $reason.\n\n'
        "-- \nemail-wiki-bridge for the $mailbox mailbox (an automatic message)\n",
        # For senders outside the company: no link, no page name, not even the word "wiki".
        "acknowledge": "Hello $sender_name,\n\n"
        'thank you for your mail "$subject". It has reached the $mailbox team.\n\n'
        "-- \nThe $mailbox mailbox (an automatic message)\n",
    },
    "de": {
        "txt": "Hallo $sender_name,\n\n"
        "danke für Ihre Mail „$subject“. Die Unterhaltung geht jetzt im Wiki weiter:\n\n"
        "  Ihre Nachricht: $message_url\n"
        "  Die ganze Unterhaltung: $page_url\n\n"
        "Bitte antworten Sie dort – oder auf diese Mail: Ihre Antwort kommt auf dieselbe Seite.\n\n"
        "-- \nemail-wiki-bridge für das Postfach $mailbox (eine automatische Nachricht)\n",
        "html": "<p>Hallo $sender_name,</p>\n"
        "<p>danke für Ihre Mail &bdquo;$subject&ldquo;. Die Unterhaltung geht jetzt im Wiki weiter:</p>\n"
        '<ul><li><a href="$message_url">Ihre Nachricht</a></li>\n'
        '<li><a href="$page_url">Die ganze Unterhaltung</a></li></ul>\n'
        "<p>Bitte antworten Sie dort &ndash; oder auf diese Mail: "
        "Ihre Antwort kommt auf dieselbe Seite.</p>\n"
        "<p>-- <br>email-wiki-bridge für das Postfach $mailbox (eine automatische Nachricht)</p>\n",
        "refused": "Hallo $sender_name,\n\n"
        "Ihre Mail „$subject“ wurde nicht im Wiki veröffentlicht: $reason.\n\n"
        "-- \nemail-wiki-bridge für das Postfach $mailbox (eine automatische Nachricht)\n",
        "acknowledge": "Hallo $sender_name,\n\n"
        "danke für Ihre Mail „$subject“. Sie ist beim Team $mailbox angekommen.\n\n"
        "-- \nPostfach $mailbox (eine automatische Nachricht)\n",
    },
}


# What a refused sender is told, per policy rule (the admin's log has the technical detail).
_REFUSAL_REASONS: dict[str, dict[str, str]] = {
    "en": {
        "no_address": "the mail has no sender address",
        "not_allowed": "only approved senders may post to this part of the wiki",
        "no_route": "the address you wrote to is not connected to a part of the wiki",
        "not_authenticated": "the sender is not authenticated (your domain's DKIM/DMARC check did not pass)",
    },
    "de": {
        "no_address": "die Mail hat keine Absenderadresse",
        "not_allowed": "in diesen Bereich des Wikis dürfen nur freigegebene Absender schreiben",
        "no_route": "die Adresse, an die Sie geschrieben haben, gehört zu keinem Bereich des Wikis",
        "not_authenticated": "der Absender ist nicht bestätigt "
        "(die DKIM/DMARC-Prüfung Ihrer Domain schlug fehl)",
    },
}


def refusal_reason(code: str, language: str) -> str:
    """Return the sentence that tells a refused sender which rule kept the mail off the wiki."""
    return _REFUSAL_REASONS.get(language, _REFUSAL_REASONS["en"])[code]


def shipped_text(language: str, kind: str) -> str:
    """Return a shipped reply text (`txt`, `html`, `refused` or `acknowledge`) in `language`."""
    return _TEXTS.get(language, _TEXTS["en"])[kind]


@dataclass(frozen=True, slots=True)
class ReplyTexts:
    """The texts of one language: shipped ones, or an admin's files where present."""

    txt: str
    html: str
    refused: str
    acknowledge: str

    @classmethod
    def load(cls, language: str, directory: Path | None) -> ReplyTexts:
        """Read `reply.<lang>.txt|html`, `refused.<lang>.txt`, `acknowledge.<lang>.txt` where they exist."""

        def text(kind: str, file_name: str) -> str:
            if directory is not None and (directory / file_name).is_file():
                return (directory / file_name).read_text(encoding="utf-8")
            return shipped_text(language, kind)

        return cls(
            txt=text("txt", f"reply.{language}.txt"),
            html=text("html", f"reply.{language}.html"),
            refused=text("refused", f"refused.{language}.txt"),
            acknowledge=text("acknowledge", f"acknowledge.{language}.txt"),
        )


@dataclass(frozen=True, slots=True)
class ReplyContext:
    """What a reply needs to know besides the message it answers."""

    from_address: str
    reply_to: str
    mailbox: str
    page_url: str
    message_url: str
    from_name: str = ""  # the display name of the From header; "" for the address alone


@dataclass(frozen=True, slots=True)
class ReplySeed:
    """What a reply needs of the mail it answers.

    Stored with the reply's intent before the mail's wiki edit, so a reply can still be composed
    when only recovery, which knows message ids and no parsed mail, sees the edit confirmed.
    """

    message_id: str
    in_reply_to: str  # the mail's own id exactly as its client wrote it; "" when it had none
    references: tuple[str, ...]
    subject: str
    sender_name: str
    sender_address: str
    date: datetime
    # The sender is outside the company: an acknowledgement without link instead of a link reply.
    acknowledge: bool = False

    @classmethod
    def of(cls, message: Message, acknowledge: bool = False) -> ReplySeed:
        """Take from `message` what its reply quotes (ids as written: some clients compare strings)."""
        own = (message.original_id or message.message_id) if message.has_own_id else ""
        ancestors = message.original_references or message.references
        return cls(
            message_id=message.message_id,
            in_reply_to=own,
            references=tuple(ref for ref in ancestors[-10:] if ref),
            subject=message.subject,
            sender_name=message.sender_name,
            sender_address=message.sender_address,
            date=message.date,
            acknowledge=acknowledge,
        )

    def to_json(self) -> str:
        """Serialise for the state store."""
        return json.dumps({**asdict(self), "date": self.date.isoformat()}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> ReplySeed:
        """Read back what `to_json` wrote."""
        fields = json.loads(text)
        return cls(
            **{
                **fields,
                "references": tuple(fields["references"]),
                "date": datetime.fromisoformat(fields["date"]),
            }
        )


def reply_message_id(message_id: str, recipient: str, from_address: str) -> str:
    """Return a stable Message-ID for the reply to one message and person (same on a retry)."""
    digest = hashlib.sha256(f"{message_id}\0{recipient.lower()}".encode()).hexdigest()[:32]
    return f"<ewb-{digest}@{from_address.rpartition('@')[2] or 'email-wiki-bridge.invalid'}>"


def _base_reply(seed: ReplySeed, context: ReplyContext, now: datetime) -> EmailMessage:
    from_address = context.from_address
    reply = EmailMessage()
    subject = single_line(seed.subject)
    # Keep an existing reply prefix rather than stacking "Re: AW: …".
    reply["Subject"] = subject if subject.lower().startswith(("re:", "aw:")) else f"Re: {subject}"
    # The header registry writes a non-ASCII display name as RFC 2047 encoded words.
    reply["From"] = Address(display_name=single_line(context.from_name), addr_spec=from_address)
    reply["To"] = formataddr((single_line(seed.sender_name), seed.sender_address))
    reply["Reply-To"] = context.reply_to
    reply["Date"] = format_datetime(now)
    reply["Message-ID"] = reply_message_id(seed.message_id, seed.sender_address, from_address)
    if seed.in_reply_to:
        reply["In-Reply-To"] = f"<{seed.in_reply_to}>"
        reply["References"] = " ".join(f"<{ref}>" for ref in (*seed.references, seed.in_reply_to))
    reply["Auto-Submitted"] = "auto-replied"
    reply["X-Auto-Response-Suppress"] = "All"
    reply["Precedence"] = "auto_reply"
    return reply


def _values(seed: ReplySeed, context: ReplyContext) -> dict[str, str]:
    return {
        "sender_name": single_line(seed.sender_name) or seed.sender_address,
        "subject": single_line(seed.subject) or "(no subject)",
        "page_url": context.page_url,
        "message_url": context.message_url,
        "mailbox": context.mailbox,
    }


def compose_reply(seed: ReplySeed, context: ReplyContext, texts: ReplyTexts, now: datetime) -> EmailMessage:
    """Build the link reply to a mail: threaded, marked automatic, text and HTML parts."""
    reply = _base_reply(seed, context, now)
    values = _values(seed, context)
    reply.set_content(string.Template(texts.txt).safe_substitute(values))
    escaped = {key: html.escape(value, quote=True) for key, value in values.items()}
    reply.add_alternative(string.Template(texts.html).safe_substitute(escaped), subtype="html")
    return reply


def compose_refusal(
    seed: ReplySeed, reason: str, context: ReplyContext, texts: ReplyTexts, now: datetime
) -> EmailMessage:
    """Build the mail that tells a sender why their mail was not published."""
    reply = _base_reply(seed, context, now)
    values = {**_values(seed, context), "reason": reason}
    reply.set_content(string.Template(texts.refused).safe_substitute(values))
    return reply


def compose_acknowledgement(
    seed: ReplySeed, context: ReplyContext, texts: ReplyTexts, now: datetime
) -> EmailMessage:
    """Build the acknowledgement to a sender outside the company: no link, no page name, no URL.

    The page and message URLs are blanked even for an admin's text that names them.
    """
    reply = _base_reply(seed, context, now)
    values = {**_values(seed, context), "page_url": "", "message_url": ""}
    reply.set_content(string.Template(texts.acknowledge).safe_substitute(values))
    return reply
