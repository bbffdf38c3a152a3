"""`backfill` as a real subprocess: 2,000 generated mails, SIGKILL half-way, resumed to exactly
once with one edit per thread; `--since`/`--until` limit the range by arrival date."""

from __future__ import annotations

import re
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.service_support import (
    ServiceSpace,
    bot_contributions,
    marker_counts,
    message_statuses,
    multiappend,
    page_texts,
    wait_until,
)
from tests.integration.support import make_mail, unique
from tests.mailgen import generate_mailbox
from tests.servers import DovecotServer, MediaWikiServer, SmtpSink

HISTORY = 2000


@pytest.fixture
def service(dovecot: DovecotServer, mediawiki: MediaWikiServer, tmp_path: Path) -> Iterator[ServiceSpace]:
    """A fresh config and state file; bridge processes are killed at the end."""
    space = ServiceSpace(dovecot=dovecot, mediawiki=mediawiki, directory=tmp_path)
    yield space
    space.close()


def _smtp(sink: SmtpSink) -> dict[str, Any]:
    """An [smtp] section that would let every reply through, had the backfill sent any."""
    return {
        "host": sink.host,
        "port": sink.port,
        "security": "none",
        "from_address": "wiki-bridge@example.de",
        "max_replies_per_sender_per_hour": 1000,
    }


def test_backfill_killed_half_way_resumes_to_exactly_once_with_one_edit_per_thread(
    service: ServiceSpace, smtp_sink: SmtpSink, record_property: Callable[[str, object], None]
) -> None:
    """SIGKILL in the middle, then a second run: every mail once, at most one edit per thread, no replies."""
    history = generate_mailbox(seed=20261127, messages=HISTORY, missing_parents=True, shuffle=True)
    name = unique("Backfill")
    folder, prefix = f"{name}-in", f"{name}/Mail"
    multiappend(service.dovecot, "team-dev", folder, history.mails)
    mailbox = service.mailbox(
        "dev",
        folder,
        prefix,
        user="team-dev",
        address="team-dev@example.de",
        reply="every",
        reply_max_age_days=3650,
        batch_size=200,
    )
    service.write_config([mailbox], smtp=_smtp(smtp_sink))

    first = service.start("backfill", "--mailbox", "dev")
    wait_until(
        lambda: message_statuses(service.state_path)["done"] >= HISTORY // 2 or not first.running,
        90,
        "half of the history to be published",
        interval=0.05,
    )
    first.send(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL, first.log_tail()
    done_at_kill = message_statuses(service.state_path)["done"]
    assert HISTORY // 4 < done_at_kill < HISTORY, done_at_kill

    second = service.cli("backfill", "--mailbox", "dev", timeout=120)
    assert second.returncode == 0, second.stderr[-3000:]
    resumed = re.search(r"(\d+) published", second.stdout)
    assert resumed is not None, second.stdout
    # Intents cut short by the kill are settled from the page, not published again.
    assert 0 < int(resumed.group(1)) <= HISTORY - done_at_kill

    texts = page_texts(service.mediawiki, prefix)
    counts = marker_counts(texts.values())
    assert set(counts) == set(history.message_ids)
    assert [mid for mid, count in counts.items() if count != 1] == []
    assert sum(counts.values()) == HISTORY
    assert message_statuses(service.state_path) == {"done": HISTORY}

    edits = bot_contributions(service.mediawiki, prefix)
    creations = [edit for edit in edits if edit.get("new")]
    assert len(creations) == len(texts)
    # Every mail was in the folder before the first run: no mail arrived after its thread was
    # published, so each thread costs exactly one edit, even across the kill.
    late_arrivals = 0
    record_property("backfill", f"{done_at_kill} done at the kill, {len(edits)} edits, {len(texts)} pages")
    print(f"backfill: {done_at_kill} of {HISTORY} done at SIGKILL; {len(edits)} edits for {len(texts)} pages")
    assert len(edits) <= len(history.threads) + late_arrivals, Counter(e["title"] for e in edits).most_common(
        5
    )
    assert smtp_sink.messages == []


def test_backfill_since_and_until_limit_the_range_by_arrival_date(service: ServiceSpace) -> None:
    """Only mail that arrived on or after --since and before --until is published."""
    name = unique("Range")
    folder, prefix = f"{name}-in", f"{name}/Mail"
    arrivals = {
        "range-may@example.de": datetime(2024, 5, 10, 12, 0, tzinfo=UTC),
        "range-june@example.de": datetime(2024, 6, 15, 12, 0, tzinfo=UTC),
        "range-july@example.de": datetime(2024, 7, 20, 12, 0, tzinfo=UTC),
    }
    for message_id, arrived in arrivals.items():
        subject = f"Range {message_id.split('@')[0].split('-')[1]}"
        service.append(folder, make_mail(message_id, subject, date=arrived), msg_time=arrived)
    service.write_config([service.mailbox("sales", folder, prefix)])

    def published() -> Counter[str]:
        return marker_counts(page_texts(service.mediawiki, prefix).values())

    june = service.cli("backfill", "--mailbox", "sales", "--since", "2024-06-01", "--until", "2024-07-01")
    assert june.returncode == 0, june.stderr[-3000:]
    assert published() == {"range-june@example.de": 1}

    until = service.cli("backfill", "--mailbox", "sales", "--until", "2024-06-01")
    assert until.returncode == 0, until.stderr[-3000:]
    assert published() == {"range-may@example.de": 1, "range-june@example.de": 1}

    since = service.cli("backfill", "--mailbox", "sales", "--since", "2024-06-01")
    assert since.returncode == 0, since.stderr[-3000:]
    assert published() == dict.fromkeys(arrivals, 1)
    assert "1 already known" in since.stdout
