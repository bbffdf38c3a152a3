"""Recipient routing: the matcher on real and hostile headers, route config, and the planner's routes."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.adapters.state.store import SqliteStateStore
from bridge.core.model import Message
from bridge.core.parsing import parse_message
from bridge.core.render.page import render_merge_note
from bridge.core.routing import RouteRule, canonical_address, match_route, route_of_title, unrouted_reason
from bridge.sync.actions import PublishGroup, Quarantine, Source
from bridge.sync.executor import Executor
from bridge.sync.planner import Batch, PlanSettings, plan_groups, plan_policy, plan_routes
from tests.contract.state_backends import published
from tests.fakes import FakeWiki
from tests.hostile_headers import TEXTS
from tests.settings import mailbox_settings
from tests.unit.test_config import _config, _problems

RULES = (
    RouteRule("vertrieb", ("vertrieb-wiki@firma.de", "verkauf-wiki@firma.de"), "Vertrieb/Mail"),
    RouteRule("einkauf", ("wiki+einkauf@firma.de",), "Einkauf/Mail"),
    RouteRule("technik", ("*@technik.firma.de",), "Technik/Mail"),
)
ROUTES = tuple(
    {"name": rule.name, "recipients": rule.recipients, "page_prefix": rule.page_prefix} for rule in RULES
)


def mail(*headers: str, body: str = "Hallo\n") -> Message:
    """A parsed mail with these header lines."""
    raw = "\r\n".join(["From: anna@kunde.de", "Subject: Angebot", "Message-ID: <m@kunde.de>", *headers])
    return parse_message((raw + "\r\n\r\n" + body).encode())


def test_alias_plus_address_and_domain_pattern_each_find_their_route() -> None:
    """Addresses case-insensitively, plus tags as part of the address, `*@domain` for a whole domain."""
    assert match_route(mail("To: Vertrieb <VERTRIEB-Wiki@Firma.DE>"), RULES).route == "vertrieb"  # type: ignore[union-attr]
    assert match_route(mail("To: wiki+einkauf@firma.de"), RULES).route == "einkauf"  # type: ignore[union-attr]
    assert match_route(mail("Cc: hans@technik.firma.de"), RULES).route == "technik"  # type: ignore[union-attr]
    assert match_route(mail("To: wiki@firma.de"), RULES) is None
    assert match_route(mail("To: wiki+verkauf@firma.de"), RULES) is None
    assert match_route(mail("To: x@sub.technik.firma.de"), RULES) is None


def test_the_receiving_servers_headers_are_trusted_before_to_and_cc() -> None:
    """Delivered-To beats X-Original-To beats To beats Cc, whatever the order of the routes."""
    both = mail("To: vertrieb-wiki@firma.de", "Delivered-To: wiki+einkauf@firma.de")
    assert match_route(both, RULES) == match_route(both, RULES[::-1])
    found = match_route(both, RULES)
    assert found is not None and (found.route, found.header) == ("einkauf", "Delivered-To")
    alias = mail(
        "Delivered-To: wiki@firma.de", "X-Original-To: verkauf-wiki@firma.de", "To: x@technik.firma.de"
    )
    found = match_route(alias, RULES)
    assert found is not None and (found.route, found.address, found.header) == (
        "vertrieb",
        "verkauf-wiki@firma.de",
        "X-Original-To",
    )
    cc = mail("To: nobody@firma.de", "Cc: vertrieb-wiki@firma.de, wiki+einkauf@firma.de")
    assert match_route(cc, RULES).route == "vertrieb"  # type: ignore[union-attr]  # first route of the file


def test_unrouted_reason_names_the_first_recipients() -> None:
    """The quarantine reason names who the mail was for, at most three, and how many more."""
    many = mail("To: a@x.de, b@x.de", "Cc: c@x.de, d@x.de, e@x.de")
    assert unrouted_reason(many) == "no route for a@x.de, b@x.de, c@x.de and 2 more"
    assert unrouted_reason(mail()) == "no route for this mail: it names no recipient"


def test_canonical_addresses() -> None:
    """Brackets, case and a trailing dot do not matter; what is not one address is nothing."""
    assert canonical_address(" <Wiki+Einkauf@Firma.DE.> ") == "wiki+einkauf@firma.de"
    assert [
        canonical_address(t) for t in ("", "wiki", "@firma.de", "a@b@c", "a b@c.de", "x" * 300 + "@a.de")
    ] == [""] * 6


def test_route_of_a_page_is_the_route_of_its_prefix() -> None:
    """A page's parent names its route, in the wiki's spelling (first letter, underscores)."""
    assert route_of_title("Einkauf/Mail/Angebot", RULES) == "einkauf"
    assert route_of_title("einkauf/Mail/Angebot (part 2)", RULES) == "einkauf"
    assert route_of_title("Vertrieb/Mail/Neue Preise", RULES) == "vertrieb"
    assert route_of_title("Wiki/Mail/Angebot", RULES) is None
    assert route_of_title("Vertrieb/Mail/Sub/x", RULES) is None


_HOSTILE = st.one_of(
    st.sampled_from(TEXTS),
    st.text(max_size=200),
    st.lists(
        st.sampled_from(["<", ">", "@", ",", ";", ":", '"', "(", ")", "\\", " ", "a", "=?utf-8?b?", "?="])
    ).map("".join),
    st.just("(" * 3000 + "a@b.de"),
    st.just("g:" * 2000 + "vertrieb-wiki@firma.de;"),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(
        st.tuples(st.sampled_from(["To", "Cc", "Delivered-To", "X-Original-To"]), _HOSTILE), max_size=6
    )
)
def test_matching_hostile_headers_never_raises_and_finds_only_named_routes(
    values: list[tuple[str, str]],
) -> None:
    """Whatever the recipient headers hold, matching returns a route that names the matched address."""
    lines = [f"{name}: {value}".replace("\r", " ").replace("\n", " ") for name, value in values]
    message = parse_message(
        ("\r\n".join(["From: a@b.de", *lines]) + "\r\n\r\nx").encode("utf-8", "surrogateescape")
    )
    found = match_route(message, RULES)
    unrouted_reason(message)
    if found is not None:
        rule = next(r for r in RULES if r.name == found.route)
        assert found.address in rule.addresses or found.address.rpartition("@")[2] in rule.domains


def test_nested_groups_keep_the_routed_address() -> None:
    """An address inside thousands of nested groups (the parser's recursion limit) still routes."""
    assert match_route(mail("To: " + "g:" * 2000 + "vertrieb-wiki@firma.de;"), RULES).route == "vertrieb"  # type: ignore[union-attr]


# -- config ----------------------------------------------------------------------------------


def test_a_route_overrides_only_what_it_sets() -> None:
    """for_route: the route's prefix, look, senders, reply and redaction; the rest is the mailbox's."""
    mailbox = mailbox_settings(
        categories=("Team",),
        language="en",
        redact=("iban",),
        allowed_senders=("*@firma.de",),
        routes=(
            {
                "recipients": ("a@firma.de",),
                "page_prefix": "Einkauf/Mail",
                "language": "de",
                "reply": "never",
            },
        ),
    )
    routed = mailbox.for_route("Einkauf/Mail")
    assert (routed.space.page_prefix, routed.space.language, routed.space.categories) == (
        "Einkauf/Mail",
        "de",
        ("Team",),
    )
    assert routed.senders.allowed_senders == ("*@firma.de",)
    assert [k.value for k in routed.redaction.redact] == ["iban"]
    assert routed.replies.reply == "never" and routed.name == mailbox.name
    assert mailbox.for_route(None) is mailbox and mailbox.for_route("gone") is mailbox


def _problems_of(tmp_path: Path, tables: str) -> list[str]:
    """The problems of a config whose mailbox "wiki" (prefix Wiki/Mail) ends with `tables`."""
    mailboxes = f"""
[[mailboxes]]
name = "wiki"
host = "imap.example.org"
username = "wiki@example.org"
password_file = "{tmp_path / "imap.secret"}"
page_prefix = "Wiki/Mail"
{tables}"""
    return _problems(_config(tmp_path, mailboxes=mailboxes))


def test_bad_routes_stop_start_up_naming_the_key(tmp_path: Path) -> None:
    """Unknown keys, bad recipients, a missing prefix and a bad `unrouted` are named by key."""
    problems = _problems_of(
        tmp_path,
        """unrouted = "drop"

[[mailboxes.routes]]
recipients = ["wiki+*@firma.de"]
page_prefix = "Vertrieb/Mail"
colour = "red"

[[mailboxes.routes]]
recipients = []
page_prefix = "Einkauf/Mail"

[[mailboxes.routes]]
recipients = ["a@firma.de"]
""",
    )
    assert "mailboxes[0].unrouted: must be quarantine or default" in problems
    assert any(
        p.startswith("mailboxes[0].routes[0].recipients: 'wiki+*@firma.de' is neither") for p in problems
    )
    assert "mailboxes[0].routes[0].colour: is not a known setting (check its spelling)" in problems
    assert any(p.startswith("mailboxes[0].routes[1].recipients: must be a non-empty list") for p in problems)
    assert any(p.startswith("mailboxes[0].routes[2].page_prefix: is required") for p in problems)


def test_two_routes_cannot_share_a_prefix(tmp_path: Path) -> None:
    """A page tells its route by its prefix: a route on the mailbox's own is refused; names are unique."""
    problems = _problems_of(
        tmp_path,
        """
[[mailboxes.routes]]
recipients = ["a@firma.de"]
page_prefix = "Wiki/Mail"
""",
    )
    assert any(
        p.startswith("mailboxes[0].routes[0].page_prefix: 'Wiki/Mail' is the prefix of the mailbox")
        for p in problems
    )
    twice = """
[[mailboxes.routes]]
name = "b"
recipients = ["b@firma.de"]
page_prefix = "B/Mail"

[[mailboxes.routes]]
name = "b"
recipients = ["c@firma.de"]
page_prefix = "C/Mail"
"""
    assert "mailboxes[0].routes[1].name: 'b' names another route too" in _problems_of(tmp_path, twice)


def test_bad_redaction_settings_are_named(tmp_path: Path) -> None:
    """An unknown kind, a pattern that does not compile or matches empty text, a bad type: named."""
    problems = _problems_of(
        tmp_path,
        """redact = ["iban", "passport"]
redact_patterns = ["(unclosed"]
redact_attachment_types = ["not a type!"]

[[mailboxes.routes]]
recipients = ["a@firma.de"]
page_prefix = "A/Mail"
redact_patterns = ["x*"]
""",
    )
    assert any(p.startswith("mailboxes[0].redact: 'passport' is not a kind") for p in problems)
    assert any(
        p.startswith("mailboxes[0].redact_patterns: '(unclosed' is not a regular expression")
        for p in problems
    )
    assert any(
        p.startswith("mailboxes[0].redact_attachment_types: 'not a type!' is neither") for p in problems
    )
    assert any(
        p.startswith("mailboxes[0].routes[0].redact_patterns: 'x*' matches empty text") for p in problems
    )


# -- planning --------------------------------------------------------------------------------


def _message(message_id: str, to: str, *refs: str) -> Message:
    return Message(
        message_id=message_id,
        references=refs,
        subject=f"Thema {message_id}",
        sender_name="",
        sender_address="anna@kunde.de",
        date=datetime(2026, 11, 27, tzinfo=UTC),
        body_text="x",
        to=(("", to),),
    )


def _batch(*messages: Message) -> Batch:
    return Batch(
        {m.message_id: m for m in messages},
        {m.message_id: Source("INBOX", i + 1, 7) for i, m in enumerate(messages)},
    )


def test_planner_routes_new_threads_quarantines_unrouted_and_keeps_replies_with_their_page() -> None:
    """New threads go to their route's prefix; a reply to a known page stays there (and says so);
    mail no route takes is quarantined with the reason, unless `unrouted = "default"`."""
    mailbox = mailbox_settings(routes=ROUTES)
    plan = PlanSettings(mailbox)
    batch = _batch(
        _message("a@k", "vertrieb-wiki@firma.de"),
        _message("b@k", "wiki+einkauf@firma.de", "a@k"),  # same thread as a: follows a's route
        _message("c@k", "nobody@firma.de"),
        _message("d@k", "hans@technik.firma.de", "old@k"),  # reply to a known Einkauf page
    )
    known, pages = {"old@k": 5}, {5: "Einkauf/Mail/Altes Thema"}
    routing = plan_routes(list(batch.messages.values()), known, pages, mailbox)
    assert routing.routes == {"a@k": "vertrieb", "b@k": "vertrieb", "d@k": "einkauf"}
    assert routing.unrouted == {"c@k": "no route for nobody@firma.de"}
    assert routing.followed == {"d@k": "technik"}
    kept, actions = plan_policy(batch, {}, plan, routing)
    [held] = actions
    assert isinstance(held, Quarantine) and held.refusal.code == "no_route"
    groups = plan_groups(kept, known, pages, plan, routing=routing)
    published = {a.route: (a.page, a.new_title) for a in groups if isinstance(a, PublishGroup)}
    assert published == {
        "vertrieb": (None, "Vertrieb/Mail/Thema a@k"),
        "einkauf": ("Einkauf/Mail/Altes Thema", "Einkauf/Mail/Thema d@k"),
    }
    default = mailbox_settings(routes=ROUTES, unrouted="default")
    assert plan_routes([batch.messages["c@k"]], {}, {}, default).routes == {"c@k": None}
    released = plan_routes([batch.messages["c@k"]], {}, {}, mailbox, released=["c@k"])
    assert (released.routes, released.unrouted) == ({"c@k": None}, {})


def test_a_routes_sender_policy_and_redacted_title() -> None:
    """A route's allowed_senders quarantine mail of others; its redaction names the page."""
    mailbox = mailbox_settings(
        routes=(
            {
                "recipients": ("vertrieb-wiki@firma.de",),
                "page_prefix": "Vertrieb/Mail",
                "allowed_senders": ("*@firma.de",),
                "redact": ("iban",),
                "language": "de",
            },
        )
    )
    ok = dataclasses.replace(
        _message("a@k", "vertrieb-wiki@firma.de"),
        sender_address="eva@firma.de",
        subject="IBAN DE89370400440532013000",
    )
    batch = _batch(ok, _message("b@k", "vertrieb-wiki@firma.de"))
    routing = plan_routes(list(batch.messages.values()), {}, {}, mailbox)
    kept, actions = plan_policy(batch, {}, PlanSettings(mailbox), routing)
    assert [a.refusal.code for a in actions if isinstance(a, Quarantine)] == ["not_allowed"]
    [publish] = plan_groups(kept, {}, {}, PlanSettings(mailbox), routing=routing)
    assert isinstance(publish, PublishGroup)
    assert publish.new_title == "Vertrieb/Mail/IBAN IBAN entfernt"


def test_a_merge_note_is_written_in_the_language_of_its_pages_route(tmp_path: Path) -> None:
    """Threads of a German route merged: the note on their page is German, in an English mailbox."""
    mailbox = mailbox_settings(routes=(*ROUTES[:1], {**ROUTES[1], "language": "de"}))
    state = SqliteStateStore(tmp_path / "state.sqlite3")
    wiki = FakeWiki()
    try:
        older = published(state, "team", "Einkauf/Mail/Angebot", "a@k")
        newer = published(state, "team", "Einkauf/Mail/Re Angebot", "b@k")
        for title in ("Einkauf/Mail/Angebot", "Einkauf/Mail/Re Angebot"):
            wiki.put_page(title, "text")
        state.mark_merged(newer, into=older)
        Executor(mailbox, wiki, state, None, lambda *_: [], threading.Event()).write_merge_notes()
    finally:
        state.close()
    note = wiki.pages["Einkauf/Mail/Re Angebot"].text
    assert render_merge_note("Einkauf/Mail/Angebot", "de").strip() in note
