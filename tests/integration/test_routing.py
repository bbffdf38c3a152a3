"""One shared mailbox for several spaces, and redaction, end to end on real Dovecot and MediaWiki.

A mailbox receiving the mail of three aliases and a plus address publishes it under three page
prefixes, quarantines what no route takes, and keeps a cross-posted reply with its thread; a
route's redaction keeps IBANs, phone numbers and addresses out of page text, titles, edit
summaries and file names, and withholds attachments of listed types.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from bridge.sync.mailbox_pass import PassResult
from tests.integration.support import Space, WikiReader, folder_mail, make_mail, smtp_section, unique
from tests.servers import SmtpSink

IBAN = "DE89 3704 0044 0532 0130 00"


def _routes(space: Space) -> list[dict[str, Any]]:
    base = space.prefix.rpartition("/")[0]
    return [
        {
            "name": "vertrieb",
            "recipients": ["vertrieb-wiki@example.de", "verkauf-wiki@example.de"],
            "page_prefix": f"{base}/Vertrieb",
            "categories": ["Vertrieb"],
            "language": "de",
        },
        {"name": "technik", "recipients": ["technik-wiki@example.de"], "page_prefix": f"{base}/Technik"},
        {"name": "einkauf", "recipients": ["wiki+einkauf@example.de"], "page_prefix": f"{base}/Einkauf"},
    ]


def _pass(space: Space) -> tuple[PassResult, list[Any]]:
    with capture_logs() as events:
        result = space.run_pass()
    return result, events


def _ids(reader: WikiReader, prefix: str) -> dict[str, list[str]]:
    return {title: reader.parse(title).message_ids for title in reader.titles(prefix)}


def test_aliases_and_a_plus_address_land_on_their_prefixes_and_replies_stay_with_their_thread(
    space: Space, reader: WikiReader
) -> None:
    """Route by Delivered-To, X-Original-To and To; quarantine unrouted mail; a reply cross-posted
    to another alias goes to its thread's page, and the log says its recipients chose elsewhere."""
    routes = _routes(space)
    vertrieb, technik, einkauf = (route["page_prefix"] for route in routes)
    ids = {
        key: f"{unique(key)}@example.de" for key in ("angebot", "verkauf", "server", "bestellung", "fremd")
    }
    space.append(make_mail(ids["angebot"], "Angebot Förderband", to="Vertrieb <vertrieb-wiki@example.de>"))
    alias = [("Delivered-To", "team-sales@example.de"), ("X-Original-To", "verkauf-wiki@example.de")]
    space.append(make_mail(ids["verkauf"], "Preisliste 2027", to="undisclosed-recipients:;", headers=alias))
    technical = [("Delivered-To", "technik-wiki@example.de")]
    space.append(make_mail(ids["server"], "Server down", to="Hans <hans@example.de>", headers=technical))
    plus = [("Delivered-To", "wiki+einkauf@example.de")]
    space.append(
        make_mail(ids["bestellung"], "Bestellung Schrauben", to="wiki+einkauf@example.de", headers=plus)
    )
    space.append(make_mail(ids["fremd"], "Irgendwas", to="nobody@example.de"))
    space.write_config(routes=routes)

    result, _ = _pass(space)

    assert (result.published, result.quarantined) == (4, 1)
    assert sorted(id for ids_ in _ids(reader, vertrieb).values() for id in ids_) == sorted(
        [ids["angebot"], ids["verkauf"]]
    )
    assert [m for page in _ids(reader, technik).values() for m in page] == [ids["server"]]
    assert [m for page in _ids(reader, einkauf).values() for m in page] == [ids["bestellung"]]
    assert reader.titles(space.prefix) == []
    [angebot] = [t for t, page in _ids(reader, vertrieb).items() if ids["angebot"] in page]
    assert "Vertrieb" in reader.parse(angebot).categories
    flags = folder_mail(space.dovecot, space.user, space.folders[0])
    assert flags is not None and "$WikiQuarantine" in flags[ids["fremd"]]
    listing = space.cli("quarantine", "list").stdout
    assert ids["fremd"] in listing and "no route for nobody@example.de" in listing

    reply = make_mail(
        unique("reply") + "@example.de",
        "Re: Angebot Förderband",
        to="technik-wiki@example.de",
        headers=[("Delivered-To", "technik-wiki@example.de"), ("Cc", "wiki+einkauf@example.de")],
        in_reply_to=ids["angebot"],
        references=[ids["angebot"]],
    )
    space.append(reply)
    result, events = _pass(space)

    assert result.published == 1 and result.pages_extended == [angebot]
    assert len(_ids(reader, vertrieb)[angebot]) == 2
    assert [m for page in _ids(reader, technik).values() for m in page] == [ids["server"]]
    [followed] = [e for e in events if e["event"] == "message.route_follows_thread"]
    assert (followed["route"], followed["recipients_route"]) == ("vertrieb", "technik")

    # Released, the unrouted mail is published under the mailbox's own prefix.
    assert space.cli("quarantine", "release", "sales", ids["fremd"]).returncode == 0
    assert _pass(space)[0].published == 1
    assert [m for page in _ids(reader, space.prefix).values() for m in page] == [ids["fremd"]]

    status = json.loads(space.cli("status", "--json").stdout)
    assert status[0]["routes"] == {"": 1, "vertrieb": 3, "technik": 1, "einkauf": 1}
    table = space.cli("status").stdout
    assert "vertrieb" in table and "(own page_prefix)" in table
    check = space.cli("check").stdout
    assert "route 'einkauf': wiki+einkauf@example.de -> " + einkauf + "/" in check
    assert "mail no route takes is quarantined" in check
    assert f"may create and edit pages under {technik}/" in check


def test_link_replies_follow_the_route_of_the_page(
    space: Space, reader: WikiReader, smtp_sink: SmtpSink
) -> None:
    """A route's `reply = "never"` sends none; another route's mail is answered in its language."""
    routes = _routes(space)
    routes[1]["reply"] = "never"
    recent = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    answered, silent = f"{unique('angebot')}@example.de", f"{unique('server')}@example.de"
    delivered = [("Return-Path", "<juergen@example.de>")]
    space.append(
        make_mail(answered, "Angebot", to="vertrieb-wiki@example.de", date=recent, headers=delivered)
    )
    space.append(
        make_mail(silent, "Server down", to="technik-wiki@example.de", date=recent, headers=delivered)
    )
    space.write_config(
        routes=routes, smtp=smtp_section(smtp_sink), address="team-sales@example.de", reply="first"
    )

    result = space.bridge_pass()

    assert result is not None and (result.published, result.replies_sent) == (2, 1)
    [mail] = smtp_sink.messages
    assert mail.message["In-Reply-To"] == f"<{answered}>"
    assert "Hallo" in mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def _mail_with_data(message_id: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = "Anna Schmidt <anna@example.de>"
    mail["To"] = "buchhaltung-wiki@example.de"
    mail["Subject"] = f"Zahlung an {IBAN}"
    mail["Date"] = "Fri, 20 Nov 2026 09:00:00 +0100"
    mail["Message-ID"] = f"<{message_id}>"
    mail.set_content(
        f"Bitte überweisen Sie auf {IBAN}.\nRückfragen: Tel. 030 1234567 oder anna.privat@example.org\n"
        "Bestellnummer 4711-0815-42 vom 01.12.2026, Betrag 1.234,56 €\n"
    )
    mail.add_alternative(
        f"<p>Bitte überweisen Sie auf <b>{IBAN}</b>.</p>"
        "<p>Rückfragen: Tel. 030 1234567 oder "
        '<a href="mailto:anna.privat@example.org">anna.privat@example.org</a></p>'
        "<p>Bestellnummer 4711-0815-42 vom 01.12.2026, Betrag 1.234,56 €</p>",
        subtype="html",
    )
    mail.add_attachment(
        b"%PDF-1.4 invoice", maintype="application", subtype="pdf", filename=f"Rechnung {IBAN}.pdf"
    )
    mail.add_attachment(
        b"PKCS12 secret", maintype="application", subtype="x-pkcs12", filename="zertifikat.p12"
    )
    return mail.as_bytes()


def test_a_routes_redaction_reaches_page_text_title_summary_and_file_names(
    space: Space, reader: WikiReader
) -> None:
    """IBAN, phone number and address are replaced by German markers everywhere on the wiki; the
    order number, date and price stay; the .p12 file is listed, not uploaded."""
    base = space.prefix.rpartition("/")[0]
    prefix = f"{base}/Buchhaltung"
    route: dict[str, Any] = {
        "name": "buchhaltung",
        "recipients": ["buchhaltung-wiki@example.de"],
        "page_prefix": prefix,
        "language": "de",
        "redact": ["iban", "phone", "email"],
        "redact_attachment_types": [".p12"],
    }
    space.append(_mail_with_data(f"{unique('zahlung')}@example.de"))
    space.write_config(routes=[route])

    result, _ = _pass(space)

    assert result.published == 1
    [title] = reader.titles(prefix)
    assert "IBAN entfernt" in title and "3704" not in title
    # As a reader sees it: the page source writes the markers' brackets as references.
    text = html.unescape(reader.text(title))
    assert (
        "[IBAN entfernt]" in text
        and "[Telefonnummer entfernt]" in text
        and "[E-Mail-Adresse entfernt]" in text
    )
    for secret in ("3704", "0532", "1234567", "anna.privat"):
        assert secret not in text and secret not in reader.parse(title).html
        assert all(secret not in revision.get("comment", "") for revision in reader.revisions(title))
    assert "4711-0815-42" in text and "01.12.2026" in text and "1.234,56" in text
    assert "zertifikat.p12" in text and "aus Datenschutzgründen nicht veröffentlicht" in text
    images = reader.get(action="query", list="allimages", aiprefix="Mail-", ailimit="max")["query"][
        "allimages"
    ]
    names = [image["name"] for image in images]
    assert not any("3704" in name or name.endswith(".p12") for name in names)
    assert any("IBAN" in name and name.endswith(".pdf") for name in names)


def test_a_lost_state_is_noticed_and_rebuilt_under_every_routes_prefix(
    space: Space, reader: WikiReader
) -> None:
    """Pages only under route prefixes still stop a pass with a lost state; `state rebuild` reads them."""
    routes = _routes(space)
    space.append(make_mail(f"{unique('angebot')}@example.de", "Angebot", to="vertrieb-wiki@example.de"))
    space.append(make_mail(f"{unique('bestellung')}@example.de", "Bestellung", to="wiki+einkauf@example.de"))
    space.write_config(routes=routes)
    assert space.cli("once").returncode == 0
    for suffix in ("", "-wal", "-shm"):
        Path(f"{space.state_path}{suffix}").unlink(missing_ok=True)

    refused = space.cli("once")
    assert refused.returncode == 1 and "the state was lost or replaced" in refused.stdout

    rebuilt = space.cli("state", "rebuild", "--mailbox", "sales")
    assert rebuilt.returncode == 0 and rebuilt.stdout.startswith("sales: 2 messages on 2 pages under "), (
        rebuilt
    )
    status = json.loads(space.cli("status", "--json").stdout)
    assert status[0]["routes"] == {"": 0, "vertrieb": 1, "technik": 0, "einkauf": 1}
    assert space.cli("once").stdout.startswith("sales: 0 published, 2 already known")
