"""Link replies of one mapping: deciding who gets one, and sending them at most once.

Before a thread's wiki edit, each message's reply is drafted in the state store with what
composing it needs (`ReplySeed`) and the loop rule that forbids it, if any. When the message is
confirmed (by the edit's answer, or at the start of the next pass by recovery finding its marker
on the page) the draft becomes a reply row: `intended` with its composed bytes, or `suppressed`
with the reason; a draft whose intent was discarded is dropped. Sending marks a reply `sending`
first and `sent` after the server's 250. A refusal or a connection lost before the mail data was
sent puts it back to `intended` for the next pass; a connection lost after that, or a reply found
`sending` at the start of a pass (a crash at an unknown point), makes it `uncertain`: the server
may have it, so it is never sent again and nobody gets the same reply twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import structlog

from bridge.adapters.state.ports import OutboxLedger
from bridge.adapters.state.replies import ReplyDraft, ReplyIntent
from bridge.adapters.state.statuses import ReplyKind, ReplyStatus
from bridge.core.people import Insiders
from bridge.core.render.labels import Language
from bridge.core.render.page import message_anchor
from bridge.core.replies import (
    ReplyContext,
    ReplyRules,
    ReplySeed,
    ReplyTexts,
    compose_acknowledgement,
    compose_refusal,
    compose_reply,
    limit_reason,
    refusal_reason,
    suppression_reason,
)
from bridge.errors import MailError, MailUncertainError
from bridge.service.config import MailboxReplies, ReplyMode, SmtpSettings
from bridge.sync.actions import Reply
from bridge.sync.ports import Sender

log = structlog.get_logger("bridge.sync.outbox")


class Outbox:
    """Plans and sends the replies of one mapping."""

    def __init__(
        self,
        mailbox: str,
        replies: MailboxReplies,
        language: Language,
        smtp: SmtpSettings | None,
        state: OutboxLedger,
        own_addresses: frozenset[str],
        page_url: Callable[[str], str],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        page_replies: Callable[[str], tuple[ReplyMode, Language]] | None = None,
        insiders: Insiders | None = None,
    ) -> None:
        """`page_replies` gives the reply mode and language of a page's route (a mapping with routes)."""
        self.mailbox = mailbox
        self.replies = replies
        self.language = language
        self.smtp = smtp
        self.state = state
        self.page_url = page_url
        self.now = now
        self.rules = ReplyRules(
            own_addresses=own_addresses,
            max_age=timedelta(days=replies.reply_max_age_days),
            per_sender_per_hour=smtp.max_replies_per_sender_per_hour if smtp else 0,
        )
        self.texts = ReplyTexts.load(language, replies.reply_templates)
        self.page_replies = page_replies
        self._texts = {language: self.texts}
        # Who is inside the company (the planner replies with links only to them); None: everyone.
        self.insiders = insiders
        self.suppressed = 0
        self._log = log.bind(mailbox=mailbox)

    @property
    def enabled(self) -> bool:
        """Whether this mapping sends link replies at all."""
        return self.smtp is not None and (self.replies.reply != "never" or self.page_replies is not None)

    def _recent(self, recipient: str) -> int:
        """How many replies `recipient` got or is due within the last hour (over all mailboxes)."""
        return self.state.replies_since(recipient, self.now() - timedelta(hours=1)) if recipient else 0

    def _context(self, page_title: str, message_id: str) -> ReplyContext:
        assert self.smtp is not None
        page = self.page_url(page_title)
        return ReplyContext(
            from_address=self.smtp.address,
            reply_to=self.replies.address,
            mailbox=self.mailbox,
            page_url=page,
            message_url=f"{page}#{message_anchor(message_id)}",
            from_name=self.smtp.display_name,
        )

    def draft_link_replies(self, replies: Sequence[Reply]) -> None:
        """Before the wiki edit of their mail, record the link replies the plan decided on.

        The loop rules were decided by the planner, from the parsed mail; recovery, which knows
        only message ids, can then still reply to a message whose edit it finds on the page.
        """
        if not self.enabled:
            return
        drafts = [
            ReplyDraft(
                message_id=reply.message.message_id,
                recipient=reply.recipient,
                seed=ReplySeed.of(reply.message, reply.acknowledge).to_json(),
                reason=reply.forbidden,
            )
            for reply in replies
        ]
        self.state.record_reply_drafts(self.mailbox, drafts)

    def drop_discarded_drafts(self) -> None:
        """Drop the drafts of messages whose intent was discarded: publishing them again drafts anew.

        Called where no edit is in flight (at the start of a pass, after recovery).
        """
        dropped = self.state.drop_orphaned_reply_drafts(self.mailbox)
        if dropped:
            self._log.info("reply.drafts_dropped", count=dropped)

    def promote_confirmed(self) -> None:
        """Turn the drafts of confirmed messages into due replies, or suppressed ones with the reason."""
        for confirmed in self.state.confirmed_reply_drafts(self.mailbox):
            draft = confirmed.draft
            seed = ReplySeed.from_json(draft.seed)
            # Replies count per conversation: the continuation parts of a thread are one.
            conversation = self.state.thread_part(confirmed.thread_id).first_id
            mode, language = self._page(confirmed.page_title)
            reason = draft.reason or self._not_now(seed, draft.recipient, conversation, mode)
            payload = None
            if reason is None and seed.acknowledge:
                texts = self._texts_in(language)
                payload = compose_acknowledgement(seed, self._unlinked(), texts, self.now()).as_bytes()
            elif reason is None:
                context = self._context(confirmed.page_title, seed.message_id)
                payload = compose_reply(seed, context, self._texts_in(language), self.now()).as_bytes()
            new = self.state.promote_reply_draft(
                self.mailbox, draft.message_id, conversation, reason, payload
            )
            self._count_suppressed(new, draft.message_id, ReplyKind.LINK, reason)

    def _page(self, page_title: str) -> tuple[ReplyMode, Language]:
        """The reply mode and language of the route the page belongs to (the mapping's without routes)."""
        return self.page_replies(page_title) if self.page_replies else (self.replies.reply, self.language)

    def _texts_in(self, language: Language) -> ReplyTexts:
        if language not in self._texts:
            self._texts[language] = ReplyTexts.load(language, self.replies.reply_templates)
        return self._texts[language]

    def _not_now(self, seed: ReplySeed, recipient: str, thread_id: int, mode: ReplyMode) -> str | None:
        """What forbids the reply at the time of confirmation: settings, the limits, `reply = "first"`."""
        if not self.enabled or mode == "never":
            return "link replies are switched off"
        reason = limit_reason(seed.date, self.rules, self.now(), self._recent(recipient))
        first = mode == "first"
        if reason is None and first and self.state.replied_in_thread(self.mailbox, thread_id, recipient):
            reason = "already told about this thread (reply = first)"
        return reason

    def _unlinked(self) -> ReplyContext:
        """The context of a reply that names no page: refusals and acknowledgements."""
        assert self.smtp is not None
        return ReplyContext(
            self.smtp.address, self.replies.address, self.mailbox, "", "", self.smtp.display_name
        )

    def plan_refusal(self, reply: Reply) -> None:
        """Record the mail telling a refused sender why (`reply_unpublished`), unless a rule says no.

        The loop rules and the hourly limit per recipient bound what a forged From can cause; a
        sender outside the company gets no refusal (it names the wiki), or with `external_reply =
        "acknowledge"` the acknowledgement.
        """
        message, refusal = reply.message, reply.refusal
        recipient = message.sender_address.lower()
        if self.smtp is None or not self.replies.reply_unpublished or not recipient or refusal is None:
            return
        reason = reply.forbidden or suppression_reason(
            message, self.rules, self.now(), self._recent(recipient)
        )
        payload = None
        seed = ReplySeed.of(message)
        if reason is None and reply.acknowledge:
            payload = compose_acknowledgement(seed, self._unlinked(), self.texts, self.now()).as_bytes()
        elif reason is None:
            reason_text = refusal_reason(refusal.code, self.language)
            payload = compose_refusal(seed, reason_text, self._unlinked(), self.texts, self.now()).as_bytes()
        new = self.state.record_reply(
            self.mailbox, message.message_id, recipient, ReplyKind.REFUSAL, None, reason, payload
        )
        self._count_suppressed(new, message.message_id, ReplyKind.REFUSAL, reason)

    def _count_suppressed(self, new: bool, message_id: str, kind: ReplyKind, reason: str | None) -> None:
        if new and reason is not None:
            self.suppressed += 1
            self._log.info("reply.suppressed", message_id=message_id, kind=kind, reason=reason)

    def send_due(self, sender: Sender) -> tuple[int, int]:
        """Send every due reply; return (sent, still due).

        A temporary failure (server down, 4xx) or a lost connection stops sending until the next
        pass; a permanent refusal of one recipient (5xx) marks that reply `refused` and goes on.
        """
        sent = 0
        due = self.state.open_replies(self.mailbox)
        for index, reply in enumerate(due):
            if reply.status == ReplyStatus.SENDING:
                self._uncertain(reply, "a crash interrupted sending")
                continue
            self._set(reply, ReplyStatus.SENDING)
            try:
                sender.send(reply.payload, reply.recipient)
            except MailUncertainError as exc:
                self._uncertain(reply, str(exc))
                return sent, len(due) - index - 1
            except MailError as exc:
                if exc.permanent:
                    # This recipient or mail is refused for good; the others still go out.
                    self._set(reply, ReplyStatus.REFUSED)
                    self._log.warning(
                        "reply.refused", message_id=reply.message_id, kind=reply.kind, error=str(exc)
                    )
                    continue
                self._set(reply, ReplyStatus.INTENDED)
                self._log.warning(
                    "reply.deferred", message_id=reply.message_id, kind=reply.kind, error=str(exc)
                )
                return sent, len(due) - index
            self._set(reply, ReplyStatus.SENT)
            self._log.info("reply.sent", message_id=reply.message_id, kind=reply.kind)
            sent += 1
        return sent, 0

    def _set(self, reply: ReplyIntent, status: ReplyStatus) -> None:
        self.state.set_reply_status(self.mailbox, reply.message_id, reply.recipient, reply.kind, status)

    def _uncertain(self, reply: ReplyIntent, cause: str) -> None:
        """The server may have the reply: never send it again (a lost reply beats a doubled one)."""
        self._set(reply, ReplyStatus.UNCERTAIN)
        self._log.warning(
            "reply.uncertain",
            message_id=reply.message_id,
            kind=reply.kind,
            detail=f"{cause}; not sent again to avoid a duplicate",
        )
