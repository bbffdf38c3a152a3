"""Words the rendered pages use, in the languages the bridge ships (German and English)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

Language = Literal["en", "de"]

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "intro": "This conversation was published from the {mailbox} mailbox by email-wiki-bridge. "
        "Later mails of the thread are added at the end of the page; you can edit and comment here.",
        "from": "From",
        "to": "To",
        "cc": "Cc",
        "date": "Date",
        "subject": "Subject",
        "quoted": "Quoted text and signature",
        "attachments": "Attachments",
        "not_uploaded": "not uploaded",
        "forwarded": "Forwarded message",
        "invitation": "Invitation",
        "empty": "(empty message)",
        "unknown_sender": "(unknown sender)",
        "hidden": "(address hidden)",
        "continues": "This conversation continues on {link}, where a later mail joined it "
        "with another thread.",
        "part": "part {number}",
        "continued_on": "Continued on {link}.",
        "continued_from": "Continued from {link}.",
        "shortened": "This mail is too long for a wiki page and is shortened here; the full text: {link}",
        "shortened_not_uploaded": "This mail is too long for a wiki page and is shortened here; "
        "its full text could not be uploaded ({reason}).",
        "variant": "This mail carries the same Message-ID as {link} ({message_id}) but other content; "
        "it is shown as a message of its own.",
        "earlier_message": "an earlier message",
        "signed_openpgp": "signed (OpenPGP)",
        "signed_smime": "signed (S/MIME)",
        "image": "image",
        "participants": "Colleagues in this conversation: {people}",
        "participants_more": "and {count} more",
        "participants_outside": "people from outside the company: {count}",
    },
    "de": {
        "intro": "Diese Unterhaltung wurde von email-wiki-bridge aus dem Postfach {mailbox} veröffentlicht. "
        "Spätere Mails des Threads werden am Ende der Seite angefügt; hier kann bearbeitet und "
        "kommentiert werden.",
        "from": "Von",
        "to": "An",
        "cc": "Cc",
        "date": "Datum",
        "subject": "Betreff",
        "quoted": "Zitierter Text und Signatur",
        "attachments": "Anhänge",
        "not_uploaded": "nicht hochgeladen",
        "forwarded": "Weitergeleitete Nachricht",
        "invitation": "Einladung",
        "empty": "(leere Nachricht)",
        "unknown_sender": "(unbekannter Absender)",
        "hidden": "(Adresse verborgen)",
        "continues": "Diese Unterhaltung geht auf {link} weiter, wo eine spätere Mail sie mit einem "
        "anderen Thread verbunden hat.",
        "part": "Teil {number}",
        "continued_on": "Fortsetzung: {link}",
        "continued_from": "Fortsetzung von {link}",
        "shortened": "Diese Mail ist für eine Wiki-Seite zu lang und hier gekürzt; "
        "der vollständige Text: {link}",
        "shortened_not_uploaded": "Diese Mail ist für eine Wiki-Seite zu lang und hier gekürzt; "
        "ihr vollständiger Text konnte nicht hochgeladen werden ({reason}).",
        "variant": "Diese Mail trägt dieselbe Message-ID wie {link} ({message_id}), hat aber anderen "
        "Inhalt; sie steht deshalb als eigene Nachricht hier.",
        "earlier_message": "eine frühere Nachricht",
        "signed_openpgp": "signiert (OpenPGP)",
        "signed_smime": "signiert (S/MIME)",
        "image": "Bild",
        "participants": "Kolleginnen und Kollegen in dieser Unterhaltung: {people}",
        "participants_more": "und {count} weitere",
        "participants_outside": "Beteiligte von außerhalb des Unternehmens: {count}",
    },
}

_MONTHS = {
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    "de": (
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ),
}


def label(language: str, key: str, **values: str) -> str:
    """Return the text `key` in `language` (English when the language is not shipped)."""
    return LABELS.get(language, LABELS["en"])[key].format(**values)


def format_date(moment: datetime, language: str) -> str:
    """Return a date as readers of `language` write it, followed by its exact ISO 8601 form."""
    months = _MONTHS.get(language, _MONTHS["en"])
    day = f"{moment.day}." if language == "de" else str(moment.day)
    local = f"{day} {months[moment.month - 1]} {moment.year}, {moment:%H:%M}"
    return f"{local} ({moment.isoformat()})"


def format_size(size: int, language: str) -> str:
    """Return a file size in kB/MB with the language's decimal mark."""
    megabytes = size / (1024 * 1024)
    text = f"{max(1, round(size / 1024))} KB" if megabytes < 1 else f"{megabytes:.1f} MB"
    return text.replace(".", ",") if language == "de" else text
