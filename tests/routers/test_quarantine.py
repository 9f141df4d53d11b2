"""The quarantine through the API (P1: nothing that reached us is lost), on SQLite and
PostgreSQL: a delivery that cannot become a ticket answers 200, is kept raw, listed,
downloadable byte for byte, counted, retried into exactly one ticket, and deleted by an admin."""

import hashlib
import json
import threading
import uuid
from datetime import datetime

import httpx
import pytest
from sqlmodel import Session

from app.db import get_engine, unit_of_work
from app.enums import QuarantineReason
from app.models.quarantine import Quarantine
from app.models.ticket import Ticket
from app.services.intake import quarantine
from tests.routers.test_inbound import BASIC, count, mailgun_fields, post_mime, signed
from tests.routers.test_metrics import scrape, value

NO_SENDER = (
    b"From: Servizio clienti\r\nReply-To: nessuno\r\nSubject: URGENTE sito fermo\r\n"
    b"Message-ID: <%s@rossi.it>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Il sito \xc3\xa8 fermo da stamattina.\r\n"
)


def no_sender() -> bytes:
    return NO_SENDER.replace(b"%s", uuid.uuid4().hex.encode())


def events(api, ticket_id: int) -> list[dict]:
    return api.viewer.get(f"/api/v1/tickets/{ticket_id}/events").json()["items"]


def test_a_delivery_with_no_sender_is_kept_listed_downloaded_retried_once_and_deleted(api, db):
    raw = no_sender()
    before = scrape(api.anonymous)

    first = post_mime(api, raw)
    again = post_mime(api, raw)  # the relay's retry

    assert first.status_code == 200, first.text
    item_id = first.json()["quarantine_id"]
    assert first.json() == {
        "ticket_id": None,
        "ticket_number": None,
        "duplicate": False,
        "quarantined": True,
        "quarantine_id": item_id,
    }
    assert again.json() == {**first.json(), "duplicate": True}
    assert count(db, Quarantine) == 1 and count(db, Ticket) == 0

    listed = api.agent.get("/api/v1/quarantine").json()
    assert [i["id"] for i in listed["items"]] == [item_id] and listed["next_cursor"] is None
    item = listed["items"][0]
    assert item["source"] == "mime" and item["reason"] == "no_sender"
    assert item["state"] == "held" and item["subject"] == "URGENTE sito fermo"
    assert item["urgent"] is True and item["content_type"] == "message/rfc822"
    assert item["size"] == len(raw) and item["sha256"] == hashlib.sha256(raw).hexdigest()
    assert api.agent.get(f"/api/v1/quarantine/{item_id}").json() == item
    assert api.viewer.get("/api/v1/quarantine").status_code == 403

    download = api.agent.get(f"/api/v1/quarantine/{item_id}/raw")
    assert download.status_code == 200
    assert download.content == raw  # byte for byte
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"] == (
        f'attachment; filename="quarantine-{item_id}.eml"'
    )
    assert download.headers["x-content-type-options"] == "nosniff"

    after = scrape(api.anonymous)
    assert value(after, "sportello_quarantine_held") == 1
    inbound = "sportello_inbound_deliveries_total"
    for result in ("quarantined", "duplicate"):
        assert (
            value(after, inbound, provider="mime", result=result)
            == value(before, inbound, provider="mime", result=result) + 1
        )

    unreadable = api.agent.post(f"/api/v1/quarantine/{item_id}/retry")
    assert unreadable.status_code == 422, unreadable.text
    assert unreadable.json()["errors"][0]["field"] == "from_email"
    retried = api.agent.post(
        f"/api/v1/quarantine/{item_id}/retry", json={"from_email": "Mario@Rossi.it"}
    )
    twice = api.agent.post(
        f"/api/v1/quarantine/{item_id}/retry", json={"from_email": "other@rossi.it"}
    )

    assert retried.status_code == 200, retried.text
    released = retried.json()
    assert released["state"] == "released" and released["released_by"] == "test-agent"
    assert twice.status_code == 200 and twice.json() == released  # the same ticket, not a second
    assert count(db, Ticket) == 1
    ticket = api.viewer.get(f"/api/v1/tickets/{released['ticket_id']}").json()
    assert ticket["number"] == released["ticket_number"]
    assert ticket["from_email"] == "mario@rossi.it" and ticket["urgent"] is True
    assert ticket["received_at"] == item["received_at"]  # R9: the clock runs from its arrival
    trail = events(api, ticket["id"])
    assert {"kind": "quarantine_released", "actor": "test-agent"}.items() <= trail[-1].items()
    assert trail[-1]["data"]["quarantine_id"] == item_id
    assert [e["data"]["source"] for e in trail if e["kind"] == "sender_recovered"] == ["staff"]
    # A redelivery now answers the ticket it became.
    late = post_mime(api, raw).json()
    assert (late["ticket_id"], late["duplicate"], late["quarantined"]) == (
        ticket["id"],
        True,
        False,
    )

    assert api.agent.delete(f"/api/v1/quarantine/{item_id}").status_code == 403
    assert api.admin.delete(f"/api/v1/quarantine/{item_id}").status_code == 204
    assert api.agent.get(f"/api/v1/quarantine/{item_id}").status_code == 404
    assert api.admin.delete(f"/api/v1/quarantine/{item_id}").status_code == 404
    assert count(db, Ticket) == 1  # the ticket stays
    assert value(scrape(api.anonymous), "sportello_quarantine_held") == 0


def test_a_mailgun_delivery_redelivered_with_a_new_signature_is_kept_once(api, db):
    """Each Mailgun POST is signed anew: the item is found by the form, not its bytes."""
    fields = mailgun_fields(subject="Ciao", body="Il modulo non invia.")
    fields.update({"from": "", "sender": "", "message-headers": json.dumps([["Subject", "Ciao"]])})

    first = api.anonymous.post("/api/v1/inbound/email/mailgun", data=signed(fields))
    again = api.anonymous.post("/api/v1/inbound/email/mailgun", data=signed(fields))

    assert first.status_code == 200 and first.json()["quarantined"] is True, first.text
    assert again.json() == {**first.json(), "duplicate": True}
    item_id = first.json()["quarantine_id"]
    item = api.agent.get(f"/api/v1/quarantine/{item_id}").json()
    assert (item["source"], item["reason"], item["subject"]) == ("mailgun", "no_sender", "Ciao")
    assert item["content_type"].startswith("application/x-www-form-urlencoded")
    retried = api.agent.post(
        f"/api/v1/quarantine/{item_id}/retry", json={"from_email": "anna@rossi.it"}
    )
    assert retried.status_code == 200, retried.text
    messages = api.viewer.get(f"/api/v1/tickets/{retried.json()['ticket_id']}/messages").json()
    assert messages["items"][0]["text"] == "Il modulo non invia."
    assert messages["items"][0]["from_email"] == "anna@rossi.it"
    assert count(db, Quarantine) == 1 and count(db, Ticket) == 1


def test_a_replayed_mailgun_token_cannot_fill_the_quarantine(api, db):
    first = signed({"body-mime": "garbage"})
    assert api.anonymous.post("/api/v1/inbound/email/mailgun", data=first).status_code == 200

    replay = {**first, "body-mime": "other garbage"}
    response = api.anonymous.post("/api/v1/inbound/email/mailgun", data=replay)

    assert response.status_code == 403 and "replay" in response.json()["detail"]
    assert count(db, Quarantine) == 1


def test_a_sendgrid_delivery_redelivered_with_another_boundary_is_kept_once(api, db):
    def post(boundary: str) -> httpx.Response:
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="text"\r\n\r\nciao\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="headers"\r\n\r\n'
            f"Subject: senza mittente\r\n--{boundary}--\r\n"
        )
        return api.anonymous.post(
            "/api/v1/inbound/email/sendgrid",
            content=body.encode(),
            auth=BASIC,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )

    first, again = post("xYzZY"), post("AbCdE")

    assert first.json()["quarantined"] is True, first.text
    assert again.json() == {**first.json(), "duplicate": True}
    assert count(db, Quarantine) == 1


def test_a_postmark_payload_without_from_is_retried_with_the_sender_staff_give(api, db):
    payload = {"Subject": "Fattura", "TextBody": "Non trovo la fattura.", "MessageID": "pm-1"}
    response = api.anonymous.post("/api/v1/inbound/email/postmark", json=payload, auth=BASIC)
    item_id = response.json()["quarantine_id"]
    assert api.agent.get(f"/api/v1/quarantine/{item_id}").json()["reason"] == "not_an_email"

    retried = api.agent.post(
        f"/api/v1/quarantine/{item_id}/retry", json={"from_email": "anna@rossi.it"}
    )

    assert retried.status_code == 200, retried.text
    ticket = api.viewer.get(f"/api/v1/tickets/{retried.json()['ticket_id']}").json()
    assert (ticket["from_email"], ticket["subject"]) == ("anna@rossi.it", "Fattura")


def test_bytes_that_are_no_message_at_all_become_a_ticket_only_with_a_sender(api, db):
    raw = b"\x00\x01 not a message \xff"
    item_id = post_mime(api, raw).json()["quarantine_id"]

    assert api.agent.post(f"/api/v1/quarantine/{item_id}/retry", json={}).status_code == 422
    retried = api.agent.post(
        f"/api/v1/quarantine/{item_id}/retry", json={"from_email": "anna@rossi.it"}
    )

    assert retried.status_code == 200, retried.text
    ticket_id = retried.json()["ticket_id"]
    message = api.viewer.get(f"/api/v1/tickets/{ticket_id}/messages").json()["items"][0]
    assert "not a message" in message["text"]


def test_a_mailbox_message_quarantined_by_the_service_is_retried_as_it_reads(api, db):
    """What the mailbox reader does with a message it cannot store: `quarantine.hold` with
    source `mailbox:<id>`. Once readable (after a fix), a retry needs no sender."""
    raw = b"From: Anna <anna@rossi.it>\r\nSubject: Posta\r\n\r\nLa casella non scarica.\r\n"
    with unit_of_work(get_engine(db)) as session:
        held = quarantine.hold(
            raw,
            session=session,
            source="mailbox:7",
            reason=QuarantineReason.PARSER_ERROR,
            detail="what the reader said",
            content_type="message/rfc822",
            now=datetime.fromisoformat("2026-11-23T15:00:00+00:00"),
        )
    with unit_of_work(get_engine(db)) as session:
        again = quarantine.hold(
            raw,
            session=session,
            source="mailbox:7",
            reason=QuarantineReason.PARSER_ERROR,
            detail="read again",
            content_type="message/rfc822",
            now=datetime.fromisoformat("2026-11-23T15:01:00+00:00"),
        )
    assert (held.duplicate, again.duplicate, again.id) == (False, True, held.id)

    retried = api.agent.post(f"/api/v1/quarantine/{held.id}/retry")

    assert retried.status_code == 200, retried.text
    ticket = api.viewer.get(f"/api/v1/tickets/{retried.json()['ticket_id']}").json()
    assert ticket["from_email"] == "anna@rossi.it"
    assert ticket["received_at"] == "2026-11-23T15:00:00Z"


def test_two_retries_at_once_make_one_ticket(api, db):
    item_id = post_mime(api, no_sender()).json()["quarantine_id"]
    answers: list[httpx.Response] = []

    def retry() -> None:
        with httpx.Client(base_url=api.base_url, headers=api.agent.headers, timeout=30) as c:
            answers.append(
                c.post(f"/api/v1/quarantine/{item_id}/retry", json={"from_email": "a@rossi.it"})
            )

    threads = [threading.Thread(target=retry) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    assert len({a.json()["ticket_id"] for a in answers}) == 1
    assert count(db, Ticket) == 1


@pytest.mark.parametrize(
    "path", ["/api/v1/quarantine/9999", "/api/v1/quarantine/9999/raw"], ids=["item", "raw"]
)
def test_an_unknown_item_is_404(api, path):
    response = api.agent.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert api.agent.post("/api/v1/quarantine/9999/retry").status_code == 404


def test_the_list_pages_newest_first_and_filters_by_state(api, db):
    ids = [post_mime(api, no_sender()).json()["quarantine_id"] for _ in range(3)]
    api.agent.post(f"/api/v1/quarantine/{ids[0]}/retry", json={"from_email": "a@rossi.it"})

    page = api.agent.get("/api/v1/quarantine", params={"limit": 2}).json()
    rest = api.agent.get(
        "/api/v1/quarantine", params={"limit": 2, "cursor": page["next_cursor"]}
    ).json()
    held = api.agent.get("/api/v1/quarantine", params={"state": "held"}).json()
    released = api.agent.get("/api/v1/quarantine", params={"state": "released"}).json()

    assert [i["id"] for i in page["items"] + rest["items"]] == ids[::-1]
    assert rest["next_cursor"] is None
    assert [i["id"] for i in held["items"]] == ids[:0:-1]
    assert [i["id"] for i in released["items"]] == [ids[0]]
    with Session(get_engine(db)) as session:
        assert session.get(Quarantine, ids[0]).ticket_id == released["items"][0]["ticket_id"]
