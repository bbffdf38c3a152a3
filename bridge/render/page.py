"""Thread pages as wikitext (pure): one section per message, each marked with its Message-ID.

The marker `data-message-id="…"` is written in one canonical, escaped form, so the bridge can
find on the page whether a message is already there (crash recovery) and later checks can read
it from the parsed HTML.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from bridge.model import Message
from bridge.render.escape import escape_wikitext, single_line
from bridge.render.titles import NO_SUBJECT


def message_anchor(message_id: str) -> str:
    """Return the stable HTML id of a message's block (`#msg-…` links to it)."""
    return "msg-" + hashlib.sha256(message_id.encode()).hexdigest()[:16]


def message_marker(message_id: str) -> str:
    """Return the exact attribute text that marks a message's block in the page's wikitext."""
    return f'data-message-id="{escape_wikitext(message_id)}"'


def render_new_page(messages: Sequence[Message], mailbox: str, categories: Sequence[str]) -> str:
    """Return the full wikitext of a new thread page holding `messages` in date order."""
    intro = (
        f"''This conversation was published from the {escape_wikitext(single_line(mailbox))} mailbox "
        "by email-wiki-bridge. Later mails of the thread are added at the end of the page; "
        "you can edit and comment here.''"
    )
    category_lines = [f"[[Category:{escape_wikitext(single_line(name))}]]" for name in categories]
    return "\n".join([intro, *category_lines, "", render_messages(messages)])


def render_messages(messages: Sequence[Message]) -> str:
    """Return the wikitext of the message sections, oldest first, for a new page or an append."""
    ordered = sorted(messages, key=lambda message: (message.date, message.message_id))
    return "\n\n".join(_render_message(message) for message in ordered) + "\n"


def _render_message(message: Message) -> str:
    subject = single_line(message.subject) or NO_SUBJECT
    sender = single_line(message.sender_name) or single_line(message.sender_address) or "(unknown sender)"
    body = escape_wikitext(message.body_text) if message.body_text.strip() else "(empty message)"
    return "\n".join(
        [
            f"== {escape_wikitext(subject)} ==",
            f'<div class="ewb-message" id="{message_anchor(message.message_id)}" '
            f"{message_marker(message.message_id)}>",
            f"'''From:''' {escape_wikitext(sender)}<br />",
            f"'''Date:''' {message.date.isoformat()}<br />",
            f"'''Subject:''' {escape_wikitext(subject)}",
            f'<pre class="ewb-body" style="white-space: pre-wrap;">{body}</pre>',
            "</div>",
        ]
    )


def merge_marker(into_title: str) -> str:
    """Return the exact attribute text that marks the note pointing a page to `into_title`."""
    return f'data-merged-into="{escape_wikitext(into_title)}"'


def render_merge_note(into_title: str) -> str:
    """Return the note appended to a thread page whose conversation continues on `into_title`.

    `into_title` is a title the bridge created (see `titles.page_title`), never mail text.
    """
    return (
        f'\n\n<div class="ewb-merge-note" {merge_marker(into_title)}>\n'
        f"''This conversation continues on [[{into_title}]], where a later mail joined it "
        "with another thread.''\n</div>\n"
    )
