"""Link replies of one mapping: deciding who gets one (at publish time) and sending them.

A reply is composed and recorded `intended` (with its bytes) in the state store when its
message is published; sending marks it `sending` first and `sent` after the server's 250. A
refused or dropped SMTP connection puts it back to `intended` for the next pass. A reply found
`sending` at the start of a pass was cut short by a crash at an unknown point: it is marked
`uncertain` and not sent again, so nobody gets the same reply twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog

from bridge.config import MailboxSettings, SmtpSettings
from bridge.errors import MailError
from bridge.model import Message
from bridge.render.page import message_anchor
from bridge.replies import (
    ReplyContext,
    ReplyRules,
    ReplyTexts,
    compose_refusal,
    compose_reply,
    refusal_reason,
    suppression_reason,
)
from bridge.senders import Refusal
from bridge.state import StateStore

log = structlog.get_logger("bridge.outbox")
LINK, REFUSAL = "link", "refusal"


class Sender(Protocol):
    """What the outbox needs of an SMTP session (`smtp.Mailer`, or a dry-run recorder)."""

    def send(self, message: bytes, recipient: str) -> None: ...


class Outbox:
    """Plans and sends the replies of one mapping."""

    def __init__(
        self,
        settings: MailboxSettings,
        smtp: SmtpSettings | None,
        state: StateStore,
        own_addresses: frozenset[str],
        page_url: Callable[[str], str],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.smtp = smtp
        self.state = state
        self.page_url = page_url
        self.now = now
        self.rules = ReplyRules(
            own_addresses=own_addresses,
            max_age=timedelta(days=settings.reply_max_age_days),
            per_sender_per_hour=smtp.max_replies_per_sender_per_hour if smtp else 0,
        )
        self.texts = ReplyTexts.load(settings.language, settings.reply_templates)
        self.suppressed = 0
        self._log = log.bind(mailbox=settings.name)

    @property
    def enabled(self) -> bool:
        """Whether this mapping sends link replies at all."""
        return self.smtp is not None and self.settings.reply != "never"

    def _suppressed(self, message: Message) -> str | None:
        recipient = message.sender_address.lower()
        recent = self.state.replies_since(recipient, self.now() - timedelta(hours=1)) if recipient else 0
        return suppression_reason(message, self.rules, self.now(), recent)

    def _context(self, page_title: str, message: Message) -> ReplyContext:
        assert self.smtp is not None
        page = self.page_url(page_title)
        return ReplyContext(
            from_address=self.smtp.from_address,
            reply_to=self.settings.address,
            mailbox=self.settings.name,
            page_url=page,
            message_url=f"{page}#{message_anchor(message.message_id)}",
        )

    def plan_link_replies(self, messages: Sequence[Message], thread_id: int, page_title: str) -> None:
        """Record, for each newly published message, the reply its sender gets, or why none."""
        if not self.enabled:
            return
        for message in messages:
            recipient = message.sender_address.lower()
            reason = self._suppressed(message)
            if (
                reason is None
                and self.settings.reply == "first"
                and self.state.replied_in_thread(self.settings.name, thread_id, recipient)
            ):
                reason = "already told about this thread (reply = first)"
            payload = None
            if reason is None:
                payload = compose_reply(
                    message, self._context(page_title, message), self.texts, self.now()
                ).as_bytes()
            self._record(message, recipient, LINK, thread_id, reason, payload)

    def plan_refusal(self, message: Message, refusal: Refusal) -> None:
        """Record the mail telling a refused sender why (`reply_unpublished`), unless a loop rule says no.

        The loop rules and the hourly limit per recipient bound what a forged From can cause.
        """
        if self.smtp is None or not self.settings.reply_unpublished:
            return
        recipient = message.sender_address.lower()
        reason = self._suppressed(message)
        payload = None
        if reason is None:
            context = ReplyContext(self.smtp.from_address, self.settings.address, self.settings.name, "", "")
            reason_text = refusal_reason(refusal.code, self.settings.language)
            payload = compose_refusal(message, reason_text, context, self.texts, self.now()).as_bytes()
        self._record(message, recipient, REFUSAL, None, reason, payload)

    def _record(
        self,
        message: Message,
        recipient: str,
        kind: str,
        thread_id: int | None,
        reason: str | None,
        payload: bytes | None,
    ) -> None:
        if not recipient:
            return
        new = self.state.record_reply(
            self.settings.name, message.message_id, recipient, kind, thread_id, reason, payload
        )
        if new and reason is not None:
            self.suppressed += 1
            self._log.info("reply.suppressed", message_id=message.message_id, kind=kind, reason=reason)

    def send_due(self, sender: Sender) -> tuple[int, int]:
        """Send every due reply; return (sent, still due).

        A temporary failure (server down, 4xx) stops sending until the next pass; a permanent
        refusal of one recipient (5xx) marks that reply `refused` and goes on with the others.
        """
        sent = 0
        due = self.state.open_replies(self.settings.name)
        for index, reply in enumerate(due):
            if reply.status == "sending":
                self.state.set_reply_status(
                    self.settings.name, reply.message_id, reply.recipient, reply.kind, "uncertain"
                )
                self._log.warning(
                    "reply.uncertain",
                    message_id=reply.message_id,
                    kind=reply.kind,
                    detail="a crash interrupted sending; not sent again to avoid a duplicate",
                )
                continue
            self.state.set_reply_status(
                self.settings.name, reply.message_id, reply.recipient, reply.kind, "sending"
            )
            try:
                sender.send(reply.payload, reply.recipient)
            except MailError as exc:
                if exc.permanent:
                    # This recipient or mail is refused for good; the others still go out.
                    self.state.set_reply_status(
                        self.settings.name, reply.message_id, reply.recipient, reply.kind, "refused"
                    )
                    self._log.warning(
                        "reply.refused", message_id=reply.message_id, kind=reply.kind, error=str(exc)
                    )
                    continue
                self.state.set_reply_status(
                    self.settings.name, reply.message_id, reply.recipient, reply.kind, "intended"
                )
                self._log.warning(
                    "reply.deferred", message_id=reply.message_id, kind=reply.kind, error=str(exc)
                )
                return sent, len(due) - index
            self.state.set_reply_status(
                self.settings.name, reply.message_id, reply.recipient, reply.kind, "sent"
            )
            self._log.info("reply.sent", message_id=reply.message_id, kind=reply.kind)
            sent += 1
        return sent, 0
