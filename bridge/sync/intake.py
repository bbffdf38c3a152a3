"""Reading one batch of a folder: which mails may be new, fetching and parsing them, nothing written.

Three steps, so the fetching and parsing (`load`, no state store) can run on the pass's
prefetching thread: `BatchReader.triage` (header probes against the store: copies need no
body), `load`, `BatchReader.identify` (parsed mail against the store: copies and variants).

Whatever one mail raises while it is read (any exception, not a list of known ones) fails that
mail alone: the plan records it with a reason naming what went wrong, it is logged with its UID
and Message-ID, and the batch goes on. A mail whose Message-ID is known is a duplicate when its
content is the same (the copy in Sent, a second delivery); other content under a known id is
published as a variant (see `bridge.core.variants`). The decisions are the planner's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from bridge.adapters.imap_probe import ProbeSummary
from bridge.adapters.state.ports import BatchLedger
from bridge.core.model import Message
from bridge.core.parsing import parse_message
from bridge.core.render.pandoc import prepare_html
from bridge.core.variants import content_hash
from bridge.service.config import MailboxActions
from bridge.sync.actions import Action, RecordFailure, Skip, Source
from bridge.sync.planner import (
    Batch,
    describe_failure,
    plan_identities,
    plan_known_copies,
    variant_candidates,
)
from bridge.sync.ports import MailReader

log = structlog.get_logger("bridge.sync.intake")


class Tally(Protocol):
    """The count of a pass that reading a batch adds to (`PassResult` is one)."""

    fetched: int


@dataclass
class Loaded:
    """A batch's bodies, read and parsed: each mail with where it was read, and the unreadable ones."""

    parsed: list[tuple[Message, Source]] = field(default_factory=list)
    failures: list[RecordFailure] = field(default_factory=list)
    fetched: int = 0


def load(
    mailbox: str,
    imap: MailReader,
    folder: str,
    uidvalidity: int,
    uids: Sequence[int],
    probes: Mapping[int, ProbeSummary],
) -> Loaded:
    """Fetch and parse the mails of `uids`, and convert their HTML bodies ahead of rendering.

    Touches no state store, so the pass's prefetching thread runs it while the pass publishes.
    """
    loaded = Loaded()
    for mail in imap.fetch(folder, uids):
        loaded.fetched += 1
        source = Source(folder, mail.uid, uidvalidity, raw_size=len(mail.raw))
        try:
            message = parse_message(mail.raw, mail.internal_date)
            source = Source(folder, mail.uid, uidvalidity, len(mail.raw), content_hash(message))
        except Exception as exc:  # one mail must never stop the mailbox
            log.warning("message.unreadable", mailbox=mailbox, folder=folder, uid=mail.uid, exc_info=True)
            probe = probes.get(mail.uid)
            reason = describe_failure("reading the mail", exc)
            loaded.failures.append(RecordFailure(source, probe.message_id if probe else None, reason))
            continue
        loaded.parsed.append((message, source))
    prepare_html([message.body_html for message, _ in loaded.parsed if message.body_html.strip()])
    return loaded


class BatchReader:
    """Tells which mails of a batch may be new, and which read ones are copies or variants."""

    def __init__(self, mailbox: str, mail_actions: MailboxActions, state: BatchLedger) -> None:
        self.mailbox = mailbox
        self.moves_mail = mail_actions.after_publish != "keep"
        self.state = state
        self._log = log.bind(mailbox=mailbox)

    def triage(
        self, folder: str, uidvalidity: int, uids: Sequence[int], probes: Mapping[int, ProbeSummary]
    ) -> tuple[list[int], list[Skip]]:
        """Split `uids` by their header probes into those to fetch and copies of published mail."""
        present = [(uid, probe) for uid in uids if (probe := probes.get(uid)) is not None]
        first_ids = {uid: probe.message_id for uid, probe in present}
        known = self.state.fingerprints(self.mailbox, filter(None, first_ids.values()))
        sizes = {uid: probe.size for uid, probe in present}
        to_fetch, skips = plan_known_copies(
            folder, uidvalidity, uids, first_ids, sizes, known, self.moves_mail
        )
        for skip in skips:
            self._log.debug(
                "message.duplicate", folder=folder, uid=skip.source.uid, message_id=skip.message_id
            )
        return to_fetch, skips

    def identify(self, loaded: Loaded, tally: Tally) -> tuple[list[Action], Batch]:
        """The plan's failures and copies among `loaded`, and the mail that may be published."""
        tally.fetched += loaded.fetched
        parsed = loaded.parsed
        stored = self.state.fingerprints(self.mailbox, (message.message_id for message, _ in parsed))
        variants = self.state.known_message_ids(self.mailbox, variant_candidates(parsed))
        batch, copies = plan_identities(parsed, stored, variants)
        for message_id, source in batch.sources.items():
            if source.variant_of:
                self._log.info(
                    "message.same_id_other_content",
                    folder=source.folder,
                    uid=source.uid,
                    message_id=message_id,
                    original=source.variant_of,
                )
        return [*loaded.failures, *copies], batch
