"""Owners: a ticket's assignee, the queue's `assignee=me|none|ID`, and the staff email that
tells an owner a ticket was given to them or its customer wrote again (R17's hours)."""

import httpx
import pytest
from sqlmodel import Session, select

from app.db import get_engine
from app.engine.business_hours import calendar_for
from app.models.outbox import Outbox
from app.models.ticket import Ticket
from app.services.tickets.snapshot import calendar_of
from tests.routers.test_inbound import eml, post_mime, rossi  # noqa: F401  (fixture)

LAURA = {"name": "Laura Verdi", "email": "laura@agency.example", "role": "agent"}


@pytest.fixture
def laura(api):
    member = api.admin.post("/api/v1/staff", json=LAURA).json()
    token = api.admin.post("/api/v1/tokens", json={"staff_id": member["id"]}).json()["token"]
    client = httpx.Client(base_url=api.base_url, headers={"Authorization": f"Bearer {token}"})
    yield {**member, "client": client}
    client.close()


def received(api, subject="Sito lento") -> dict:
    response = post_mime(api, eml(subject=subject))
    assert response.status_code == 200, response.text
    return api.viewer.get(f"/api/v1/tickets/{response.json()['ticket_id']}").json()


def staff_emails(db: str, kind: str) -> list[Outbox]:
    with Session(get_engine(db)) as session:
        return list(session.exec(select(Outbox).where(Outbox.kind == f"staff.{kind}")))


def queue(client, assignee: str) -> list[int]:
    response = client.get("/api/v1/tickets", params={"assignee": assignee})
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json()["items"]]


def test_taking_in_charge_without_an_owner_makes_the_caller_owner(api, rossi):  # noqa: F811
    ticket = received(api)
    me = api.agent.get("/api/v1/me").json()["staff"]["id"]
    taken = api.agent.post(f"/api/v1/tickets/{ticket['id']}/take-charge", json={}).json()
    assert taken["assignee_id"] == me


def test_assignee_me_is_exactly_the_caller_s_open_tickets(api, rossi, laura):  # noqa: F811
    me = api.agent.get("/api/v1/me").json()["staff"]["id"]
    mine, resolved, hers, nobody = (received(api, f"Richiesta {n}") for n in range(4))
    for ticket in (mine, resolved):
        api.agent.post(f"/api/v1/tickets/{ticket['id']}/assign", json={"assignee_id": me})
    api.agent.post(f"/api/v1/tickets/{resolved['id']}/take-charge", json={}).raise_for_status()
    api.agent.post(
        f"/api/v1/tickets/{resolved['id']}/resolve",
        json={"resolution": "Fatto.", "delivery_mode": "remote"},
    ).raise_for_status()
    patched = api.agent.patch(f"/api/v1/tickets/{hers['id']}", json={"assignee_id": laura["id"]})
    assert patched.status_code == 200 and patched.json()["assignee_id"] == laura["id"]
    assert queue(api.agent, "me") == [mine["id"]]
    assert queue(laura["client"], "me") == [hers["id"]]
    assert queue(api.viewer, str(laura["id"])) == [hers["id"]]
    assert queue(api.viewer, "none") == [nobody["id"]]
    assert api.admin.get("/api/v1/tickets", params={"assignee": "me"}).status_code == 422
    assert api.viewer.get("/api/v1/tickets", params={"assignee": "someone"}).status_code == 422


def test_an_owner_given_a_ticket_by_someone_else_is_emailed_not_while_closed(
    api,
    rossi,  # noqa: F811
    laura,
    db,
):
    ticket = received(api)
    me = api.agent.get("/api/v1/me").json()["staff"]["id"]
    api.agent.post(f"/api/v1/tickets/{ticket['id']}/assign", json={"assignee_id": me})
    assert staff_emails(db, "assigned") == []  # one's own: no email
    api.agent.post(f"/api/v1/tickets/{ticket['id']}/assign", json={"assignee_id": laura["id"]})
    [told] = staff_emails(db, "assigned")
    assert told.recipient == "laura@agency.example" and told.facts["to"] == [told.recipient]
    assert "Auto-Submitted" in told.facts["headers"]
    with Session(get_engine(db)) as session:
        stored = session.get(Ticket, ticket["id"])
        assert stored is not None
        hours = calendar_for(calendar_of(stored))
    # R17: not during closed hours for a non-urgent ticket: it waits for the opening.
    expected = (
        told.created_at if hours.is_open(told.created_at) else hours.next_opening(told.created_at)
    )
    assert told.available_at == expected
    refused = api.agent.post(
        f"/api/v1/tickets/{ticket['id']}/assign", json={"assignee_id": 2147483647}
    )
    assert refused.status_code == 422
    events = api.viewer.get(f"/api/v1/tickets/{ticket['id']}/events").json()["items"]
    assert [e["data"]["after"] for e in events if e["kind"] == "assigned"] == [me, laura["id"]]


def test_an_urgent_ticket_s_owner_is_told_at_once(api, rossi, laura, db):  # noqa: F811
    ticket = received(api, "URGENTE sito giù")
    assert ticket["urgent"] is True
    api.agent.post(f"/api/v1/tickets/{ticket['id']}/assign", json={"assignee_id": laura["id"]})
    [told] = staff_emails(db, "assigned")
    assert told.available_at == told.created_at


def test_the_owner_hears_when_the_customer_writes_again(api, rossi, laura, db):  # noqa: F811
    ticket = received(api)
    api.agent.post(f"/api/v1/tickets/{ticket['id']}/assign", json={"assignee_id": laura["id"]})
    again = post_mime(api, eml(subject=f"Re: [#{ticket['number']}] Sito lento", body="Ancora giù"))
    assert again.json()["ticket_id"] == ticket["id"]
    [told] = staff_emails(db, "customer_wrote")
    assert told.recipient == "laura@agency.example"
    assert told.facts["letter"]["words"]["excerpt"].startswith("Ancora giù")
