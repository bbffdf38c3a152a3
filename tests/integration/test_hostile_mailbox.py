"""A mailbox full of hostile mail against the real Dovecot and MediaWiki, through the command line.

Three hundred seeded hostile mails (`tests.hostile`) and fifty ordinary ones share one folder.
After the passes every ordinary mail is on the wiki, every hostile one is on the wiki or listed
as failed with a reason a person can read, and the exit code and `status --json` say so.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from bridge.core.parsing import parse_message
from bridge.errors import MessageError
from tests.hostile import hostile_mails, normal_mail, normal_message_id
from tests.integration.service_support import marker_counts, page_texts
from tests.integration.support import Space
from tests.servers import MediaWikiServer

SEED = 20261130
HOSTILE = 300
NORMAL = 50
_COUNTS = re.compile(r"^sales: (\d+) published, (\d+) already known, (\d+) failed", re.MULTILINE)


def _deliver(space: Space, mails: list[bytes]) -> int:
    """APPEND each mail over one connection; return how many Dovecot took (it refuses some junk)."""
    from imapclient import IMAPClient  # type: ignore[import-untyped, unused-ignore]
    from imapclient.exceptions import IMAPClientError  # type: ignore[import-untyped, unused-ignore]

    client = IMAPClient(space.dovecot.host, port=space.dovecot.port, ssl=False, timeout=60)
    taken = 0
    try:
        client.login(space.user, space.dovecot.users[space.user])
        client.create_folder(space.folders[0])
        for raw in mails:
            try:
                client.append(space.folders[0], raw)
            except IMAPClientError:
                continue  # e.g. an empty mail: Dovecot will not store zero bytes
            taken += 1
    finally:
        client.logout()
    return taken


def _stored(space: Space) -> dict[int, bytes]:
    """Every mail of the folder as IMAP delivers it (line ends as the bridge sees them), by UID."""
    from imapclient import IMAPClient  # type: ignore[import-untyped, unused-ignore]

    client = IMAPClient(space.dovecot.host, port=space.dovecot.port, ssl=False, timeout=60)
    try:
        client.login(space.user, space.dovecot.users[space.user])
        client.select_folder(space.folders[0], readonly=True)
        response = client.fetch(client.search(["ALL"]), ["BODY.PEEK[]"])
        return {uid: bytes(data[b"BODY[]"]) for uid, data in response.items()}
    finally:
        client.logout()


def _json(space: Space, *args: str) -> Any:
    done = space.cli(*args, "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_hostile_mail_is_published_or_failed_with_a_reason(space: Space, mediawiki: MediaWikiServer) -> None:
    """Each mail is accounted for: on the wiki by its marker, or a failure naming what is wrong."""
    mails = hostile_mails(SEED, HOSTILE) + [normal_mail(number) for number in range(NORMAL)]
    random.Random(SEED).shuffle(mails)  # noqa: S311 - a reproducible delivery order, not a secret
    delivered = _deliver(space, mails)
    assert delivered > HOSTILE * 3 // 4 + NORMAL, delivered
    space.write_config(batch_size=100)

    first = space.cli("once")
    counts = _COUNTS.search(first.stdout)
    assert counts is not None, first.stdout + first.stderr[-3000:]
    published, known, failed = (int(value) for value in counts.groups())
    # Every delivered mail is handled once: published, a copy of one already handled, or failed.
    assert published + known + failed == delivered, first.stdout
    assert first.returncode == (1 if failed else 0), first.stdout

    failures = {row["uid"]: row for row in _json(space, "failures", "list")}
    assert len(failures) == failed
    for row in failures.values():
        reason = row["reason"]
        assert len(reason.split()) >= 4 and not re.search(r"(^|:\s*)[A-Z]\w*(Error|Exception)\.?$", reason), (
            row
        )
        # Mail the bridge cannot publish is refused with a reason; an unforeseen exception is a bug.
        assert "this is a bug of the bridge" not in reason, row

    on_wiki = marker_counts(page_texts(mediawiki, space.prefix).values())
    for number in range(NORMAL):
        assert on_wiki[normal_message_id(number)] == 1, number
    for uid, raw in _stored(space).items():
        if uid in failures:
            continue
        try:
            message_id = parse_message(raw).message_id
        except MessageError:
            raise AssertionError(f"UID {uid} cannot be parsed, yet is not listed as failed") from None
        assert on_wiki[message_id] == 1, (uid, message_id)

    [status] = _json(space, "status")
    assert status["published"] == len(on_wiki) == published
    assert status["failed"] == failed and not status["failing"]

    # The next pass neither publishes anything twice nor loses the failed mail from the list.
    second = space.cli("once")
    assert _COUNTS.search(second.stdout) is not None, second.stdout + second.stderr[-3000:]
    assert marker_counts(page_texts(mediawiki, space.prefix).values()) == on_wiki
    assert {row["uid"] for row in _json(space, "failures", "list")} == set(failures)
