"""One mail never stops a mailbox: isolation of failures, retries and parking, same id with other content.

These run the real orchestrator and a real SQLite store over the in-memory fakes of tests/fakes.py,
because the faults they need (a parser that raises any exception type, a wiki refusing one
message of a group) cannot be produced on demand by the real servers; the integration tests
cover the same paths against Dovecot and MediaWiki with real hostile mail.
"""

from __future__ import annotations

import dataclasses
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from bridge.adapters.state.store import SqliteStateStore
from bridge.adapters.wiki import EditResult
from bridge.core.model import Message
from bridge.core.parsing import parse_message
from bridge.core.render.page import message_marker
from bridge.core.retry import RetryPolicy
from bridge.core.variants import as_variant, content_hash, original_of, variant_id
from bridge.errors import WikiRefusedError
from bridge.service.config import MailboxSettings
from bridge.sync.mailbox_pass import MailboxSync, PassResult
from tests.fakes import FakeMailbox, FakeWiki
from tests.settings import mailbox_settings

PREFIX = "Mail/Team"


def mail(message_id: str, body: str, subject: str = "Angebot", reply_to: str | None = None) -> bytes:
    """A plain mail as an IMAP server serves it."""
    message = EmailMessage()
    message["From"] = "Anna <anna@example.org>"
    message["To"] = "team@example.org"
    message["Subject"] = subject
    message["Date"] = "Mon, 04 Mar 2024 09:00:00 +0100"
    message["Message-ID"] = f"<{message_id}>"
    if reply_to:
        message["In-Reply-To"] = f"<{reply_to}>"
    message.set_content(body)
    return message.as_bytes(policy=email.policy.SMTP)


class Bench:
    """A mailbox, a wiki and a store, and passes of the real orchestrator over them."""

    def __init__(self, tmp_path: Path, max_attempts: int = 3) -> None:
        self.mailbox = FakeMailbox()
        self.wiki = FakeWiki()
        self.state = SqliteStateStore(tmp_path / "state.sqlite3")
        self.settings = mailbox_settings(
            page_prefix=PREFIX,
            batch_size=10,
            max_attempts=max_attempts,
        )

    def _open(self, _settings: MailboxSettings) -> FakeMailbox:
        return self.mailbox

    def run_pass(self) -> PassResult:
        return MailboxSync(self.settings, self.wiki, self.state, open_mailbox=self._open).run()

    def text(self) -> str:
        return "\n".join(text for text, _revision in self.wiki.snapshot().values())

    def make_due(self) -> None:
        """Move every retry time into the past, as if the pauses between tries had passed."""
        past = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")
        with self.state._transaction() as db:  # test-only shortcut instead of waiting minutes
            db.execute("UPDATE failures SET next_attempt_at = ? WHERE parked = 0", (past,))


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    made = Bench(tmp_path)
    yield made
    made.state.close()


def test_any_exception_of_one_mail_fails_that_mail_alone(
    bench: Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A parser raising an arbitrary exception type fails that mail with a reason; the rest publish."""

    def flaky_parse(raw: bytes, internal_date: datetime | None = None) -> Message:
        if b"poison" in raw:
            raise RecursionError("maximum recursion depth exceeded while parsing the To header")
        return parse_message(raw, internal_date)

    monkeypatch.setattr("bridge.sync.intake.parse_message", flaky_parse)
    for index in range(5):
        body = "poison" if index == 2 else f"Mail {index}"
        bench.mailbox.deliver("INBOX", mail(f"m{index}@example.org", body, subject=f"Thema {index}"))
    result = bench.run_pass()
    assert result.published == 4
    assert result.failed == 1
    (failure,) = bench.state.failures("team")
    assert failure.uid == 3
    assert "RecursionError" in failure.reason
    assert "To header" in failure.reason
    for index in (0, 1, 3, 4):
        assert message_marker(f"m{index}@example.org") in bench.text()
    # The folder position moved past the poison mail: mail after it is read on the next pass.
    bench.mailbox.deliver("INBOX", mail("m5@example.org", "Mail 5", subject="Thema 5"))
    assert bench.run_pass().published == 1


def test_failed_mail_is_retried_after_its_pause_then_parked(
    bench: Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not before its next try is due; parked after max_attempts; `retry_failures` brings it back."""

    def broken(raw: bytes, internal_date: datetime | None = None) -> Message:
        raise ValueError("the body cannot be decoded")

    monkeypatch.setattr("bridge.sync.intake.parse_message", broken)
    bench.mailbox.deliver("INBOX", mail("p@example.org", "x"))
    assert bench.run_pass().failed == 1
    assert bench.run_pass().fetched == 0  # its pause has not passed
    bench.make_due()
    assert bench.run_pass().failed == 1
    bench.make_due()
    assert bench.run_pass().failed == 1
    (failure,) = bench.state.failures("team")
    assert failure.attempts == 3
    assert failure.parked
    bench.make_due()
    assert bench.run_pass().fetched == 0  # parked mail is not tried automatically
    monkeypatch.undo()
    assert bench.state.retry_failures("team") == 1
    result = bench.run_pass()
    assert result.published == 1
    assert bench.state.failures("team") == []


def test_a_refused_group_is_split_so_only_the_refused_mail_fails(
    bench: Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wiki refusing a thread's edit (spam filter) fails only the mail it refuses."""
    real_create, real_append = bench.wiki.create_page, bench.wiki.append_to_page

    def refuse_spam(text: str) -> None:
        if "casino" in text:
            raise WikiRefusedError(
                "the wiki refused to edit: spam blacklist (spamblacklist)", "spamblacklist"
            )

    def create(title: str, text: str, summary: str) -> EditResult | None:
        refuse_spam(text)
        return real_create(title, text, summary)

    def append(title: str, text: str, summary: str) -> EditResult | None:
        refuse_spam(text)
        return real_append(title, text, summary)

    monkeypatch.setattr(bench.wiki, "create_page", create)
    monkeypatch.setattr(bench.wiki, "append_to_page", append)
    bench.mailbox.deliver("INBOX", mail("root@example.org", "Hallo"))
    bench.mailbox.deliver("INBOX", mail("spam@example.org", "casino", reply_to="root@example.org"))
    bench.mailbox.deliver("INBOX", mail("late@example.org", "Gern", reply_to="root@example.org"))
    result = bench.run_pass()
    assert result.published == 2
    assert result.failed == 1
    (failure,) = bench.state.failures("team")
    assert failure.message_id == "spam@example.org"
    assert "spamblacklist" in failure.reason
    pages = bench.wiki.snapshot()
    assert len(pages) == 1  # the two good mails share their thread's one page
    (text, _revision) = next(iter(pages.values()))
    assert message_marker("root@example.org") in text
    assert message_marker("late@example.org") in text


def test_same_id_other_content_is_published_as_a_variant_with_a_note(bench: Bench) -> None:
    """A known Message-ID with other content gets its own section; a true copy stays skipped."""
    bench.mailbox.deliver("INBOX", mail("draft@example.org", "Erste Fassung"))
    bench.run_pass()
    bench.mailbox.deliver("INBOX", mail("draft@example.org", "Erste  Fassung\n"))  # same text, other bytes
    bench.mailbox.deliver("INBOX", mail("draft@example.org", "Zweite Fassung mit Preis"))
    result = bench.run_pass()
    assert result.published == 1
    assert result.duplicates == 1
    text = bench.text()
    assert text.count("data-message-id=") == 2
    assert "Zweite Fassung mit Preis" in text
    assert "ewb-variant-note" in text
    # The variant is a message of its own from now on: delivering it again publishes nothing.
    bench.mailbox.deliver("INBOX", mail("draft@example.org", "Zweite Fassung mit Preis"))
    assert bench.run_pass().published == 0
    assert bench.text().count("data-message-id=") == 2


def test_variants_in_one_batch_and_their_ids() -> None:
    """Variant ids are stable per content, keep the domain, and link back to the original."""
    digest = "ab" * 32
    assert variant_id("x.y@Example.org", digest) == f"x.y.variant-{digest[:16]}@Example.org"
    assert original_of(variant_id("x.y@example.org", digest)) == "x.y@example.org"
    assert original_of("x.y@example.org") is None
    assert original_of(variant_id("no-domain", digest)) == "no-domain"


def test_content_hash_ignores_transport_whitespace_but_not_words() -> None:
    """CRLF, trailing blanks and blank runs do not change the hash; a changed word does."""
    base = Message(
        message_id="a@x",
        references=(),
        subject="Angebot",
        sender_name="",
        sender_address="a@x",
        date=datetime(2024, 1, 1, tzinfo=UTC),
        body_text="Hallo Welt\nGruß",
    )
    respaced = dataclasses.replace(base, body_text="Hallo  Welt \r\n\r\nGruß\n")
    changed = dataclasses.replace(base, body_text="Hallo Welt\nGrüße")
    assert content_hash(base) == content_hash(respaced)
    assert content_hash(base) != content_hash(changed)
    variant = as_variant(changed, content_hash(changed))
    assert variant.references[-1] == "a@x"
    assert variant.message_id != "a@x"


def test_retry_policy_grows_and_parks() -> None:
    """Pauses grow fourfold from a minute, are capped at six hours, and the last try parks."""
    policy = RetryPolicy(max_attempts=5)
    now = datetime(2024, 1, 1, tzinfo=UTC)
    pauses = [policy.next_attempt(n, now) - now for n in range(1, 8)]
    assert pauses[:4] == [timedelta(minutes=m) for m in (1, 4, 16, 64)]
    assert max(pauses) == timedelta(hours=6)
    assert [policy.parks(n) for n in (4, 5, 6)] == [False, True, True]
