"""Reading one batch of a folder: which mails may be new, fetching and parsing them, nothing written.

Whatever one mail raises while it is read (any exception, not a list of known ones) fails that
mail alone: the plan records it with a reason naming what went wrong, it is logged with its UID
and Message-ID, and the batch goes on. A mail whose Message-ID is known is a duplicate when its
content is the same (the copy in Sent, a second delivery); other content under a known id is
published as a variant (see `bridge.core.variants`). The decisions are the planner's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import structlog

from bridge.adapters.state.ports import BatchLedger
from bridge.core.model import Message
from bridge.core.parsing import parse_message
from bridge.core.variants import content_hash
from bridge.service.config import MailboxActions
from bridge.sync.actions import Action, RecordFailure, Source
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


class BatchReader:
    """Reads a batch of UIDs; the planner tells duplicates, variants and failures apart."""

    def __init__(self, mailbox: str, mail_actions: MailboxActions, state: BatchLedger) -> None:
        self.mailbox = mailbox
        self.moves_mail = mail_actions.after_publish != "keep"
        self.state = state
        self._log = log.bind(mailbox=mailbox)

    def read(
        self, imap: MailReader, folder: str, uidvalidity: int, uids: Sequence[int], tally: Tally
    ) -> tuple[list[Action], Batch]:
        """Fetch the mails of `uids` that may be new: the plan's skips and failures, and the rest."""
        probes = imap.message_id_headers(uids)
        first_ids = {uid: probe.message_id for uid, probe in probes.items()}
        known = self.state.fingerprints(self.mailbox, filter(None, first_ids.values()))
        sizes = {uid: probe.size for uid, probe in probes.items()}
        to_fetch, skips = plan_known_copies(
            folder, uidvalidity, uids, first_ids, sizes, known, self.moves_mail
        )
        actions: list[Action] = list(skips)
        for skip in skips:
            self._log.debug(
                "message.duplicate", folder=folder, uid=skip.source.uid, message_id=skip.message_id
            )
        parsed: list[tuple[Message, Source]] = []
        for mail in imap.fetch(folder, to_fetch):
            tally.fetched += 1
            source = Source(folder, mail.uid, uidvalidity, raw_size=len(mail.raw))
            try:
                message = parse_message(mail.raw, mail.internal_date)
                source = Source(folder, mail.uid, uidvalidity, len(mail.raw), content_hash(message))
            except Exception as exc:  # one mail must never stop the mailbox
                self._log.warning("message.unreadable", folder=folder, uid=mail.uid, exc_info=True)
                reason = describe_failure("reading the mail", exc)
                actions.append(RecordFailure(source, first_ids.get(mail.uid), reason))
                continue
            parsed.append((message, source))
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
        return [*actions, *copies], batch
