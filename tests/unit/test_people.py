"""Inside and outside the company (pure parts): who is a colleague, which account may be theirs,
how names and the participants note are written, and what replies the planner plans."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.core.forget import ForgetRequest, forget_on_page, names_of
from bridge.core.model import AutomationHeaders, Message
from bridge.core.people import (
    EXTERNAL_SENDER,
    AccountRules,
    Insiders,
    Person,
    people_of,
    rule_account,
    valid_account_name,
    wiki_user_name,
)
from bridge.core.render.page import message_marker
from bridge.core.render.people import (
    PeopleLinks,
    forget_participants,
    person_wikitext,
    render_participants,
    replace_participants,
)
from bridge.core.replies import ReplyContext, ReplySeed, ReplyTexts, compose_acknowledgement
from bridge.core.threads import ThreadGroup
from bridge.errors import ConfigError
from bridge.service.config import load_settings
from bridge.sync.actions import PublishGroup, Source, as_json, describe
from bridge.sync.planner import PlanSettings, plan_group
from tests.settings import mailbox_settings

FIRMA = Insiders(("firma.de", "*.firma.de"))
AUTH = "mx.firma.de; dmarc=pass header.from=firma.de"


def mail(sender: str = "a.schmidt@firma.de", name: str = "Anna Schmidt", **changes: object) -> Message:
    message = Message(
        message_id=f"{sender}-1@firma.de",
        references=(),
        subject="Angebot",
        sender_name=name,
        sender_address=sender,
        date=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        body_text="Hallo",
        automation=AutomationHeaders(return_path=sender),
    )
    return replace(message, **changes)  # type: ignore[arg-type]


# -- who is inside ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "inside"),
    [
        ("a.schmidt@firma.de", True),
        ("A.Schmidt@FIRMA.DE", True),
        ("x@vertrieb.firma.de", True),
        ("x@firma.de.evil.example", False),
        ("x@notfirma.de", False),
        ("firma.de", False),
        ("", False),
    ],
)
def test_colleagues_are_addresses_in_the_company_domains(address: str, inside: bool) -> None:
    assert FIRMA.address_inside(address) is inside


def test_with_require_authenticated_only_a_vouched_for_sender_is_inside() -> None:
    strict = Insiders(("firma.de",), require_authenticated=True, trusted_authserv_ids=("mx.firma.de",))
    vouched = mail(automation=AutomationHeaders(return_path="a@firma.de", authentication_results=(AUTH,)))
    assert strict.sender_inside(vouched)
    assert not strict.sender_inside(mail())  # the From header alone is forgeable
    assert FIRMA.sender_inside(mail())


def test_people_of_a_mail_leave_out_the_team_mailboxes() -> None:
    message = mail(to=(("Team", "vertrieb@firma.de"),), cc=(("Kunde", "k@kunde.example"), ("", "B@Firma.de")))
    assert people_of(message, FIRMA, {"vertrieb@firma.de"}) == [
        Person("Anna Schmidt", "a.schmidt@firma.de", True),
        Person("Kunde", "k@kunde.example", False),
        Person("", "b@firma.de", True),
    ]


# -- account names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "account"),
    [
        ("{local}", "a.schmidt"),
        ("{local_title}", "A.schmidt"),
        ("{local_words}", "A Schmidt"),
        ("{local}-{domain}", "a.schmidt-firma.de"),
    ],
)
def test_rules_make_account_names_of_addresses(rule: str, account: str) -> None:
    assert rule_account("a.schmidt@firma.de", rule) == account


@pytest.mark.parametrize(
    "local", ["a|b", "a]]b", "{{x}}", "a:b", "a/b", "x<script>", "a#b", "a=b", "a  b", "a\nb"]
)
def test_a_local_part_that_no_user_name_may_hold_gives_no_candidate(local: str) -> None:
    assert rule_account(f"{local}@firma.de", "{local}") is None


@given(st.text(max_size=40))
def test_candidates_never_carry_markup_or_api_separators(local: str) -> None:
    """Whatever a sender writes, a candidate is None or free of link, template and list syntax."""
    name = AccountRules("{local_title}").candidate(f"{local}@firma.de")
    assert name is None or (valid_account_name(name) and not re.search(r"[\[\]{}|<>#:/@]", name))


def test_the_admins_file_wins_over_the_rule() -> None:
    rules = AccountRules("{local}", {"a.schmidt@firma.de": "Anna Schmidt"})
    assert rules.candidate("A.Schmidt@firma.de") == "Anna Schmidt"
    assert rules.candidate("b.meier@firma.de") == "b.meier"
    assert wiki_user_name("b_meier") == "B meier"


# -- on the page -----------------------------------------------------------------------------

LINKS = PeopleLinks("Benutzer", {"a.schmidt@firma.de": "A.schmidt"})


def test_a_colleague_with_an_account_is_linked_and_others_stay_text() -> None:
    assert person_wikitext("Anna", "A.Schmidt@firma.de", "full", "de", LINKS) == (
        "[[Benutzer:A.schmidt|Anna &lt;A.Schmidt@firma.de&gt;]]"
    )
    assert person_wikitext("Kunde", "k@kunde.example", "name", "de", LINKS) == "Kunde"
    assert (
        person_wikitext("", "a.schmidt@firma.de", "none", "en", LINKS)
        == "[[Benutzer:A.schmidt|(address hidden)]]"
    )


@given(st.text(max_size=60))
def test_a_hostile_display_name_cannot_leave_the_link(name: str) -> None:
    """The link has exactly one `[[`, one `|` and one `]]`: the name cannot close or split it."""
    text = person_wikitext(name, "a.schmidt@firma.de", "name", "en", LINKS)
    assert text.startswith("[[Benutzer:A.schmidt|") and text.endswith("]]")
    assert (text.count("[["), text.count("]]"), text.count("|"), text.count("{{")) == (1, 1, 1, 0)


PEOPLE = [
    Person("Anna Schmidt", "a.schmidt@firma.de", True),
    Person("Carla", "c@firma.de", True),
    Person("Kunde", "k@kunde.example", False),
]


def test_the_note_lists_colleagues_and_counts_the_others() -> None:
    note = render_participants(PEOPLE, "full", "en", LINKS)
    assert (
        'Colleagues in this conversation: <span class="ewb-person">[[Benutzer:A.schmidt|Anna Schmidt]]'
        '</span>, <span class="ewb-person">Carla</span>'
    ) in note
    assert "people from outside the company: 1" in note
    assert "k@kunde.example" not in note and "Kunde" not in note
    many = [Person(f"P{n}", f"p{n}@firma.de", True) for n in range(20)]
    assert "and 8 more" in render_participants(many, "full", "en", LINKS)


def test_the_note_is_replaced_only_while_nobody_edited_it() -> None:
    old = render_participants(PEOPLE[:1], "full", "en", LINKS)
    new = render_participants(PEOPLE, "full", "en", LINKS)
    page = f"''intro''\n{old}\n[[Category:X]]\n\nhuman words"
    assert replace_participants(page, new) == f"''intro''\n{new}\n[[Category:X]]\n\nhuman words"
    assert replace_participants(page, old) is None  # nothing changed
    assert replace_participants(page.replace("Anna Schmidt]]", "Anna]] (lead)"), new) is None
    assert replace_participants("''intro''\nhuman words", new) is None  # removed by people


# -- replies ---------------------------------------------------------------------------------


def group_of(*messages: Message) -> ThreadGroup:
    return ThreadGroup(messages=messages, thread_id=None, also_linked=())


@pytest.mark.parametrize(
    ("external_reply", "forbidden", "acknowledge"),
    [("none", EXTERNAL_SENDER, False), ("acknowledge", None, True)],
)
def test_only_colleagues_get_link_replies(
    external_reply: str, forbidden: str | None, acknowledge: bool
) -> None:
    settings = PlanSettings(
        mailbox_settings(address="vertrieb@firma.de", reply="every", external_reply=external_reply),
        can_mail=True,
        insiders=FIRMA,
    )
    inside, outside = mail(), mail("kunde@kunde.example", "Kunde")
    [publish] = plan_group(
        group_of(inside, outside),
        {m.message_id: Source("INBOX", 1, 1) for m in (inside, outside)},
        {},
        settings,
    )
    assert isinstance(publish, PublishGroup)
    colleague, customer = publish.replies
    assert (colleague.forbidden, colleague.acknowledge) == (None, False)
    assert (customer.forbidden, customer.acknowledge) == (forbidden, acknowledge)
    assert as_json(publish)["replies"][1]["acknowledge"] is acknowledge
    assert ("acknowledgement" in describe(publish)[2]) is acknowledge


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_acknowledgement_names_no_page_no_link_and_no_wiki(language: str, tmp_path: Path) -> None:
    (tmp_path / f"acknowledge.{language}.txt").write_text("Link: $page_url $message_url for $subject\n")
    context = ReplyContext(
        "bridge@firma.de", "vertrieb@firma.de", "vertrieb", "https://wiki/x", "https://wiki/x#m"
    )
    for texts in (ReplyTexts.load(language, None), ReplyTexts.load(language, tmp_path)):
        reply = compose_acknowledgement(ReplySeed.of(mail(), True), context, texts, datetime.now(UTC))
        body = str(reply.get_content())
        assert "http" not in body and "wiki" not in body.lower() and "Angebot" in body
    assert ReplySeed.from_json(ReplySeed.of(mail(), True).to_json()).acknowledge


# -- settings --------------------------------------------------------------------------------


def write(tmp_path: Path, organisation: str, mailbox: str = "") -> Path:
    (tmp_path / "pw").write_text("x")
    (tmp_path / "pw").chmod(0o600)
    config = tmp_path / "config.toml"
    config.write_text(
        '[wiki]\napi_url = "https://wiki.firma.de/api.php"\nusername = "B@b"\npassword_file = "pw"\n'
        f"[organisation]\n{organisation}\n"
        '[[mailboxes]]\nname = "vertrieb"\nhost = "imap.firma.de"\nusername = "vertrieb@firma.de"\n'
        f'password_file = "pw"\npage_prefix = "Vertrieb/Mail"\n{mailbox}\n'
    )
    return config


def test_internal_domains_default_to_the_mapping_address_and_can_be_overridden(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""), environ={})
    assert settings.internal_domains(settings.mailboxes[0]) == ("firma.de",)
    settings = load_settings(write(tmp_path, 'internal_domains = ["Firma.de", "*.firma.de"]'), environ={})
    assert settings.internal_domains(settings.mailboxes[0]) == ("firma.de", "*.firma.de")
    settings = load_settings(write(tmp_path, "", 'internal_domains = ["tochter.de"]'), environ={})
    assert settings.insiders(settings.mailboxes[0]).domains == ("tochter.de",)


def test_the_people_file_is_read_and_bad_lines_are_named(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text("address,user\n# comment\nA.Schmidt@firma.de, Anna Schmidt\n")
    settings = load_settings(write(tmp_path, 'people_file = "people.csv"'), environ={})
    assert settings.organisation.file_accounts() == {"a.schmidt@firma.de": "Anna Schmidt"}
    (tmp_path / "people.csv").write_text("a@firma.de,Anna\nb@firma.de,[[Evil]]\n")
    with pytest.raises(ConfigError, match=r"organisation.people_file: .*line 2"):
        load_settings(write(tmp_path, 'people_file = "people.csv"'), environ={})


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('wiki_user_from_address = "{vorname}"', "organisation.wiki_user_from_address"),
        ('internal_domains = ["firma de"]', "organisation.internal_domains"),
        ("people_cache_hours = 0", "organisation.people_cache_hours"),
        ('people_file = "missing.csv"', "organisation.people_file"),
    ],
)
def test_bad_organisation_settings_stop_start_up_naming_the_key(tmp_path: Path, line: str, key: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(key)):
        load_settings(write(tmp_path, line), environ={})


def test_external_reply_is_none_or_acknowledge(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"mailboxes\[0\].external_reply: must be none or acknowledge"):
        load_settings(write(tmp_path, "", 'external_reply = "link"'), environ={})


def test_forgetting_a_colleague_takes_them_out_of_the_note_and_the_fields() -> None:
    """`forget` removes a linked colleague from the note (its digest renewed, so the bridge keeps
    the note) and from the header fields, where the account link hid the address before."""
    note = render_participants(PEOPLE, "full", "en", LINKS)
    fields = (
        "{{Ewb field|From|Kunde &lt;k@kunde.example&gt;}}\n"
        "{{Ewb field|Cc|"
        "[[Benutzer:A.schmidt|Anna Schmidt &lt;a.schmidt@firma.de&gt;]], Carla &lt;c@firma.de&gt;}}"
    )
    marker = message_marker("m1@x")
    block = f'== Angebot ==\n<div class="ewb-message" id="msg-1" {marker}>\n{fields}\n</div>'
    page = f"''intro''\n{note}\n\n{block}\n"
    request = ForgetRequest.of(["a.schmidt@firma.de"])
    request = request.with_names(names_of(page, request.addresses))
    rewritten = forget_on_page(page, request, "en", "2026-11-30").text
    assert "Schmidt" not in rewritten and "A.schmidt" not in rewritten
    assert '<span class="ewb-person">Carla</span>' in rewritten and "outside the company: 1" in rewritten
    assert "|Cc|Carla &lt;c@firma.de&gt;}}" in rewritten
    assert replace_participants(rewritten, render_participants(PEOPLE[1:], "full", "en", LINKS)) is None
    alone = render_participants(PEOPLE[:1], "full", "en", LINKS)
    assert "in this conversation: –" in forget_participants(alone, lambda name: name == "Anna Schmidt")


def test_a_route_may_set_its_own_colleagues_and_outsiders_reply() -> None:
    """A route's `internal_domains` and `external_reply` replace the mapping's for its mail."""
    mapping = mailbox_settings(
        address="vertrieb@firma.de",
        reply="every",
        routes=(
            {
                "recipients": ("partner-wiki@firma.de",),
                "page_prefix": "Partner/Mail",
                "reply": "every",
                "internal_domains": ("partner.example",),
                "external_reply": "acknowledge",
            },
        ),
    )
    settings = PlanSettings(mapping, can_mail=True, insiders=FIRMA)
    colleague, partner = mail(), mail("p@partner.example", "Partner")
    sources = {m.message_id: Source("INBOX", 1, 1) for m in (colleague, partner)}
    [own] = plan_group(group_of(colleague, partner), sources, {}, settings)
    [routed] = plan_group(group_of(colleague, partner), sources, {}, settings, "Partner/Mail")
    assert isinstance(own, PublishGroup) and isinstance(routed, PublishGroup)
    assert [(r.forbidden, r.acknowledge) for r in own.replies] == [(None, False), (EXTERNAL_SENDER, False)]
    assert [(r.forbidden, r.acknowledge) for r in routed.replies] == [(None, True), (None, False)]
