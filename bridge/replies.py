"""Link replies (pure): who gets one, and what it says.

Loop and backscatter rules follow RFC 3834 and practice: no reply to anything automatic
(Auto-Submitted other than `no`, Precedence bulk/list/junk, mailing lists, empty return path,
mailer-daemon/postmaster/no-reply senders, out-of-office subjects), to the bridge's own address
or any team mailbox, to mail older than the age limit, or beyond the per-sender hourly limit.
Every reply is itself marked `Auto-Submitted: auto-replied` and `X-Auto-Response-Suppress: All`,
so well-behaved auto-responders stay silent in turn.
"""

from __future__ import annotations

import hashlib
import html
import re
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path

from bridge.model import Message
from bridge.render.escape import single_line

_NO_REPLY_LOCAL = re.compile(
    r"^(mailer-daemon|postmaster|no[-_.]?reply|do[-_.]?not[-_.]?reply|bounces?|bounce[-+].*|"
    r"noreply[-+].*|nicht[-_.]?antworten|abuse|listserv|majordomo|owner-.*|.*-owner|.*-request)$",
    re.IGNORECASE,
)
_OUT_OF_OFFICE = re.compile(
    r"^\s*(?:auto(?:matic)?\s*(?:reply|response)|autoreply|auto:|out of (?:the )?office|"
    r"abwesenheits?(?:notiz|nachricht|meldung)|automatische antwort|abwesend\b|nicht im büro|"
    r"(?:vacation|urlaubs?)\s*(?:reply|notice|notiz|abwesenheit)|away from (?:the office|my desk))",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ReplyRules:
    """The limits a mapping applies to link replies."""

    own_addresses: frozenset[str]
    max_age: timedelta
    per_sender_per_hour: int


def suppression_reason(message: Message, rules: ReplyRules, now: datetime, sent_last_hour: int) -> str | None:
    """Return why `message`'s sender must get no reply (a loop or backscatter rule), or None."""
    automation = message.automation
    sender = message.sender_address.strip().lower()
    if automation.auto_submitted and automation.auto_submitted.split(";")[0].strip() != "no":
        return f"Auto-Submitted: {automation.auto_submitted}"
    if automation.precedence in {"bulk", "list", "junk"}:
        return f"Precedence: {automation.precedence}"
    if automation.list_id or automation.list_unsubscribe:
        return "mailing-list mail (List-Id/List-Unsubscribe)"
    suppress = {part.strip().lower() for part in automation.auto_response_suppress.split(",")}
    if suppress & {"all", "autoreply", "oof"}:
        return f"X-Auto-Response-Suppress: {automation.auto_response_suppress}"
    if automation.return_path is None or automation.return_path in {"", "<>"}:
        return "empty or missing return path"
    if not sender or "@" not in sender:
        return "no sender address"
    if _NO_REPLY_LOCAL.match(sender.split("@", 1)[0]):
        return f"automatic sender {sender}"
    if sender in rules.own_addresses:
        return f"{sender} is the bridge or a team mailbox"
    if _OUT_OF_OFFICE.match(message.subject):
        return "out-of-office subject"
    if now - message.date > rules.max_age:
        return f"older than {rules.max_age.days} days"
    if sent_last_hour >= rules.per_sender_per_hour:
        return f"already {sent_last_hour} replies to {sender} in the last hour"
    return None


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
    },
}


# What a refused sender is told, per policy rule (the admin's log has the technical detail).
_REFUSAL_REASONS: dict[str, dict[str, str]] = {
    "en": {
        "no_address": "the mail has no sender address",
        "not_allowed": "only approved senders may post to this part of the wiki",
        "not_authenticated": "the sender is not authenticated (your domain's DKIM/DMARC check did not pass)",
    },
    "de": {
        "no_address": "die Mail hat keine Absenderadresse",
        "not_allowed": "in diesen Bereich des Wikis dürfen nur freigegebene Absender schreiben",
        "not_authenticated": "der Absender ist nicht bestätigt "
        "(die DKIM/DMARC-Prüfung Ihrer Domain schlug fehl)",
    },
}


def refusal_reason(code: str, language: str) -> str:
    """Return the sentence that tells a refused sender which rule kept the mail off the wiki."""
    return _REFUSAL_REASONS.get(language, _REFUSAL_REASONS["en"])[code]


def shipped_text(language: str, kind: str) -> str:
    """Return a shipped reply text (`txt`, `html` or `refused`) in `language`."""
    return _TEXTS.get(language, _TEXTS["en"])[kind]


@dataclass(frozen=True, slots=True)
class ReplyTexts:
    """The texts of one language: shipped ones, or an admin's files where present."""

    txt: str
    html: str
    refused: str

    @classmethod
    def load(cls, language: str, directory: Path | None) -> ReplyTexts:
        """Read `reply.<lang>.txt|html` and `refused.<lang>.txt` from `directory` where they exist."""

        def text(kind: str, file_name: str) -> str:
            if directory is not None and (directory / file_name).is_file():
                return (directory / file_name).read_text(encoding="utf-8")
            return shipped_text(language, kind)

        return cls(
            txt=text("txt", f"reply.{language}.txt"),
            html=text("html", f"reply.{language}.html"),
            refused=text("refused", f"refused.{language}.txt"),
        )


@dataclass(frozen=True, slots=True)
class ReplyContext:
    """What a reply needs to know besides the message it answers."""

    from_address: str
    reply_to: str
    mailbox: str
    page_url: str
    message_url: str


def reply_message_id(message_id: str, recipient: str, from_address: str) -> str:
    """Return a stable Message-ID for the reply to one message and person (same on a retry)."""
    digest = hashlib.sha256(f"{message_id}\0{recipient.lower()}".encode()).hexdigest()[:32]
    return f"<ewb-{digest}@{from_address.rpartition('@')[2] or 'email-wiki-bridge.invalid'}>"


def _base_reply(message: Message, from_address: str, reply_to: str, now: datetime) -> EmailMessage:
    reply = EmailMessage()
    subject = single_line(message.subject)
    # Keep an existing reply prefix rather than stacking "Re: AW: …".
    reply["Subject"] = subject if subject.lower().startswith(("re:", "aw:")) else f"Re: {subject}"
    reply["From"] = from_address
    reply["To"] = formataddr((single_line(message.sender_name), message.sender_address))
    reply["Reply-To"] = reply_to
    reply["Date"] = format_datetime(now)
    reply["Message-ID"] = reply_message_id(message.message_id, message.sender_address, from_address)
    if message.has_own_id:
        # The id exactly as the sender's client wrote it: some clients compare ids as strings.
        own = message.original_id or message.message_id
        ancestors = message.original_references or message.references
        reply["In-Reply-To"] = f"<{own}>"
        reply["References"] = " ".join(f"<{ref}>" for ref in (*ancestors[-10:], own) if ref != "")
    reply["Auto-Submitted"] = "auto-replied"
    reply["X-Auto-Response-Suppress"] = "All"
    reply["Precedence"] = "auto_reply"
    return reply


def _values(message: Message, context: ReplyContext) -> dict[str, str]:
    return {
        "sender_name": single_line(message.sender_name) or message.sender_address,
        "subject": single_line(message.subject) or "(no subject)",
        "page_url": context.page_url,
        "message_url": context.message_url,
        "mailbox": context.mailbox,
    }


def compose_reply(message: Message, context: ReplyContext, texts: ReplyTexts, now: datetime) -> EmailMessage:
    """Build the link reply to `message`: threaded, marked automatic, text and HTML parts."""
    reply = _base_reply(message, context.from_address, context.reply_to, now)
    values = _values(message, context)
    reply.set_content(string.Template(texts.txt).safe_substitute(values))
    escaped = {key: html.escape(value, quote=True) for key, value in values.items()}
    reply.add_alternative(string.Template(texts.html).safe_substitute(escaped), subtype="html")
    return reply


def compose_refusal(
    message: Message, reason: str, context: ReplyContext, texts: ReplyTexts, now: datetime
) -> EmailMessage:
    """Build the mail that tells a sender why their mail was not published."""
    reply = _base_reply(message, context.from_address, context.reply_to, now)
    values = {**_values(message, context), "reason": reason}
    reply.set_content(string.Template(texts.refused).safe_substitute(values))
    return reply
