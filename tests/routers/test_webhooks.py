"""The webhooks API (admin): a subscription's secret is shown once, rotated with an overlap;
https, or http to this machine only; deliveries listed with their attempts, redelivered."""

import pytest
from standardwebhooks import Webhook

from app.db import get_engine, unit_of_work
from app.enums import EventType
from app.models.base import utcnow
from app.services.webhooks import events as service_events

BASE = {
    "url": "https://tools.example.com/sportello/events",
    "events": ["ticket.created", "ticket.resolved", "ticket.created"],
    "description": "the CRM",
}


def test_a_subscription_shows_its_secret_once_and_never_again(api):
    response = api.admin.post("/api/v1/webhooks", json=BASE)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["Location"].endswith(f"/api/v1/webhooks/{created['id']}")
    assert created["events"] == ["ticket.created", "ticket.resolved"]  # each once
    assert created["enabled"] is True and created["secret"].startswith("whsec_")
    Webhook(created["secret"])  # the form the specification's libraries take
    for answer in (
        api.admin.get(f"/api/v1/webhooks/{created['id']}").text,
        api.admin.get("/api/v1/webhooks").text,
    ):
        assert created["secret"] not in answer and "whsec_" not in answer

    changed = api.admin.patch(
        f"/api/v1/webhooks/{created['id']}", json={"events": ["sla.breached"], "enabled": False}
    )
    assert changed.status_code == 200
    assert changed.json()["events"] == ["sla.breached"] and changed.json()["enabled"] is False

    rotated = api.admin.post(
        f"/api/v1/webhooks/{created['id']}/rotate-secret", json={"overlap_hours": 2}
    ).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    assert rotated["previous_secret_until"] is not None
    shown = api.admin.get(f"/api/v1/webhooks/{created['id']}").json()
    assert shown["previous_secret_until"] == rotated["previous_secret_until"]

    assert api.admin.delete(f"/api/v1/webhooks/{created['id']}").status_code == 204
    assert api.admin.get(f"/api/v1/webhooks/{created['id']}").status_code == 404


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://127.0.0.1:8080/hook", True),
        ("http://localhost/hook", True),
        ("http://[::1]:9000/hook", True),
        ("http://tools.example.com/hook", False),  # plain http off this machine
        ("http://10.0.0.5/hook", False),
        ("ftp://tools.example.com/hook", False),
        ("https:///nohost", False),
    ],
)
def test_https_or_http_to_this_machine_only(api, url, ok):
    response = api.admin.post("/api/v1/webhooks", json={**BASE, "url": url})
    assert response.status_code == (201 if ok else 422), response.text
    if not ok:
        assert response.json()["errors"][0]["field"].endswith("url")


def test_unknown_events_and_non_admins_are_refused(api):
    assert api.admin.post("/api/v1/webhooks", json={**BASE, "events": []}).status_code == 422
    unknown = api.admin.post("/api/v1/webhooks", json={**BASE, "events": ["ticket.eaten"]})
    assert unknown.status_code == 422
    assert api.agent.post("/api/v1/webhooks", json=BASE).status_code == 403
    assert api.agent.get("/api/v1/webhooks").status_code == 403


def test_deliveries_are_listed_and_one_is_redelivered_with_its_id(api, db):
    created = api.admin.post(
        "/api/v1/webhooks", json={**BASE, "url": "http://127.0.0.1:9/hook"}
    ).json()
    now = utcnow()
    with unit_of_work(get_engine(db)) as session:
        service_events.publish(
            EventType.MAILBOX_FAILING,
            session=session,
            at=now,
            cause="m",
            data=lambda: {},
        )  # not wanted: nothing queued
        service_events.publish(
            EventType.TICKET_CREATED,
            session=session,
            at=now,
            cause="t",
            data=lambda: {"ticket": None},
        )
    page = api.admin.get(f"/api/v1/webhooks/{created['id']}/deliveries").json()
    assert [d["type"] for d in page["items"]] == ["ticket.created"]
    delivery = page["items"][0]
    assert delivery["state"] == "pending" and delivery["event_id"].startswith("evt_")
    again = f"/api/v1/webhooks/{created['id']}/deliveries/{delivery['id']}/redeliver"
    assert api.admin.post(again).status_code == 409  # pending already
    with unit_of_work(get_engine(db)) as session:
        session.connection().exec_driver_sql("UPDATE outbox SET state = 'failed'")
    redelivered = api.admin.post(again)
    assert redelivered.status_code == 200, redelivered.text
    assert redelivered.json()["event_id"] == delivery["event_id"]  # the same webhook-id
    assert redelivered.json()["state"] == "pending"
    other = api.admin.post("/api/v1/webhooks", json=BASE).json()
    wrong = f"/api/v1/webhooks/{other['id']}/deliveries/{delivery['id']}/redeliver"
    assert api.admin.post(wrong).status_code == 404
    assert api.admin.get("/api/v1/webhooks/999/deliveries").status_code == 404


def test_a_delivery_emptied_by_retention_is_not_redelivered(api, db):
    """GDPR art. 5(1)(e): what a sent event said goes after SPORTELLO_RETENTION_OUTBOX_DAYS; the
    row stays, and sending it again, with nothing to send, is refused."""
    from datetime import timedelta

    from app.services import retention

    created = api.admin.post("/api/v1/webhooks", json=BASE).json()
    now = utcnow()
    with unit_of_work(get_engine(db)) as session:
        service_events.publish(
            EventType.TICKET_CREATED, session=session, at=now, cause="t", data=lambda: {}
        )
        session.connection().exec_driver_sql(
            "UPDATE outbox SET state = 'sent', sent_at = created_at"
        )
        policy = retention.Retention(outbox_days=30)
        later = now + timedelta(days=31)
        assert retention.remove_outbox_payloads(session=session, now=later, policy=policy) == 1
    [delivery] = api.admin.get(f"/api/v1/webhooks/{created['id']}/deliveries").json()["items"]
    again = f"/api/v1/webhooks/{created['id']}/deliveries/{delivery['id']}/redeliver"
    refused = api.admin.post(again)
    assert refused.status_code == 409
    assert "removed after the retention period" in refused.json()["detail"]
