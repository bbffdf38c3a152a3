"""`once --dry-run --json` against the real servers: the plan lists what a pass would do, and
afterwards nothing has changed on the wiki, in the mailbox, at the SMTP sink or in the state file.
"""

from __future__ import annotations

import json
from typing import Any

from tests.integration.support import Space, WikiReader, delivered, folder_mail, smtp_section, unique
from tests.servers import MediaWikiServer, SmtpSink

TEAM_ADDRESS = "team-sales@example.de"


def bot_edits(reader: WikiReader, mediawiki: MediaWikiServer) -> int:
    """All edits and uploads the bridge's account ever made."""
    body = reader.get(action="query", list="usercontribs", ucuser=mediawiki.bot_user, uclimit="max")
    return len(body["query"]["usercontribs"])


def test_dry_run_json_lists_the_plan_and_changes_nothing(
    space: Space, reader: WikiReader, mediawiki: MediaWikiServer, smtp_sink: SmtpSink
) -> None:
    """An answer to a published thread, a new thread and a stranger's mail: the JSON plan appends,
    creates, quarantines, replies and flags; the wiki, the mailbox flags, the sink and the state
    file (byte for byte) are as before, and a real pass afterwards does what was planned."""
    root = f"{unique('json-root')}@example.de"
    answer = f"{unique('json-answer')}@example.de"
    fresh = f"{unique('json-new')}@example.de"
    stranger = f"{unique('json-stranger')}@example.de"
    space.write_config(
        smtp=smtp_section(smtp_sink),
        address=TEAM_ADDRESS,
        reply="every",
        reply_unpublished=True,
        allowed_senders=["*@example.de"],
        after_publish="flag",
    )
    space.append(delivered(root, "Messestand", "Jürgen Müller <juergen@example.de>"))
    assert "1 published" in space.cli("once").stdout
    [page] = reader.titles(space.prefix)
    space.append(delivered(answer, "AW: Messestand", "Anna Schmidt <anna@example.de>", in_reply_to=root))
    space.append(delivered(fresh, "Reisekosten", "Bernd Kraus <bernd@example.de>"))
    space.append(delivered(stranger, "Gewinnspiel", "Promo <promo@lottery.example>"))
    smtp_sink.clear()
    state_before = space.state_path.read_bytes()
    files_before = sorted(space.state_path.parent.iterdir())
    mailbox_before = folder_mail(space.dovecot, space.user, space.folders[0])
    edits_before = bot_edits(reader, mediawiki)
    pages_before = {title: reader.parse(title).message_ids for title in reader.titles(space.prefix)}

    completed = space.cli("once", "--dry-run", "--json")

    assert completed.returncode == 0, completed.stderr
    plan: list[dict[str, Any]] = json.loads(completed.stdout)
    assert {a["mailbox"] for a in plan} == {"sales"}
    publishes = {tuple(a["message_ids"]): a for a in plan if a["action"] == "publish"}
    assert publishes[(answer,)]["page"] == page
    assert publishes[(fresh,)]["page"] is None
    assert publishes[(fresh,)]["new_title"] == f"{space.prefix}/Reisekosten"
    assert [r["recipient"] for r in publishes[(answer,)]["replies"]] == ["anna@example.de"]
    assert [r["recipient"] for r in publishes[(fresh,)]["replies"]] == ["bernd@example.de"]
    [quarantine] = [a for a in plan if a["action"] == "quarantine"]
    assert quarantine["message_id"] == stranger and quarantine["reason"] == "not_allowed"
    assert quarantine["flag"] == "$WikiQuarantine"
    [refusal] = [a for a in plan if a["action"] == "reply"]
    assert refusal["kind"] == "refusal" and refusal["recipient"] == "promo@lottery.example"
    assert refusal["forbidden"] == "external sender"  # outside example.de: not told about the wiki
    [flagging] = [a for a in plan if a["action"] == "mail"]
    assert flagging["flag"] == "$Wiki" and len(flagging["uids"]) == 2

    assert space.state_path.read_bytes() == state_before
    assert sorted(space.state_path.parent.iterdir()) == files_before
    assert folder_mail(space.dovecot, space.user, space.folders[0]) == mailbox_before
    assert smtp_sink.messages == []
    assert bot_edits(reader, mediawiki) == edits_before
    assert {title: reader.parse(title).message_ids for title in reader.titles(space.prefix)} == pages_before

    real = space.cli("once")

    assert "2 published" in real.stdout and "1 quarantined" in real.stdout, real.stdout
    assert reader.parse(page).message_ids == [root, answer]
    assert f"{space.prefix}/Reisekosten" in reader.titles(space.prefix)
    after = folder_mail(space.dovecot, space.user, space.folders[0]) or {}
    assert after[answer] == after[fresh] == frozenset({"$Wiki"})
    assert after[stranger] == frozenset({"$WikiQuarantine"})
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == ["anna@example.de", "bernd@example.de"]
