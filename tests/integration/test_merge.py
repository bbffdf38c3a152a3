"""A late mail that connects two threads already on two pages, against the real wiki."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.core.render.page import merge_marker
from tests.integration.support import Space, WikiReader, make_mail, new_space
from tests.servers import DovecotServer, MediaWikiServer


@pytest.fixture
def space(dovecot: DovecotServer, mediawiki: MediaWikiServer, tmp_path: Path) -> Space:
    """A fresh mapping without categories."""
    return new_space(dovecot, mediawiki, tmp_path, categories=[])


def test_mail_linking_two_pages_goes_to_the_older_and_the_newer_gets_a_note(space: Space) -> None:
    """The linking mail is appended to the older page; the newer page links there; later mail follows."""
    reader = WikiReader(space.mediawiki)
    space.append(make_mail("alpha@example.de", "Alpha", date=datetime(2026, 11, 1, tzinfo=UTC)))
    space.run_pass()
    space.append(make_mail("beta@example.de", "Beta", date=datetime(2026, 11, 2, tzinfo=UTC)))
    space.run_pass()
    older, newer = f"{space.prefix}/Alpha", f"{space.prefix}/Beta"
    assert reader.titles(space.prefix) == [older, newer]

    space.append(
        make_mail(
            "bridge@example.de",
            "Re: Alpha and Beta",
            references=["alpha@example.de", "beta@example.de"],
            date=datetime(2026, 11, 3, tzinfo=UTC),
        )
    )
    result = space.run_pass()
    assert result.published == 1
    assert reader.parse(older).message_ids == ["alpha@example.de", "bridge@example.de"]
    newer_page = reader.parse(newer)
    assert newer_page.message_ids == ["beta@example.de"]
    assert older in newer_page.links
    assert reader.text(newer).count(merge_marker(older)) == 1

    space.append(
        make_mail(
            "beta-reply@example.de",
            "Re: Beta",
            in_reply_to="beta@example.de",
            date=datetime(2026, 11, 4, tzinfo=UTC),
        )
    )
    space.run_pass()
    assert reader.parse(older).message_ids == [
        "alpha@example.de",
        "bridge@example.de",
        "beta-reply@example.de",
    ]
    assert reader.text(newer).count(merge_marker(older)) == 1
    assert reader.titles(space.prefix) == [older, newer]


def test_subject_joining_against_the_real_wiki(space: Space) -> None:
    """With thread_by_subject on, a reference-less 'AW:' mail lands on the page of its subject."""
    reader = WikiReader(space.mediawiki)
    space.write_config(thread_by_subject=True)
    space.append(
        make_mail("q1@example.de", "[team] Quartalszahlen Q3", date=datetime(2026, 11, 1, tzinfo=UTC))
    )
    space.run_pass()
    space.append(make_mail("q2@example.de", "AW: Quartalszahlen Q3", date=datetime(2026, 11, 5, tzinfo=UTC)))
    space.append(make_mail("h1@example.de", "Hallo", date=datetime(2026, 11, 5, tzinfo=UTC)))
    space.append(make_mail("h2@example.de", "Hallo", date=datetime(2026, 11, 6, tzinfo=UTC)))
    space.run_pass()
    title = f"{space.prefix}/Quartalszahlen Q3"
    assert reader.parse(title).message_ids == ["q1@example.de", "q2@example.de"]
    assert reader.titles(space.prefix) == [f"{space.prefix}/Hallo", f"{space.prefix}/Hallo (2)", title]
