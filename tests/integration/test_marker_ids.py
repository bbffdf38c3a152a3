"""Markers show the Message-ID as the mail wrote it; recovery and rebuild read both spellings.

Against the real wiki: a mail with `<AbC@Example.COM>` is marked with exactly that text (a
person searching the wiki for the id copied from their mail client finds it), while the bridge
keeps comparing ids in their canonical form (lower-case domain). Pages written before the change
carry the lower-cased form and must keep working: a pass cut after the edit, the lost-state guard
and `state rebuild` read either spelling as the same message.
"""

from __future__ import annotations

from contextlib import closing

import pytest

from bridge.adapters.wiki import EditResult, WikiClient
from bridge.core.render.page import message_marker
from bridge.errors import WikiUnavailableError
from bridge.sync.wikisetup import install_templates
from tests.integration.service_support import marker_counts, page_texts
from tests.integration.support import Space, WikiReader, make_mail
from tests.lost_answers import LostAnswerWiki
from tests.servers import MediaWikiServer

WRITTEN = "AbC@Example.COM"
CANONICAL = "AbC@example.com"


class OlderBridgeLostAnswerWiki(LostAnswerWiki):
    """Writes the marker as bridges before this change did (canonical id), then loses the answer."""

    def create_page(self, title: str, text: str, summary: str) -> EditResult | None:
        """Create with the older marker on the real wiki; lose the answer."""
        return super().create_page(
            title, text.replace(message_marker(WRITTEN), message_marker(CANONICAL)), summary
        )


def _install_templates(space: Space) -> None:
    # The templates exist before the faulty client arrives, so the answer it loses is the page's.
    with closing(WikiClient(space.settings().wiki)) as installer:
        install_templates(installer, only_missing=True)


def test_marker_keeps_the_id_as_written_and_a_cut_pass_recovers_it(space: Space, reader: WikiReader) -> None:
    """The marker shows the id's own case; the next pass recognises the edit and publishes nothing twice."""
    space.append(make_mail(WRITTEN, "Lieferung"))
    _install_templates(space)
    with pytest.raises(WikiUnavailableError):
        space.run_pass(wiki=LostAnswerWiki(space.settings().wiki))
    [title] = reader.titles(space.prefix)
    assert f'data-message-id="{WRITTEN}"' in reader.text(title)
    assert reader.parse(title).message_ids == [WRITTEN]  # the parsed HTML shows it too

    recovered = space.run_pass()
    assert recovered.published == 0 and recovered.duplicates == 1
    # A reply naming the id with its domain in another case joins the page (the local part's
    # case counts: RFC 5322 makes only the domain case-insensitive).
    space.append(make_mail("reply@example.de", "Re: Lieferung", in_reply_to="AbC@EXAMPLE.com"))
    assert space.run_pass().published == 1
    assert reader.titles(space.prefix) == [title]
    assert reader.parse(title).message_ids == [WRITTEN, "reply@example.de"]
    assert len(reader.revisions(title)) == 2


def test_pages_with_lower_cased_markers_keep_working(
    space: Space, reader: WikiReader, mediawiki: MediaWikiServer
) -> None:
    """An older page's canonical marker settles a cut pass, and a rebuild reads old and new markers."""
    space.append(make_mail(WRITTEN, "Angebot"))
    _install_templates(space)
    with pytest.raises(WikiUnavailableError):
        space.run_pass(wiki=OlderBridgeLostAnswerWiki(space.settings().wiki))
    [title] = reader.titles(space.prefix)
    assert f'data-message-id="{CANONICAL}"' in reader.text(title)
    recovered = space.run_pass()
    assert recovered.published == 0 and recovered.duplicates == 1
    space.append(make_mail("Reply@Example.DE", "Re: Angebot", in_reply_to=WRITTEN))
    assert space.run_pass().published == 1
    assert reader.parse(title).message_ids == [CANONICAL, "Reply@Example.DE"]

    for suffix in ("", "-wal", "-shm"):
        space.state_path.with_name(space.state_path.name + suffix).unlink(missing_ok=True)
    space.write_config()
    refused = space.cli("once")
    assert refused.returncode == 1 and "state rebuild --mailbox sales" in refused.stdout, refused.stdout
    rebuilt = space.cli("state", "rebuild", "--mailbox", "sales")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.startswith("sales: 2 messages on 1 pages under "), rebuilt.stdout
    again = space.cli("once")
    assert again.returncode == 0 and again.stdout.startswith("sales: 0 published, 2 already known"), (
        again.stdout
    )
    counts = marker_counts(page_texts(mediawiki, space.prefix).values())
    assert counts == {CANONICAL: 1, "Reply@example.de": 1}
