"""Attachments on the real wiki: uploaded once by content, shown where they belong, refusals listed.

Every file is built at test time and carries a per-test marker, so no other test of the session
can have uploaded the same bytes before (the wiki is shared and files are keyed by content).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import pytest
import requests

from bridge.core.render.labels import format_size
from tests.integration.support import Space, WikiReader, new_space, unique
from tests.mailgen import png_image
from tests.servers import DovecotServer, MediaWikiServer

BOT_USER = "Bridgebot"


@pytest.fixture
def space(dovecot: DovecotServer, mediawiki: MediaWikiServer, tmp_path: Path) -> Space:
    """A fresh mapping whose attachment limit is 1 MB, so an oversized file is cheap to build."""
    space = new_space(dovecot, mediawiki, tmp_path, categories=["Attachment mail"])
    space.write_config(max_attachment_mb=1)
    return space


# -- files built at test time --------------------------------------------------------------------


def pdf_document(marker: str) -> bytes:
    """Return a minimal valid one-page PDF showing `marker`, with a correct cross-reference table."""
    stream = f"BT /F1 12 Tf 72 720 Td ({marker}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def tnef_blob(marker: str) -> bytes:
    """Return bytes that start like Outlook's winmail.dat (TNEF signature)."""
    return struct.pack("<IH", 0x223E9F78, 0x0001) + marker.encode() * 4


def sha1_of(data: bytes) -> str:
    """Return MediaWiki's content key of a file (hex SHA-1)."""
    return hashlib.sha1(data).hexdigest()  # noqa: S324 - MediaWiki's own file key


@dataclass(frozen=True)
class File:
    """One attachment as mailed."""

    name: str
    maintype: str
    subtype: str
    data: bytes


def mail_with_files(
    message_id: str, subject: str, body: str, files: list[File], *, date: datetime | None = None
) -> EmailMessage:
    """Build a mail carrying `files` as ordinary attachments."""
    mail = EmailMessage()
    mail["From"] = "Anna Schmidt <anna@example.de>"
    mail["To"] = "team-sales@example.de"
    mail["Subject"] = subject
    mail["Date"] = format_datetime(date or datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    mail["Message-ID"] = f"<{message_id}>"
    mail.set_content(body)
    for file in files:
        mail.add_attachment(file.data, maintype=file.maintype, subtype=file.subtype, filename=file.name)
    return mail


# -- reading the wiki ----------------------------------------------------------------------------


def files_with_sha1(reader: WikiReader, data: bytes) -> list[str]:
    """Return the names of the wiki's files holding exactly `data`."""
    body = reader.get(action="query", list="allimages", aisha1=sha1_of(data), ailimit="max")
    return [image["name"] for image in body["query"]["allimages"]]


def file_info(reader: WikiReader, name: str) -> list[dict[str, Any]]:
    """Return every stored version of file `name` (url, sha1, size), newest first."""
    body = reader.get(
        action="query", prop="imageinfo", titles=f"File:{name}", iiprop="url|sha1|size", iilimit="max"
    )
    return list(body["query"]["pages"][0].get("imageinfo", []))


def download(reader: WikiReader, url: str, mediawiki: MediaWikiServer) -> bytes:
    """Fetch a file the wiki serves (its URL may be relative to the server)."""
    absolute = url if url.startswith("http") else f"{mediawiki.server_url}{url}"
    response = requests.get(absolute, timeout=30)
    response.raise_for_status()
    return response.content


def upload_count(reader: WikiReader) -> int:
    """Return how many uploads the bridge's account made in the whole wiki."""
    body = reader.get(action="query", list="logevents", letype="upload", leuser=BOT_USER, lelimit="max")
    return len(body["query"]["logevents"])


def assert_stored(reader: WikiReader, mediawiki: MediaWikiServer, data: bytes) -> str:
    """Assert that exactly one wiki file holds `data`, in one intact version; return its name."""
    names = files_with_sha1(reader, data)
    assert len(names) == 1, names
    versions = file_info(reader, names[0])
    assert len(versions) == 1, versions
    assert versions[0]["sha1"] == sha1_of(data)
    assert versions[0]["size"] == len(data)
    downloaded = download(reader, versions[0]["url"], mediawiki)
    assert hashlib.sha256(downloaded).hexdigest() == hashlib.sha256(data).hexdigest()
    return names[0]


@dataclass
class _Node:
    tag: str
    classes: frozenset[str]
    attrs: dict[str, str]


Event = tuple[str, str, frozenset[str]]


class BlockEvents(HTMLParser):
    """The text and images inside each message block, in page order, with their enclosing classes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: dict[str, list[Event]] = {}
        self._stack: list[_Node] = []
        self._block: tuple[str, int] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Record images; open message blocks."""
        values = {name: value or "" for name, value in attrs}
        node = _Node(tag, frozenset(values.get("class", "").split()), values)
        if "data-message-id" in values:
            self._block = (values["data-message-id"], len(self._stack))
            self.events[values["data-message-id"]] = []
        if tag == "img" and self._block is not None:
            self.events[self._block[0]].append(("img", values.get("src", ""), self._enclosing()))
        if tag not in ("img", "br", "hr", "input", "meta", "link", "wbr", "source"):
            self._stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        """Close the innermost element of that name."""
        for index in range(len(self._stack) - 1, -1, -1):
            if self._stack[index].tag == tag:
                del self._stack[index:]
                break
        if self._block is not None and len(self._stack) <= self._block[1]:
            self._block = None

    def handle_data(self, data: str) -> None:
        """Record text inside a message block."""
        if self._block is not None and data.strip():
            self.events[self._block[0]].append(("text", " ".join(data.split()), self._enclosing()))

    def _enclosing(self) -> frozenset[str]:
        return frozenset(cls for node in self._stack for cls in node.classes)


def block_events(html: str) -> dict[str, list[Event]]:
    """Return each message block's text and image events from a page's parsed HTML."""
    parser = BlockEvents()
    parser.feed(html)
    parser.close()
    return parser.events


def block_text(events: list[Event]) -> str:
    """Return the text of a block's events, joined by spaces."""
    return " ".join(value for kind, value, _ in events if kind == "text")


def parse(reader: WikiReader, title: str) -> dict[str, Any]:
    """Return the wiki's rendering of `title` with its file usage."""
    body = reader.get(action="parse", page=title, prop="text|images|links|sections")
    parsed: dict[str, Any] = body["parse"]
    return parsed


def image_under_upload_path(src: str, name: str) -> bool:
    """Tell whether an <img> src is the wiki's copy (or thumbnail) of file `name`."""
    path = unquote(urlsplit(src).path)
    return path.startswith("/images/") and name.replace(" ", "_") in path


# -- tests ---------------------------------------------------------------------------------------


def test_files_are_uploaded_rendered_and_refusals_listed(
    space: Space, reader: WikiReader, mediawiki: MediaWikiServer
) -> None:
    """Image, PDF, text and CSV reach the wiki intact; .exe, winmail.dat and an oversized file are listed."""
    marker = unique("attach")
    uploaded = [
        File("Diagramm Q3.png", "image", "png", png_image(marker, size=400)),
        File("Angebot 2027.pdf", "application", "pdf", pdf_document(marker)),
        File("notes.txt", "text", "plain", f"Notizen {marker}\nZeile 2\n".encode()),
        File("zahlen.csv", "text", "csv", f"artikel;menge\n{marker};3\n".encode()),
    ]
    refused = {
        "setup.exe": File("setup.exe", "application", "x-msdownload", b"MZ\x90\x00" + marker.encode() * 8),
        "winmail.dat": File("winmail.dat", "application", "ms-tnef", tnef_blob(marker)),
        "scan-gross.pdf": File(
            "scan-gross.pdf", "application", "pdf", pdf_document(marker) + b"%" * (1024 * 1024 + 300_000)
        ),
    }
    mail = mail_with_files(
        "files-1@example.de",
        "Unterlagen Q3",
        f"Anbei die Unterlagen {marker}.",
        [*uploaded, *refused.values()],
    )
    space.append(mail.as_bytes())
    result = space.run_pass()
    assert (result.published, result.failed) == (1, 0)
    [title] = reader.titles(space.prefix)

    names = {file.name: assert_stored(reader, mediawiki, file.data) for file in uploaded}
    for file in refused.values():
        assert files_with_sha1(reader, file.data) == [], f"{file.name} was uploaded"

    page = parse(reader, title)
    used = set(page["images"])
    assert used == set(names.values())
    events = block_events(page["text"])["files-1@example.de"]
    image_sources = [value for kind, value, _ in events if kind == "img"]
    assert any(image_under_upload_path(src, names["Diagramm Q3.png"]) for src in image_sources), image_sources
    # The gallery shows a scaled thumbnail the wiki made (GD), not the 400 px original.
    thumbnails = [src for src in image_sources if "/images/thumb/" in unquote(urlsplit(src).path)]
    assert thumbnails, image_sources
    assert reader.session.get(urljoin(mediawiki.server_url, thumbnails[0]), timeout=30).content.startswith(
        b"\x89PNG"
    )
    text = block_text(events)
    assert f"Anbei die Unterlagen {marker}." in text
    for file in uploaded[1:]:
        assert file.name in text  # linked by its original name
    size = {name: format_size(len(file.data), "en") for name, file in refused.items()}
    assert f"setup.exe ({size['setup.exe']}) – not uploaded: the wiki does not accept .exe files" in text
    assert f"winmail.dat ({size['winmail.dat']}) – not uploaded: Outlook" in text
    assert f"scan-gross.pdf ({size['scan-gross.pdf']}) – not uploaded: larger than the limit of 1 MB" in text


def test_inline_image_appears_where_it_stood(
    space: Space, reader: WikiReader, mediawiki: MediaWikiServer
) -> None:
    """A cid: image of an HTML body is uploaded and shown inside the body between its surrounding text."""
    marker = unique("inline")
    logo = png_image(marker, size=32)
    mail = EmailMessage()
    mail["From"] = "Björn Weiß <bjoern@example.de>"
    mail["To"] = "team-sales@example.de"
    mail["Subject"] = "Neues Logo"
    mail["Date"] = format_datetime(datetime(2026, 11, 21, 8, 0, tzinfo=UTC))
    mail["Message-ID"] = "<inline-1@example.de>"
    mail.set_content(f"Text above {marker}\n[logo]\nText below {marker}\n")
    mail.add_alternative(
        f"<html><body><p>Text above {marker}</p>"
        '<p><img src="cid:logo-7f3a@example.de" alt="Logo"></p>'
        f"<p>Text below {marker}</p></body></html>",
        subtype="html",
    )
    html_part = next(part for part in mail.iter_parts() if part.get_content_type() == "text/html")
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(logo, "image", "png", cid="<logo-7f3a@example.de>", filename="logo.png")
    space.append(mail.as_bytes())
    assert space.run_pass().published == 1
    [title] = reader.titles(space.prefix)
    name = assert_stored(reader, mediawiki, logo)

    page = parse(reader, title)
    events = block_events(page["text"])["inline-1@example.de"]
    kinds = [
        (kind, value)
        for kind, value, classes in events
        if "ewb-body" in classes and (kind == "img" or marker in value)
    ]
    assert [kind for kind, _ in kinds] == ["text", "img", "text"], events
    assert kinds[0][1] == f"Text above {marker}" and kinds[2][1] == f"Text below {marker}"
    assert image_under_upload_path(kinds[1][1], name), kinds[1][1]
    assert page["images"] == [name]
    # Shown in the body, so not listed again as an attachment.
    assert not any("ewb-attachments" in classes for _, _, classes in events)


def test_same_file_twice_is_uploaded_once_and_passes_upload_nothing_new(
    space: Space, reader: WikiReader, mediawiki: MediaWikiServer
) -> None:
    """Equal bytes under two names are one wiki file; later passes and later mails reuse it."""
    marker = unique("twice")
    report = pdf_document(marker)
    space.append(
        mail_with_files(
            "twice-1@example.de",
            "Bericht",
            "Der Bericht.",
            [File("Bericht.pdf", "application", "pdf", report)],
        ).as_bytes()
    )
    space.append(
        mail_with_files(
            "twice-2@example.de",
            "Nochmal der Bericht",
            "Hier noch einmal.",
            [File("Kopie von Bericht (final).pdf", "application", "pdf", report)],
        ).as_bytes()
    )
    uploads_before = upload_count(reader)
    assert space.run_pass().published == 2
    name = assert_stored(reader, mediawiki, report)
    assert upload_count(reader) == uploads_before + 1
    titles = reader.titles(space.prefix)
    assert len(titles) == 2
    for title in titles:
        assert parse(reader, title)["images"] == [name]

    again = space.run_pass()
    assert (again.fetched, again.published) == (0, 0)
    assert upload_count(reader) == uploads_before + 1

    space.append(
        mail_with_files(
            "twice-3@example.de",
            "Re: Bericht",
            "Und ein drittes Mal.",
            [File("bericht-v3.pdf", "application", "pdf", report)],
        ).as_bytes()
    )
    assert space.run_pass().published == 1
    assert upload_count(reader) == uploads_before + 1
    assert assert_stored(reader, mediawiki, report) == name
    new_titles = sorted(set(reader.titles(space.prefix)) - set(titles))
    assert len(new_titles) == 1
    assert parse(reader, new_titles[0])["images"] == [name]


def test_forwarded_mail_renders_nested_with_its_attachment(
    space: Space, reader: WikiReader, mediawiki: MediaWikiServer
) -> None:
    """A message/rfc822 part is shown nested in the forwarding message, with its own attachment."""
    marker = unique("fwd")
    inner_file = File("Lieferschein 4711.pdf", "application", "pdf", pdf_document(marker))
    inner = mail_with_files(
        "original-9@example.com",
        "Lieferschein 4711",
        f"Original text {marker}",
        [inner_file],
        date=datetime(2026, 11, 18, 14, 0, tzinfo=UTC),
    )
    outer = mail_with_files("forward-9@example.de", "WG: Lieferschein 4711", f"Outer text {marker}", [])
    outer.add_attachment(inner)
    space.append(outer.as_bytes())
    assert space.run_pass().published == 1
    [title] = reader.titles(space.prefix)
    name = assert_stored(reader, mediawiki, inner_file.data)

    page = parse(reader, title)
    events = block_events(page["text"])
    assert list(events) == ["forward-9@example.de"]  # the forwarded mail is no message of its own
    block = events["forward-9@example.de"]
    outer_text = [
        value for kind, value, classes in block if kind == "text" and "ewb-forwarded" not in classes
    ]
    nested = [value for kind, value, classes in block if kind == "text" and "ewb-forwarded" in classes]
    assert f"Outer text {marker}" in " ".join(outer_text)
    nested_text = " ".join(nested)
    assert f"Original text {marker}" in nested_text
    assert "Lieferschein 4711.pdf" in nested_text
    assert f"Original text {marker}" not in " ".join(outer_text)
    assert page["images"] == [name]
    assert len(page["sections"]) == 1
