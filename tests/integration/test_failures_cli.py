"""`failures list|retry` and `status` against the real servers: failed and parked mail is visible,
retried on demand, and a mailbox whose passes abort is marked as failing."""

from __future__ import annotations

import json

from bridge.core.render.page import message_marker
from tests.integration.service_support import marker_counts, page_texts
from tests.integration.support import Space, make_mail, unique
from tests.servers import MediaWikiServer


def test_failed_mail_is_listed_parked_and_retried_on_demand(space: Space, mediawiki: MediaWikiServer) -> None:
    """A mail the wiki's spam filter refuses is parked (max_attempts = 1), listed with its reason,
    left alone by later passes, and published after `failures retry` once the filter lets it through."""
    space.append(make_mail("fail-fine@example.de", "Fine mail"))
    space.append(make_mail("fail-spam@example.de", "Offer", body="Cheap WATCHES9431 for the whole team.\n"))
    space.write_config(max_attempts=1)
    mediawiki.set_spam_regex("/WATCHES9431/")
    once = space.cli("once")
    assert once.returncode == 1, once.stdout + once.stderr[-2000:]
    assert once.stdout.startswith("sales: 1 published, 0 already known, 1 failed"), once.stdout

    listing = space.cli("failures", "list")
    assert listing.returncode == 0, listing.stderr
    header, row = listing.stdout.splitlines()
    assert header.split() == [
        "MAILBOX",
        "FOLDER",
        "UID",
        "MESSAGE-ID",
        "ATTEMPTS",
        "STATUS",
        "LAST",
        "TRY",
        "REASON",
    ]
    assert row.split()[:6] == ["sales", space.folders[0], "2", "fail-spam@example.de", "1", "parked"]
    assert "spam" in row.lower()
    [failure] = json.loads(space.cli("failures", "list", "--json", "--mailbox", "sales").stdout)
    assert failure["message_id"] == "fail-spam@example.de"
    assert failure["parked"] is True and failure["attempts"] == 1 and failure["mailbox"] == "sales"
    [status] = json.loads(space.cli("status", "--json").stdout)
    assert (status["published"], status["failed"], status["parked"], status["failing"]) == (1, 1, 1, False)
    table = space.cli("status").stdout.splitlines()
    assert table[0].split()[-2:] == ["FAILED", "PARKED"] and table[1].split()[1] == "ok"

    # Parked mail is not tried again by passes: the filter would refuse it again.
    assert space.cli("once").stdout.startswith("sales: 0 published")
    wrong = space.cli("failures", "retry", "sales", "nope@example.de")
    assert wrong.returncode == 1 and "no failed mail 'nope@example.de' in mailbox 'sales'" in wrong.stderr
    assert space.cli("failures", "retry", "nosuch").returncode == 2
    assert space.cli("failures", "list", "--mailbox", "nosuch").returncode == 2

    mediawiki.set_spam_regex(None)
    retry = space.cli("failures", "retry", "sales", "fail-spam@example.de")
    assert retry.returncode == 0, retry.stderr
    assert retry.stdout.strip() == "1 failed mail(s) of sales will be tried again on its next pass"
    after = space.cli("once")
    assert after.returncode == 0, after.stdout + after.stderr[-2000:]
    assert after.stdout.startswith("sales: 1 published")
    assert space.cli("failures", "list").stdout.strip() == "no failed mail"
    [status] = json.loads(space.cli("status", "--json").stdout)
    assert (status["published"], status["failed"], status["parked"]) == (2, 0, 0)
    texts = page_texts(mediawiki, space.prefix)
    counts = marker_counts(texts.values())
    assert counts["fail-spam@example.de"] == counts["fail-fine@example.de"] == 1
    assert any(message_marker("fail-spam@example.de") in text for text in texts.values())


def test_status_marks_a_mailbox_whose_passes_abort(space: Space) -> None:
    """A mailbox that cannot log in: `once` says why, `status` marks it FAILING, the other stays ok."""
    space.append(make_mail("abort-fine@example.de", "Still fine"))
    broken = space.mailbox_table(
        name="broken",
        page_prefix=f"{unique('B')}/Mail",
        password_file=str(space.secret_file("wrong", "not-the-password")),
    )
    space.write_config([broken])
    once = space.cli("once")
    assert once.returncode == 1
    assert "sales: 1 published" in once.stdout
    [failed_line] = [line for line in once.stdout.splitlines() if line.startswith("broken: ")]
    assert failed_line.startswith("broken: FAILED: ") and "login" in failed_line.lower(), failed_line
    rows = {row["mailbox"]: row for row in json.loads(space.cli("status", "--json").stdout)}
    assert rows["broken"]["failing"] is True and rows["broken"]["last_success"] is None
    assert rows["broken"]["last_error"] and rows["broken"]["last_error"] in failed_line
    assert rows["sales"]["failing"] is False
    table = {line.split()[0]: line.split()[1] for line in space.cli("status").stdout.splitlines()[1:]}
    assert table == {"sales": "ok", "broken": "FAILING"}
