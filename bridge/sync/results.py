"""What a pass did (`PassResult`), and the failure log that records mail that cannot be published."""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from bridge.adapters.state.ports import FailureRecorder
from bridge.core.retry import RetryPolicy
from bridge.service.config import MailboxSettings
from bridge.sync.actions import Source

log = structlog.get_logger("bridge.sync.executor")
_COUNTS = (
    *("fetched", "published", "duplicates", "failed", "quarantined", "backlog"),
    *("replies_sent", "replies_due", "replies_suppressed"),
)


@dataclass
class PassResult:
    """What one pass of one mailbox did."""

    mailbox: str
    fetched: int = 0
    published: int = 0
    duplicates: int = 0
    failed: int = 0
    quarantined: int = 0
    replies_sent: int = 0
    replies_due: int = 0
    replies_suppressed: int = 0
    backlog: int = 0
    pages_created: list[str] = field(default_factory=list)
    pages_extended: list[str] = field(default_factory=list)

    def add(self, other: PassResult) -> None:
        """Count what `other` (a part of this pass, done on another thread) did into this result."""
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.pages_created += other.pages_created
        self.pages_extended += other.pages_extended


class FailureLog:
    """Records mail that cannot be published: reason, tries so far, when to try again."""

    def __init__(self, settings: MailboxSettings, state: FailureRecorder) -> None:
        self.mailbox = settings.name
        self.state = state
        self.policy = RetryPolicy(settings.polling.max_attempts)
        self._log = log.bind(mailbox=settings.name)

    def record(self, source: Source, message_id: str | None, reason: str, result: PassResult) -> None:
        """Record one failed mail; it stays in its mailbox and is retried, then parked."""
        result.failed += 1
        attempts = self.state.record_failure(
            self.mailbox, source.folder, source.uidvalidity, source.uid, message_id, reason, self.policy
        )
        self._log.warning(
            "message.parked" if self.policy.parks(attempts) else "message.failed",
            folder=source.folder,
            uid=source.uid,
            message_id=message_id,
            reason=reason,
            attempts=attempts,
        )
