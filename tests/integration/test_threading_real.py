"""Threading and exactly-once at scale, against the real Dovecot and MediaWiki of the session.

The big test publishes a generated mailbox of 2,000 realistic mails (reply trees, truncated
References, missing parents, replies delivered before their parents) and compares the pages
the bridge made with Dovecot's own ``THREAD REFS`` and with the generator's truth.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from imapclient import IMAPClient

from bridge.core.msgid import normalize_id
from tests.integration.support import Space, WikiReader, make_mail
from tests.mailgen import GeneratedMailbox, generate_mailbox, normalize

SEED = 20261120
BIG_MAILBOX = 2000
_MARKER = re.compile(r'data-message-id="([^"]*)"')
_MERGED_INTO = re.compile(r'data-merged-into="([^"]*)"')
_APPEND_CHUNK = 250

Partition = set[frozenset[int]]


# -- IMAP helpers --------------------------------------------------------------------------------


@contextmanager
def imap_session(space: Space) -> Iterator[Any]:
    """An IMAPClient logged in as the space's user (plain port, loopback)."""
    client = IMAPClient(space.dovecot.host, port=space.dovecot.port, ssl=False, timeout=60)
    client.login(space.user, space.dovecot.users[space.user])
    try:
        yield client
    finally:
        client.logout()


def deliver(space: Space, mails: Sequence[bytes], folder: str | None = None) -> None:
    """APPEND `mails` in order to `folder` (created when missing), with MULTIAPPEND when offered."""
    target = folder or space.folders[0]
    with imap_session(space) as client:
        if not client.folder_exists(target):
            client.create_folder(target)
        if client.has_capability("MULTIAPPEND"):
            for start in range(0, len(mails), _APPEND_CHUNK):
                client.multiappend(target, list(mails[start : start + _APPEND_CHUNK]))
        else:
            for raw in mails:
                client.append(target, raw)


def uidvalidity(space: Space, folder: str) -> int:
    """The folder's current UIDVALIDITY."""
    with imap_session(space) as client:
        return int(client.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])


def uids_by_message_id(client: Any) -> dict[str, int]:
    """Map the normalized Message-ID of every mail in the selected folder to its UID."""
    response = client.fetch(client.search("ALL"), ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    found: dict[str, int] = {}
    for uid, data in response.items():
        header = bytes(data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"]).decode("ascii")
        value = header.partition(":")[2].strip()
        assert value, f"UID {uid} has no Message-ID"
        assert normalize(value) not in found, f"Message-ID {value} delivered twice"
        found[normalize(value)] = int(uid)
    return found


def _flatten(node: Any) -> Iterator[int]:
    """Every UID of one (nested) THREAD response tree."""
    if isinstance(node, int):
        yield node
    else:
        for child in node:
            yield from _flatten(child)


def dovecot_thread_refs(client: Any, folder: str) -> Partition:
    """Dovecot's own ``UID THREAD REFS`` of the folder, each top-level tree as one set of UIDs."""
    client.select_folder(folder, readonly=True)
    return {frozenset(_flatten(tree)) for tree in client.thread(algorithm="REFS", criteria="ALL")}


# -- wiki helpers --------------------------------------------------------------------------------


def marked_ids(text: str) -> list[str]:
    """The ids of the `data-message-id` markers in `text`, in order, in their canonical form.

    The bridge writes markers as escaped attributes of the id as the mail wrote it; they are
    unescaped as the parser does and normalized as the bridge compares them.
    """
    return [canonical(html.unescape(found)) for found in _MARKER.findall(text)]


def canonical(message_id: str) -> str:
    """The id as the bridge stores and compares it (a marker keeps the domain's case)."""
    return normalize_id(message_id) or message_id


def markers_by_page(reader: WikiReader, prefix: str) -> dict[str, list[str]]:
    """The canonical ids of the markers of every page under `prefix/`, in page order.

    The big test checks a sample of pages against the HTML of `action=parse`.
    """
    return {title: marked_ids(text) for title, text in reader.page_texts(prefix).items()}


def conversations(reader: WikiReader, prefix: str) -> list[list[str]]:
    """The Message-IDs of each conversation: pages joined by the bridge's merge notes."""
    texts = reader.page_texts(prefix)
    parent = {title: title for title in texts}

    def root(title: str) -> str:
        while parent[title] != title:
            title = parent[title]
        return title

    for title, text in texts.items():
        for into in _MERGED_INTO.findall(text):
            parent[root(title)] = root(html.unescape(into))
    joined: dict[str, list[str]] = {}
    for title, text in texts.items():
        joined.setdefault(root(title), []).extend(marked_ids(text))
    return list(joined.values())


def partition_of(groups: Iterable[Iterable[str]], uid_of: dict[str, int]) -> Partition:
    """Turn groups of Message-IDs into a partition of UIDs."""
    return {frozenset(uid_of[message_id] for message_id in group) for group in groups}


def describe_difference(name_a: str, a: Partition, name_b: str, b: Partition, limit: int = 5) -> str:
    """A readable account of how two partitions differ (for assertion messages)."""
    only_a = sorted(a - b, key=min)
    only_b = sorted(b - a, key=min)
    lines = [f"{len(only_a)} groups only in {name_a}, {len(only_b)} only in {name_b}"]
    for group in only_a[:limit]:
        partners = [sorted(other) for other in b if other & group]
        lines.append(f"  {name_a} {sorted(group)} ~ {name_b} {partners}")
    return "\n".join(lines)


def check_generated(mailbox: GeneratedMailbox) -> None:
    """Make sure the generated mailbox has the hard cases the test is about."""
    position = {message_id: index for index, message_id in enumerate(mailbox.message_ids)}
    early_replies = [
        spec
        for spec in mailbox.specs
        if spec.parent_id is not None
        and normalize(spec.parent_id) in position
        and position[normalize(spec.parent_id)] > position[spec.normalized_id]
    ]
    assert len(mailbox.mails) == BIG_MAILBOX
    assert len(early_replies) > 50
    assert len(mailbox.missing_ids) > 20
    assert sum(1 for spec in mailbox.specs if len(spec.ancestors) > len(spec.references)) > 100
    assert max(len(thread) for thread in mailbox.threads) >= 30
    assert sum(1 for thread in mailbox.threads if len(thread) == 1) > 50


# -- tests ---------------------------------------------------------------------------------------


def test_grouping_matches_dovecot_thread_refs(space: Space, reader: WikiReader) -> None:
    """The pages of 2,000 realistic mails partition them exactly as Dovecot's THREAD REFS and the truth do."""
    mailbox = generate_mailbox(SEED, BIG_MAILBOX)
    check_generated(mailbox)
    deliver(space, mailbox.mails)
    space.write_config(batch_size=500)

    result = space.run_pass()
    assert (result.published, result.failed, result.duplicates) == (BIG_MAILBOX, 0, 0)

    pages = markers_by_page(reader, space.prefix)
    published = [message_id for markers in pages.values() for message_id in markers]
    assert len(published) == BIG_MAILBOX
    assert set(published) == set(mailbox.message_ids)
    with imap_session(space) as client:
        client.select_folder(space.folders[0], readonly=True)
        uid_of = uids_by_message_id(client)
        dovecot = dovecot_thread_refs(client, space.folders[0])
    assert set(uid_of) == set(mailbox.message_ids)

    bridge = partition_of(pages.values(), uid_of)
    truth = partition_of(mailbox.threads, uid_of)
    assert bridge == dovecot, describe_difference("bridge", bridge, "dovecot", dovecot)
    assert bridge == truth, describe_difference("bridge", bridge, "truth", truth)

    # The markers read from the wikitext are the ones the wiki renders (largest pages and a few more).
    sample = sorted(pages, key=lambda title: -len(pages[title]))[:3] + sorted(pages)[:3]
    for title in sample:
        assert [canonical(found) for found in reader.parse(title).message_ids] == pages[title]


def test_in_reply_to_only_replies_group_like_dovecot_through_merge_notes(
    space: Space, reader: WikiReader
) -> None:
    """Early References-less replies: pages joined by merge notes partition the mail as THREAD REFS does.

    The mail arrives 50 at a time with a pass after each, so a reply is published before the mail
    that connects it to its thread arrives (one pass over all of it plans the whole threads first).
    """
    mailbox = generate_mailbox(SEED + 11, 300, in_reply_to_only=0.2)
    space.write_config(batch_size=50)
    published = failed = 0
    for start in range(0, len(mailbox.mails), 50):
        deliver(space, mailbox.mails[start : start + 50])
        result = space.run_pass()
        published, failed = published + result.published, failed + result.failed
    assert (published, failed) == (300, 0)

    with imap_session(space) as client:
        client.select_folder(space.folders[0], readonly=True)
        uid_of = uids_by_message_id(client)
        dovecot = dovecot_thread_refs(client, space.folders[0])
    truth = partition_of(mailbox.threads, uid_of)
    pages = partition_of(markers_by_page(reader, space.prefix).values(), uid_of)
    joined = partition_of(conversations(reader, space.prefix), uid_of)
    assert joined == dovecot, describe_difference("bridge", joined, "dovecot", dovecot)
    assert joined == truth, describe_difference("bridge", joined, "truth", truth)
    # The scenario happened: some early reply got a page of its own, now pointing to its thread.
    assert len(pages) > len(joined)


def test_uidvalidity_reset_publishes_nothing_twice(space: Space, reader: WikiReader) -> None:
    """After the folder is recreated with the same mail (new UIDVALIDITY), a pass publishes nothing."""
    mailbox = generate_mailbox(SEED + 1, 60)
    folder = space.folders[0]
    deliver(space, mailbox.mails)
    first = space.run_pass()
    assert first.published == 60
    before = markers_by_page(reader, space.prefix)
    old_validity = uidvalidity(space, folder)

    with imap_session(space) as client:
        client.delete_folder(folder)
    deliver(space, mailbox.mails)
    assert uidvalidity(space, folder) != old_validity
    edits = reader.bot_edit_count(space.mediawiki.bot_user)

    again = space.run_pass()
    assert (again.published, again.fetched, again.duplicates) == (0, 0, 60)
    assert reader.bot_edit_count(space.mediawiki.bot_user) == edits
    assert markers_by_page(reader, space.prefix) == before


def test_two_overlapping_folders_publish_once(space: Space, reader: WikiReader) -> None:
    """Mail copied into both folders of a mapping, with or without Message-ID, is published once."""
    name = space.folders[0].removesuffix("-in")
    space.folders = [f"{name}-in", f"{name}-sent"]
    mailbox = generate_mailbox(SEED + 2, 40, missing_parents=False)
    inbox: list[bytes] = []
    sent: list[bytes] = []
    for index, raw in enumerate(mailbox.mails):
        if index % 4 != 3:
            inbox.append(raw)
        if index % 4 != 1:
            sent.append(raw)  # byte-identical copy: every other mail is in both folders
    anonymous = make_mail(None, "Ohne Message-ID", "Gleicher Text in beiden Ordnern.\n")
    deliver(space, [*inbox, anonymous], space.folders[0])
    deliver(space, [*sent, anonymous], space.folders[1])

    first = space.run_pass()
    assert (first.published, first.failed) == (41, 0)
    pages = markers_by_page(reader, space.prefix)
    published = [message_id for markers in pages.values() for message_id in markers]
    assert len(published) == 41
    assert len(set(published)) == 41
    assert set(mailbox.message_ids) < set(published)

    edits = reader.bot_edit_count(space.mediawiki.bot_user)
    second = space.run_pass()
    assert (second.published, second.fetched) == (0, 0)
    assert reader.bot_edit_count(space.mediawiki.bot_user) == edits
    assert markers_by_page(reader, space.prefix) == pages


def test_same_mail_delivered_twice_in_one_folder(space: Space, reader: WikiReader) -> None:
    """A mail delivered twice into one folder, in one batch or a later pass, appears once on its page."""
    root = make_mail("twice-root@example.de", "Doppelt zugestellt", "Erste Fassung.\n")
    reply = make_mail(
        "twice-reply@example.de",
        "AW: Doppelt zugestellt",
        "Antwort.\n",
        in_reply_to="twice-root@example.de",
        references=["twice-root@example.de"],
        date=datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
    )
    anonymous = make_mail(None, "Ohne Kennung", "Zweimal zugestellt, ohne Message-ID.\n")
    deliver(space, [root, root, anonymous, reply, anonymous])
    first = space.run_pass()
    assert (first.published, first.duplicates) == (3, 2)

    deliver(space, [reply, root])
    edits = reader.bot_edit_count(space.mediawiki.bot_user)
    second = space.run_pass()
    assert (second.published, second.fetched, second.duplicates) == (0, 0, 2)
    assert reader.bot_edit_count(space.mediawiki.bot_user) == edits

    pages = markers_by_page(reader, space.prefix)
    assert len(pages) == 2
    thread = pages[f"{space.prefix}/Doppelt zugestellt"]
    assert thread == ["twice-root@example.de", "twice-reply@example.de"]
    [single] = [markers for title, markers in pages.items() if title.endswith("/Ohne Kennung")]
    assert len(single) == 1


def test_reply_arriving_before_parent_joins_its_page(space: Space, reader: WikiReader) -> None:
    """A reply published before its parent arrives makes the parent join the reply's page."""
    deliver(
        space,
        [
            make_mail(
                "early-reply@example.de",
                "AW: Zuerst die Antwort",
                "Die Antwort war schneller.\n",
                in_reply_to="early-parent@example.de",
                references=["early-parent@example.de"],
                date=datetime(2026, 11, 20, 11, 0, tzinfo=UTC),
            )
        ],
    )
    first = space.run_pass()
    assert first.published == 1 and len(first.pages_created) == 1
    [title] = reader.titles(space.prefix)

    deliver(space, [make_mail("early-parent@example.de", "Zuerst die Antwort", "Die Frage.\n")])
    second = space.run_pass()
    assert second.published == 1
    assert (second.pages_created, second.pages_extended) == ([], [title])
    assert reader.titles(space.prefix) == [title]
    assert sorted(reader.parse(title).message_ids) == ["early-parent@example.de", "early-reply@example.de"]
