"""Events of the conversation: `ticket.replied` when staff write to the customer and
`ticket.assigned` when a ticket's owner changes, each written with its cause and delivered to a
loopback receiver that verifies them with the Standard Webhooks library."""

from datetime import timedelta

from app.db import get_engine
from app.models.base import utcnow
from app.runners.outbox_worker import Worker
from tests.receiver import Receiver, receiving
from tests.routers.test_assignee import LAURA, received
from tests.routers.test_inbound import rossi  # noqa: F401  (fixture)
from tests.runners.test_worker import settings_for

WANTED = ["ticket.replied", "ticket.assigned", "ticket.taken_in_charge"]


def subscribe(api, url: str, events: list[str] = WANTED) -> str:
    response = api.admin.post("/api/v1/webhooks", json={"url": url, "events": events})
    assert response.status_code == 201, response.text
    return response.json()["secret"]


async def delivered(db: str, smtp, receiver: Receiver) -> list[dict]:
    worker = Worker.for_settings(get_engine(db), settings_for(db, smtp))
    await worker.drain_once(now=lambda: utcnow() + timedelta(seconds=5))
    await worker.close()
    assert all(d.verified is not None for d in receiver.got)  # every delivery verifies
    return receiver.accepted()


async def test_a_reply_and_an_assignment_are_told_to_subscribers(api, db, smtp, rossi):  # noqa: F811
    ticket = received(api)
    me = api.agent.get("/api/v1/me").json()["staff"]
    laura = api.admin.post("/api/v1/staff", json=LAURA).json()
    with receiving(Receiver()) as receiver:
        receiver.secrets = [subscribe(api, receiver.url)]
        path = f"/api/v1/tickets/{ticket['id']}"
        reply = api.agent.post(f"{path}/replies", json={"text": "Quale pagina?"})
        assert reply.status_code == 201, reply.text
        given = api.agent.post(f"{path}/assign", json={"assignee_id": laura["id"]})
        assert given.status_code == 200, given.text
        back = api.agent.patch(path, json={"assignee_id": None})
        assert back.status_code == 200, back.text
        events = await delivered(db, smtp, receiver)

    assert [e["type"] for e in events] == ["ticket.replied", "ticket.assigned", "ticket.assigned"]
    replied, gave, took_back = (e["data"] for e in events)
    assert replied["ticket"]["id"] == ticket["id"]
    assert replied["message_id"] == reply.json()["id"]
    assert replied["author_id"] == me["id"] and replied["author_name"] == me["name"]
    assert replied["took_charge"] is False and replied["resolved"] is False
    assert "Quale pagina?" not in str(events)  # the event names the reply, not its words
    assert gave["assignee_id"] == laura["id"] and gave["previous_assignee_id"] is None
    assert gave["by"] == me["name"]
    assert took_back["assignee_id"] is None and took_back["previous_assignee_id"] == laura["id"]
    assert receiver.got[0].headers["webhook-id"] == events[0]["id"]


async def test_a_reply_that_takes_charge_tells_the_move_the_owner_and_the_reply_in_order(
    api,
    db,
    smtp,
    rossi,  # noqa: F811
):
    ticket = received(api)
    me = api.agent.get("/api/v1/me").json()["staff"]
    with receiving(Receiver()) as receiver:
        receiver.secrets = [subscribe(api, receiver.url)]
        path = f"/api/v1/tickets/{ticket['id']}"
        reply = api.agent.post(
            f"{path}/replies", json={"text": "Ci penso io.", "take_charge": True}
        )
        assert reply.status_code == 201, reply.text
        # The same owner again changes nothing, and says nothing.
        same = api.agent.post(f"{path}/assign", json={"assignee_id": me["id"]})
        assert same.status_code == 200, same.text
        events = await delivered(db, smtp, receiver)

    kinds = [e["type"] for e in events]
    assert kinds == ["ticket.taken_in_charge", "ticket.assigned", "ticket.replied"]
    assigned, replied = events[1]["data"], events[2]["data"]
    assert assigned["assignee_id"] == me["id"] and assigned["previous_assignee_id"] is None
    assert assigned["ticket"]["status"] == "taken_in_charge"
    assert replied["took_charge"] is True and replied["ticket"]["status"] == "taken_in_charge"


async def test_a_refused_reply_tells_nothing(api, db, smtp, rossi):  # noqa: F811
    ticket = received(api)
    with receiving(Receiver()) as receiver:
        receiver.secrets = [subscribe(api, receiver.url)]
        refused = api.agent.post(
            f"/api/v1/tickets/{ticket['id']}/replies",
            json={"text": "Copia", "cc": ["stranger@elsewhere.example"]},
        )
        assert refused.status_code == 422
        unknown = api.agent.post(
            f"/api/v1/tickets/{ticket['id']}/assign", json={"assignee_id": 999_999}
        )
        assert unknown.status_code == 422
        events = await delivered(db, smtp, receiver)
    assert events == [] and receiver.got == []
