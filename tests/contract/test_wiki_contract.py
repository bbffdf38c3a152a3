"""The `Wiki` port's contract: what the bridge relies on of MediaWiki, held against the fake
(tests/fakes.py) and a real MediaWiki through `WikiClient`.

Known gap, stated rather than modelled: the fake takes every file's content; MediaWiki also
refuses files whose content does not match their extension (tests/integration covers that
against the real wiki only).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.errors import WikiRefusedError
from tests.contract.backends import FakeWikiBackend, MediaWikiBackend, WikiBackend
from tests.integration.support import unique


@pytest.fixture(params=["fake", "mediawiki"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WikiBackend]:
    """The fake wiki, or the real one logged in as the bridge's bot (servers start only for it)."""
    if request.param == "fake":
        yield FakeWikiBackend()
        return
    real = MediaWikiBackend(
        request.getfixturevalue("dovecot"), tmp_path, request.getfixturevalue("mediawiki")
    )
    yield real
    real.close()


@pytest.fixture
def prefix() -> str:
    """A title prefix of this test alone (the real wiki is shared by the session)."""
    return unique("Contract wiki ")


def test_create_only_creates_and_the_page_reads_back_with_its_revision(
    backend: WikiBackend, prefix: str
) -> None:
    """A new title: created with a revision; its content, revision and UTF-8 length read back."""
    wiki = backend.client()
    title = f"{prefix}/Grüße"
    text = "== Grüße ==\nHallo Jürgen, der Termin passt."
    edit = wiki.create_page(title, text, "create")
    assert edit is not None
    assert (edit.title, edit.changed) == (title, True)
    assert edit.revision > 0
    page = wiki.page_content(title)
    assert page is not None
    assert (page.title, page.text, page.revision) == (title, text, edit.revision)
    assert wiki.page_length(title) == len(text.encode())


def test_create_only_refuses_an_existing_page_and_changes_nothing(backend: WikiBackend, prefix: str) -> None:
    """A title taken by a person's page: None, and the person's text stays as it was."""
    wiki = backend.client()
    title = f"{prefix}/Taken"
    backend.put_page(title, "A person's page.")
    before = wiki.page_content(title)
    assert wiki.create_page(title, "The bridge's text.", "create") is None
    assert wiki.page_content(title) == before


def test_append_adds_to_the_page_as_people_left_it(backend: WikiBackend, prefix: str) -> None:
    """Append keeps what is there and makes a newer revision; a missing page is None, not created."""
    wiki = backend.client()
    title = f"{prefix}/Thread"
    first = wiki.create_page(title, "Message one.", "create")
    backend.put_page(title, "Message one.\n\nA person's note.")
    edit = wiki.append_to_page(title, "\n\nMessage two.", "append")
    assert first is not None
    assert edit is not None
    assert edit.revision > first.revision
    page = wiki.page_content(title)
    assert page is not None
    assert (page.text, page.revision) == ("Message one.\n\nA person's note.\n\nMessage two.", edit.revision)
    assert wiki.append_to_page(f"{prefix}/Gone", "\n\nLost.", "append") is None
    assert wiki.page_content(f"{prefix}/Gone") is None


def test_titles_are_normalized_as_mediawiki_does(backend: WikiBackend, prefix: str) -> None:
    """Underscores are spaces, the first letter is upper case: the answer names the stored title."""
    wiki = backend.client()
    lower = prefix[:1].lower() + prefix[1:]
    edit = wiki.create_page(f"{lower}/under_score  title", "Text.", "create")
    assert edit is not None
    assert edit.title == f"{prefix}/under score title"
    page = wiki.page_content(f"{prefix}/under_score_title")
    assert page is not None
    assert page.title == edit.title
    assert wiki.create_page(f"{prefix}/under score title", "Other.", "create") is None


def test_a_missing_page_has_no_content_and_no_length(backend: WikiBackend, prefix: str) -> None:
    """Missing is None, not an empty page."""
    wiki = backend.client()
    assert wiki.page_content(f"{prefix}/Nothing") is None
    assert wiki.page_length(f"{prefix}/Nothing") is None


def test_the_page_size_limit_is_mediawikis_default(backend: WikiBackend) -> None:
    """$wgMaxArticleSize, in bytes of wikitext: 2,048 KB unless configured."""
    assert backend.client().max_article_size() == 2048 * 1024


def test_uploads_are_found_by_content_and_never_overwrite_another_file(
    backend: WikiBackend, prefix: str
) -> None:
    """The same content uploaded again (by its name or another) is the existing file, without a look-up
    by the caller (the pass relies on it after a lost answer); another content of its name refused."""
    wiki = backend.client()
    limits = wiki.upload_limits()
    assert "txt" in limits.extensions
    assert limits.max_bytes >= 1024 * 1024
    marker = prefix.replace(" ", "-")
    data = f"Attachment of {marker}.\n".encode()
    title = wiki.upload(f"{marker}-note.txt", data, "upload")
    assert title == f"File:{marker}-note.txt"
    assert wiki.upload(f"{marker}-note.txt", data, "again") == title
    assert wiki.upload(f"{marker}-copy.txt", data, "same content") == title
    with pytest.raises(WikiRefusedError):
        wiki.upload(f"{marker}-note.txt", f"Other content of {marker}.\n".encode(), "clash")
    assert wiki.upload(f"{marker}-third.txt", data, "after the clash") == title


def test_trailing_whitespace_is_not_saved(backend: WikiBackend, prefix: str) -> None:
    """MediaWiki trims the end of the text it saves, after a create and after an append."""
    wiki = backend.client()
    title = f"{prefix}/Trimmed"
    wiki.create_page(title, "Message one.\n\n", "create")
    page = wiki.page_content(title)
    assert page is not None
    assert page.text == "Message one."
    wiki.append_to_page(title, "\n\nMessage two.\n", "append")
    page = wiki.page_content(title)
    assert page is not None
    assert (page.text, wiki.page_length(title)) == ("Message one.\n\nMessage two.", len(page.text))


@pytest.mark.parametrize("name", ["Angebot [Entwurf]", "Frage {a|b}", "<b>fett</b>", "x" * 256])
def test_an_invalid_title_is_refused_for_writes_and_missing_for_reads(
    backend: WikiBackend, prefix: str, name: str
) -> None:
    """Characters MediaWiki forbids in titles, or over 255 bytes: writes refused, reads find nothing."""
    wiki = backend.client()
    title = f"{prefix}/{name}"
    with pytest.raises(WikiRefusedError):
        wiki.create_page(title, "Text.", "create")
    with pytest.raises(WikiRefusedError):
        wiki.append_to_page(title, "Text.", "append")
    assert wiki.page_content(title) is None
    assert wiki.page_length(title) is None
