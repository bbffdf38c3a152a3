"""When a mail that failed is tried again, and when the bridge stops trying (pure).

A mail that fails keeps its place in the mailbox and is retried on later passes with growing
intervals, so one broken mail costs little even when it never goes through; after
`max_attempts` tries it is parked until an admin asks for another try (`failures retry`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# One minute, then four times longer each time: 1, 4, 16, 64 minutes, never more than 6 hours.
FIRST_DELAY = timedelta(minutes=1)
GROWTH = 4
LONGEST_DELAY = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a failed mail is tried before it is parked."""

    max_attempts: int = 5

    def parks(self, attempts: int) -> bool:
        """Whether a mail that has failed `attempts` times is parked (no automatic tries)."""
        return attempts >= self.max_attempts

    def next_attempt(self, attempts: int, now: datetime) -> datetime:
        """When a mail that has failed `attempts` times is tried again."""
        delay: timedelta = min(FIRST_DELAY * GROWTH ** max(attempts - 1, 0), LONGEST_DELAY)
        return now + delay
