"""Reading one batch of a folder: which mails are new, parsing them, recording the ones that fail.

Whatever one mail raises while it is read (any exception, not a list of known ones) fails that
mail alone: it is recorded with a reason naming what went wrong, logged with its UID and
Message-ID, and the batch goes on. A mail whose Message-ID is known is a duplicate when its
content is the same (the copy in Sent, a second delivery); other content under a known id is
published as a variant (see `bridge.core.variants`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from bridge.adapters.imap import HeaderProbe
from bridge.adapters.state.ports import BatchLedger, FailureRecorder
from bridge.core.model import Message
from bridge.core.msgid import extract_ids
from bridge.core.parsing import parse_message
from bridge.core.retry import RetryPolicy
from bridge.core.variants import as_variant, content_hash
from bridge.errors import MessageError
from bridge.service.config import MailboxActions, MailboxPolling
from bridge.sync.ports import MailReader

log = structlog.get_logger("bridge.sync.intake")


@dataclass(frozen=True, slots=True)
class Source:
    """Where a message was read (folder, UID, UIDVALIDITY), and what identifies its content."""

    folder: str
    uid: int
    uidvalidity: int
    raw_size: int | None = None
    content_hash: str | None = None
    variant_of: str | None = None


class Tally(Protocol):
    """The counts of a pass that reading a batch adds to (`sync.PassResult` is one)."""

    fetched: int
    duplicates: int
    failed: int


@dataclass
class Batch:
    """The publishable mails of one batch, by Message-ID, with where each was read."""

    messages: dict[str, Message] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)


def describe_failure(stage: str, exc: BaseException) -> str:
    """A reason a person can act on: the stage, and the error's own sentence or its kind and text."""
    if isinstance(exc, MessageError):
        return str(exc)
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else "no detail given"
    return f"{stage} failed unexpectedly ({type(exc).__name__}: {detail}); this is a bug of the bridge"


class FailureLog:
    """Records mail that cannot be published: reason, tries so far, when to try again."""

    def __init__(self, mailbox: str, polling: MailboxPolling, state: FailureRecorder) -> None:
        self.mailbox = mailbox
        self.state = state
        self.policy = RetryPolicy(polling.max_attempts)
        self._log = log.bind(mailbox=mailbox)

    def record(self, source: Source, message_id: str | None, reason: str, tally: Tally) -> None:
        """Record one failed mail; it stays in its mailbox and is retried, then parked."""
        tally.failed += 1
        attempts = self.state.record_failure(
            self.mailbox, source.folder, source.uidvalidity, source.uid, message_id, reason, self.policy
        )
        parked = self.policy.parks(attempts)
        self._log.warning(
            "message.parked" if parked else "message.failed",
            folder=source.folder,
            uid=source.uid,
            message_id=message_id,
            reason=reason,
            attempts=attempts,
        )


def _first_id(probe: HeaderProbe) -> str | None:
    try:
        ids = extract_ids(probe.message_id_header.partition(":")[2])
    except Exception:  # a header that cannot be read is resolved by the full parse
        return None
    return ids[0] if ids else None


class BatchReader:
    """Turns a batch of UIDs into publishable messages, skipping duplicates and isolating failures."""

    def __init__(
        self, mailbox: str, mail_actions: MailboxActions, state: BatchLedger, failures: FailureLog
    ) -> None:
        self.mailbox = mailbox
        self.moves_mail = mail_actions.after_publish != "keep"
        self.state = state
        self.failures = failures
        self._log = log.bind(mailbox=mailbox)

    def read(
        self, imap: MailReader, folder: str, uidvalidity: int, uids: Sequence[int], tally: Tally
    ) -> Batch:
        """Fetch the mails of `uids` that may be new and return those to publish."""
        probes = imap.message_id_headers(uids)
        first_ids = {uid: _first_id(probe) for uid, probe in probes.items()}
        known = self.state.fingerprints(self.mailbox, filter(None, first_ids.values()))
        to_fetch: list[int] = []
        seen_again: dict[str, int] = {}
        for uid in uids:
            message_id = first_ids.get(uid)
            fingerprint = known.get(message_id) if message_id else None
            # A copy of the same bytes (a rescan, a second folder) is known without reading it;
            # other bytes under a known id are read to tell a copy from other content.
            if (
                message_id
                and fingerprint
                and not fingerprint.held
                and fingerprint.raw_size in (None, probes[uid].size)
            ):
                seen_again[message_id] = uid
                tally.duplicates += 1
                self._log.debug("message.duplicate", folder=folder, uid=uid, message_id=message_id)
            else:
                to_fetch.append(uid)
        self.state.clear_failures(self.mailbox, [(folder, uidvalidity, uid) for uid in seen_again.values()])
        if seen_again and self.moves_mail:
            # After a renumbering, pending flags and moves follow their mail to its new UID.
            self.state.relocate_mail_actions(self.mailbox, folder, seen_again)
        parsed: list[tuple[Message, Source]] = []
        for mail in imap.fetch(folder, to_fetch):
            tally.fetched += 1
            source = Source(folder, mail.uid, uidvalidity, raw_size=len(mail.raw))
            try:
                message = parse_message(mail.raw, mail.internal_date)
                source = Source(folder, mail.uid, uidvalidity, len(mail.raw), content_hash(message))
            except Exception as exc:  # one mail must never stop the mailbox
                self._log.warning("message.unreadable", folder=folder, uid=mail.uid, exc_info=True)
                self.failures.record(
                    source, first_ids.get(mail.uid), describe_failure("reading the mail", exc), tally
                )
                continue
            parsed.append((message, source))
        return self._settle_identities(parsed, tally)

    def _settle_identities(self, parsed: list[tuple[Message, Source]], tally: Tally) -> Batch:
        """Drop true duplicates; give other content under a known (or repeated) id a variant id."""
        stored = self.state.fingerprints(self.mailbox, (message.message_id for message, _ in parsed))
        batch = Batch()
        copies: list[Source] = []
        for message, source in parsed:
            digest = source.content_hash or ""
            earlier = stored.get(message.message_id)
            in_batch = batch.sources.get(message.message_id)
            same = (earlier is not None and earlier.content_hash in (None, digest)) or (
                in_batch is not None and in_batch.content_hash == digest
            )
            if same and in_batch is None and earlier is not None and earlier.held:
                # Held mail read again (a copy, a renumbered folder) goes back to the sender policy,
                # which flags or moves this copy too.
                same = False
            elif not same and (earlier is not None or in_batch is not None):
                original = message.message_id
                message = as_variant(message, digest)
                source = dataclasses.replace(source, variant_of=original)
                same = message.message_id in batch.sources
            if same:
                tally.duplicates += 1
                copies.append(source)
                continue
            batch.messages[message.message_id] = message
            batch.sources[message.message_id] = source
        for variant in self.state.known_message_ids(
            self.mailbox, [mid for mid, s in batch.sources.items() if s.variant_of]
        ):
            tally.duplicates += 1
            copies.append(batch.sources.pop(variant))
            del batch.messages[variant]
        for message_id, source in batch.sources.items():
            if source.variant_of:
                self._log.info(
                    "message.same_id_other_content",
                    folder=source.folder,
                    uid=source.uid,
                    message_id=message_id,
                    original=source.variant_of,
                )
        self.state.clear_failures(self.mailbox, [(s.folder, s.uidvalidity, s.uid) for s in copies])
        return batch
