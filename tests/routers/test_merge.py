"""Merging the same problem reported twice (an email and the contact form, say): the
duplicate's conversation, files, time and history move to the survivor, the SLA keeps the
earliest receipt, billing has one line, replies to the duplicate thread into the survivor, and
tickets of different customers merge only with `force`."""

import base64

from sqlmodel import Session, select

from app.db import get_engine
from app.models.outbox import Outbox
from tests.routers.test_inbound import eml, post_mime
from tests.routers.test_tickets import new_ticket, rossi  # noqa: F401  (fixture)

EARLY = "2026-11-23T16:00:00+01:00"  # Monday 16:00: due Tuesday 17:00 (R9)
LATE = "2026-11-24T16:30:00+01:00"


def merged_letters(db: str) -> list[Outbox]:
    with Session(get_engine(db)) as session:
        return list(session.exec(select(Outbox).where(Outbox.kind == "customer.merged")))


def test_a_merge_moves_everything_and_keeps_the_earliest_receipt(api, rossi, db):  # noqa: F811
    duplicate = new_ticket(api, channel="web_form", received_at=EARLY, subject="Sito giù")
    survivor = new_ticket(api, received_at=LATE, subject="Sito lento")
    note = api.agent.post(
        f"/api/v1/tickets/{duplicate['id']}/notes",
        json={
            "text": "Stesso problema.",
            "attachments": [
                {"filename": "log.txt", "content_base64": base64.b64encode(b"500").decode()}
            ],
        },
    ).json()
    api.agent.post(f"/api/v1/tickets/{duplicate['id']}/time-entries", json={"minutes": 30})
    response = api.agent.post(
        f"/api/v1/tickets/{duplicate['number']}/merge", json={"into": survivor["number"]}
    )
    assert response.status_code == 200, response.text
    merged = response.json()
    assert merged["id"] == survivor["id"]
    assert merged["received_at"] == "2026-11-23T15:00:00Z"  # the customer asked first then
    assert merged["sla"]["take_charge_due_at"] == duplicate["sla"]["take_charge_due_at"]

    messages = api.viewer.get(f"/api/v1/tickets/{survivor['id']}/messages").json()["items"]
    texts = [m["text"] for m in messages]
    assert "Il sito è lento." in texts and "Stesso problema." in texts
    [moved_note] = [m for m in messages if m["kind"] == "note"]
    assert moved_note["attachments"] == note["attachments"]
    entries = api.viewer.get(f"/api/v1/tickets/{survivor['id']}/time-entries").json()["items"]
    assert [e["minutes"] for e in entries] == [30]
    kinds = [
        e["kind"]
        for e in api.viewer.get(f"/api/v1/tickets/{survivor['id']}/events").json()["items"]
    ]
    assert "note_added" in kinds and kinds[-1] == "merged"

    gone = api.viewer.get(f"/api/v1/tickets/{duplicate['id']}").json()
    assert gone["status"] == "closed" and gone["merged_into_id"] == survivor["id"]
    assert gone["billable"] is False
    again = api.agent.post(f"/api/v1/tickets/{duplicate['id']}/notes", json={"text": "x"})
    assert again.status_code == 409  # read-only
    twice = api.agent.post(
        f"/api/v1/tickets/{duplicate['id']}/merge", json={"into": survivor["number"]}
    )
    assert twice.status_code == 409

    [letter] = merged_letters(db)  # one short email naming the number to use
    assert letter.recipient == "mario@rossi.it"
    assert letter.facts["letter"]["words"]["into"] == survivor["number"]
    # The duplicate's status link shows the survivor now.
    path = "/status/" + letter.facts["letter"]["words"]["status_url"].rsplit("/status/", 1)[1]
    page = api.anonymous.get(path)
    assert page.status_code == 200 and survivor["number"] in page.text


def test_billing_counts_a_merged_request_once(api, db):
    first = new_ticket(api, from_email="nuovo@sconosciuto.example", received_at=EARLY)
    second = new_ticket(api, from_email="nuovo@sconosciuto.example", received_at=LATE)
    assert first["billable"] and second["billable"]  # no contract (R2)
    report = api.viewer.get("/api/v1/reports/billing", params={"month": "2026-11"}).json()
    assert len(report["lines"]) == 2
    api.agent.post(f"/api/v1/tickets/{second['id']}/merge", json={"into": str(first["id"])})
    report = api.viewer.get("/api/v1/reports/billing", params={"month": "2026-11"}).json()
    assert [line["ticket_id"] for line in report["lines"]] == [first["id"]]


def test_a_reply_to_the_duplicate_threads_into_the_survivor(api, rossi):  # noqa: F811
    duplicate = new_ticket(api, received_at=EARLY)
    survivor = new_ticket(api, received_at=LATE)
    api.agent.post(f"/api/v1/tickets/{duplicate['id']}/merge", json={"into": str(survivor["id"])})
    reply = post_mime(api, eml(subject=f"Re: [#{duplicate['number']}] Sito lento", body="Ancora"))
    assert reply.status_code == 200
    assert reply.json()["ticket_id"] == survivor["id"]


def test_tickets_of_different_customers_merge_only_with_force(api, rossi):  # noqa: F811
    ours = new_ticket(api)
    stranger = new_ticket(api, from_email="altro@bianchi.example")
    path = f"/api/v1/tickets/{stranger['id']}/merge"
    refused = api.agent.post(path, json={"into": str(ours["id"])})
    assert refused.status_code == 409 and "force" in refused.json()["detail"]
    assert api.viewer.get(f"/api/v1/tickets/{stranger['id']}").json()["merged_into_id"] is None
    assert api.agent.post(path, json={"into": str(stranger["id"])}).status_code == 422  # itself
    assert api.viewer.post(path, json={"into": str(ours["id"])}).status_code == 403
    forced = api.agent.post(path, json={"into": str(ours["id"]), "force": True})
    assert forced.status_code == 200
