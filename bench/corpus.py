"""The benchmark's mailbox: seeded, realistic conversations with HTML mail and attachments.

`build_corpus(seed, messages)` takes the conversations of `tests/mailgen.py` (reply trees,
long threads, Outlook/Thunderbird/Apple/Gmail habits, missing parents, shuffled delivery) and
makes a third of the mails HTML (an Outlook-style ``multipart/alternative``, with the quoted
parent in a ``blockquote``) and gives a tenth attachments (PDFs, PNG images, CSV tables, and a
logo that many mails share). The same seed always gives byte-identical mail. `deliver` APPENDs
the mails over one IMAP connection with their own dates as INTERNALDATE.
"""

from __future__ import annotations

import html
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP

from tests.mailgen import MailSpec, plan_mailbox, png_image, render_mail

HTML_SHARE = 1 / 3
ATTACHMENT_SHARE = 1 / 10
_CONTENT_HEADERS = (b"content-type:", b"content-transfer-encoding:", b"mime-version:")


@dataclass(frozen=True, slots=True)
class Corpus:
    """A generated mailbox: raw mails in delivery order, their dates, and what they contain."""

    mails: list[bytes]
    dates: list[datetime]
    threads: int
    html_mails: int
    attachment_mails: int
    long_threads: int

    @property
    def size(self) -> int:
        """Total bytes of all mails."""
        return sum(len(mail) for mail in self.mails)


def build_corpus(seed: int, messages: int) -> Corpus:
    """Generate `messages` mails in realistic threads (see the module docstring)."""
    plan = plan_mailbox(seed, messages)
    rng = random.Random(f"bench-corpus-{seed}")  # noqa: S311 - reproducible test data
    mails, html_mails, attachment_mails = [], 0, 0
    for index, spec in enumerate(plan.specs):
        is_html = rng.random() < HTML_SHARE
        attachments = _attachments(rng, index) if rng.random() < ATTACHMENT_SHARE else []
        raw = render_mail(replace(spec, html=False))
        if is_html:
            raw = wrap_parts(raw, "alternative", [_html_part(spec)])
            html_mails += 1
        if attachments:
            raw = wrap_parts(raw, "mixed", attachments)
            attachment_mails += 1
        mails.append(raw)
    return Corpus(
        mails=mails,
        dates=[spec.date for spec in plan.specs],
        threads=len(plan.threads),
        html_mails=html_mails,
        attachment_mails=attachment_mails,
        long_threads=sum(1 for thread in plan.threads if len(thread) >= 30),
    )


def wrap_parts(raw: bytes, subtype: str, parts: Sequence[bytes]) -> bytes:
    """Make `raw` a ``multipart/<subtype>`` mail: its own body first, then `parts`.

    Works on the bytes, so every other header stays exactly as written (ids, encoded words).
    """
    head, _, body = raw.partition(b"\r\n\r\n")
    kept: list[bytes] = []
    moved: list[bytes] = []
    target = kept
    for line in head.split(b"\r\n"):
        if line[:1] not in (b" ", b"\t"):  # a new header, not the continuation of the last one
            target = moved if line.lower().startswith(_CONTENT_HEADERS) else kept
        target.append(line)
    boundary = f"=_bench_{zlib.crc32(raw):08x}_{subtype}".encode("ascii")
    first = b"\r\n".join(line for line in moved if not line.lower().startswith(b"mime-version:"))
    pieces = [b"--" + boundary + b"\r\n" + first + b"\r\n\r\n" + body.rstrip(b"\r\n") + b"\r\n"]
    pieces += [b"--" + boundary + b"\r\n" + part.rstrip(b"\r\n") + b"\r\n" for part in parts]
    kept += [
        b"MIME-Version: 1.0",
        b"Content-Type: multipart/" + subtype.encode("ascii") + b'; boundary="' + boundary + b'"',
    ]
    return b"\r\n".join(kept) + b"\r\n\r\n" + b"".join(pieces) + b"--" + boundary + b"--\r\n"


def _part(content: bytes | str, maintype: str, subtype: str, filename: str | None = None) -> bytes:
    """One MIME part's bytes (headers and encoded body)."""
    part = EmailMessage(policy=SMTP)
    if isinstance(content, str):
        part.set_content(content, subtype=subtype, charset="utf-8")
    else:
        part.set_content(
            content, maintype=maintype, subtype=subtype, disposition="attachment", filename=filename
        )
    del part["MIME-Version"]
    return part.as_bytes()


def _html_part(spec: MailSpec) -> bytes:
    """The mail's text as Outlook writes HTML: a style block, MsoNormal paragraphs, a quote."""
    paragraphs, quoted = [], []
    for line in spec.body.splitlines():
        if line.startswith(">"):
            quoted.append(html.escape(line.lstrip("> ")))
        elif line:
            paragraphs.append(
                f'<p class="MsoNormal"><span style="font-family:Calibri">{html.escape(line)}</span></p>'
            )
        else:
            paragraphs.append('<p class="MsoNormal"><o:p>&nbsp;</o:p></p>')
    quote = (
        '<blockquote style="border-left:1px solid #ccc;padding-left:6px">'
        + "<br>".join(quoted)
        + "</blockquote>"
        if quoted
        else ""
    )
    document = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        "<style>p.MsoNormal{margin:0cm;font-size:11pt}</style></head>"
        '<body lang="DE" link="#0563C1"><div class="WordSection1">'
        + "".join(paragraphs)
        + quote
        + "</div></body></html>"
    )
    return _part(document, "text", "html")


def _attachments(rng: random.Random, index: int) -> list[bytes]:
    """One or two attachments; about one in five mails with attachments carries the shared logo."""
    kind = rng.choice(("pdf", "pdf", "png", "csv"))
    number = rng.randint(1000, 99999)
    if kind == "pdf":
        parts = [_part(_pdf(rng), "application", "pdf", f"Angebot_{number}.pdf")]
    elif kind == "png":
        parts = [_part(png_image(f"photo {index}", 48 + index % 64), "image", "png", f"Foto_{number}.png")]
    else:
        rows = "\n".join(
            f"{rng.randint(1, 999)};{rng.random():.4f};Pos. {row}" for row in range(rng.randint(20, 400))
        )
        parts = [_part(("Menge;Preis;Text\n" + rows + "\n").encode(), "text", "csv", f"Liste_{number}.csv")]
    if rng.random() < 0.2:
        parts.append(_part(_LOGO, "image", "png", "logo.png"))
    return parts


def _pdf(rng: random.Random) -> bytes:
    """A small, well-formed-looking PDF of 4-60 KB whose content stream is seeded noise."""
    stream = rng.randbytes(rng.randint(4_000, 60_000))
    return (
        b"%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n"
        b"2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\n"
        b"3 0 obj <</Length " + str(len(stream)).encode() + b">> stream\n" + stream + b"\nendstream endobj\n"
        b"trailer <</Root 1 0 R>>\n%%EOF\n"
    )


_LOGO = png_image("Team Vertrieb logo", 32)


def deliver(host: str, port: int, user: str, password: str, folder: str, corpus: Corpus) -> None:
    """APPEND every mail of `corpus` to `folder` (created when missing) over one connection."""
    from imapclient import IMAPClient  # type: ignore[import-untyped, unused-ignore]

    client = IMAPClient(host, port=port, ssl=False, timeout=60)
    try:
        client.login(user, password)
        if not client.folder_exists(folder):
            client.create_folder(folder)
        for raw, date in zip(corpus.mails, corpus.dates, strict=True):
            client.append(folder, raw, msg_time=date)
    finally:
        client.logout()
