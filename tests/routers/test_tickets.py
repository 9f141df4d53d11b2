"""Tickets through the HTTP API (R1-R14), on both databases.

Times are passed in through `received_at` (importing history), never by faking the clock.
"""

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import RUNS_UNTIL

ROME = "+01:00"


def iso(dt: datetime) -> str:
    return dt.isoformat()


@pytest.fixture
def rossi(api):
    """A customer with a contact, a domain and a contract from 2026 that runs whenever the
    suite runs (default terms)."""
    customer = api.admin.post(
        "/api/v1/customers",
        json={
            "name": "Rossi",
            "email_domains": ["rossi.it"],
            "contacts": [{"email": "boss@gmail.com", "name": "Boss"}],
        },
    ).json()
    contract = api.admin.post(
        "/api/v1/contracts",
        json={
            "customer_id": customer["id"],
            "code": "R-2026",
            "starts_on": "2026-01-01",
            "ends_on": RUNS_UNTIL,
            "annual_fee": "1200.00",
        },
    ).json()
    return {"customer": customer, "contract": contract}


def new_ticket(api, **overrides):
    payload = {
        "channel": "email",
        "from_email": "mario@rossi.it",
        "subject": "Sito lento",
        "body": "Il sito è lento.",
        "received_at": f"2026-11-23T16:00:00{ROME}",
    }
    payload.update(overrides)
    response = api.agent.post("/api/v1/tickets", json=payload)
    assert response.status_code == 201, response.text
    return response.json()


def test_match_by_domain_and_the_worked_deadline(api, rossi):
    """R1, R9: Mon 16:00 with a contract -> due Tue 17:00 (SPEC.md worked example)."""
    ticket = new_ticket(api, from_email="Mario@ROSSI.it")
    assert ticket["customer_id"] == rossi["customer"]["id"]
    assert ticket["contract_id"] == rossi["contract"]["id"]
    assert ticket["coverage"] == "contract"
    assert ticket["billable"] is False
    assert ticket["status"] == "new"
    assert ticket["number"].startswith("2026-")
    assert ticket["sla"]["policy"] == "contract"
    # The year of Rome: 00:30 on 1 January there is still 2025 in UTC.
    new_year = new_ticket(api, received_at="2026-01-01T00:30:00+01:00")
    assert new_year["number"].startswith("2026-"), new_year["number"]
    due = datetime.fromisoformat(ticket["sla"]["take_charge_due_at"])
    assert due == datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # 17:00 in Rome


def test_match_by_contact_address_before_domain(api, rossi):
    """A contact's exact address wins (a gmail address belongs to nobody's domain)."""
    ticket = new_ticket(api, from_email="boss@gmail.com")
    assert ticket["customer_id"] == rossi["customer"]["id"]
    stranger = new_ticket(api, from_email="someone@gmail.com")
    assert stranger["customer_id"] is None


def test_subdomain_sender_matches_the_customer_domain(api, rossi):
    assert new_ticket(api, from_email="it@shop.rossi.it")["customer_id"] == rossi["customer"]["id"]


def test_no_contract_is_support_policy_and_billable(api):
    """R2: unknown sender -> support policy, billable, no commitment (not_applicable)."""
    ticket = new_ticket(api, from_email="x@unknown.example")
    assert ticket["coverage"] == "no_contract"
    assert ticket["billable"] is True
    assert ticket["billing_reasons"] == ["no_contract"]
    assert ticket["sla"]["policy"] == "support"
    assert ticket["sla"]["state"] == "not_applicable"
    assert ticket["sla"]["take_charge_due_at"] is None


def test_expired_contract_is_no_contract(api, rossi):
    """R2: a contract that ended before the receipt date does not apply."""
    api.admin.patch(f"/api/v1/contracts/{rossi['contract']['id']}", json={"ends_on": "2026-06-30"})
    ticket = new_ticket(api)
    assert ticket["customer_id"] == rossi["customer"]["id"]
    assert ticket["contract_id"] is None
    assert ticket["coverage"] == "no_contract"
    assert ticket["billable"] is True


def test_not_covered_category_is_billable(api, rossi):
    """R4: email is covered only when the contract includes it."""
    ticket = new_ticket(api, category="email")
    assert ticket["coverage"] == "not_covered"
    assert ticket["billing_reasons"] == ["not_covered"]
    assert ticket["sla"]["take_charge_due_at"] is not None  # still under contract terms
    covered = new_ticket(api, category="hosting")  # R5
    assert covered["coverage"] == "contract" and covered["billable"] is False


def test_phone_is_refused_naming_the_accepted_channels(api, rossi):
    """R7: telephone requests cannot be taken into account."""
    response = api.agent.post(
        "/api/v1/tickets", json={"channel": "phone", "from_email": "mario@rossi.it", "subject": "x"}
    )
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == "channel"
    assert "email" in error["message"] and "web_form" in error["message"]


def test_received_at_in_the_future_is_refused(api, rossi):
    future = datetime.now(UTC) + timedelta(hours=1)
    response = api.agent.post(
        "/api/v1/tickets",
        json={"channel": "email", "from_email": "mario@rossi.it", "received_at": iso(future)},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "received_at"


def test_naive_received_at_is_refused(api, rossi):
    response = api.agent.post(
        "/api/v1/tickets",
        json={
            "channel": "email",
            "from_email": "mario@rossi.it",
            "received_at": "2026-11-23T16:00",
        },
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "received_at"


def test_urgent_tickets_come_first(api, rossi):
    """R12: URGENTE in the subject puts a request ahead of earlier deadlines."""
    early = new_ticket(api, subject="normale", received_at=f"2026-11-16T16:00:00{ROME}")
    urgent = new_ticket(api, subject="[urgente] sito giù", received_at=f"2026-11-20T16:00:00{ROME}")
    later = new_ticket(api, subject="normale 2", received_at=f"2026-11-18T16:00:00{ROME}")
    assert urgent["urgent"] is True and urgent["urgency"] == "claimed"
    assert early["urgent"] is False
    queue = api.viewer.get("/api/v1/tickets").json()["items"]
    assert [t["id"] for t in queue] == [urgent["id"], early["id"], later["id"]]
    urgent_only = api.viewer.get("/api/v1/tickets", params={"urgent": True}).json()["items"]
    assert [t["id"] for t in urgent_only] == [urgent["id"]]


def test_on_time_take_charge_is_met(api, rossi):
    """R9, R11: taken in charge before the deadline; the customer email is queued."""
    now = datetime.now(UTC)
    ticket = new_ticket(api, received_at=iso(now - timedelta(minutes=1)))
    estimate = iso(now + timedelta(days=2))
    response = api.agent.post(
        f"/api/v1/tickets/{ticket['id']}/take-charge",
        json={"estimated_resolution_at": estimate, "note": "ok"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "taken_in_charge"
    assert body["sla"]["state"] == "met"
    assert body["estimated_resolution_at"] is not None
    assert api.viewer.get(f"/api/v1/tickets/{ticket['id']}/sla").json()["state"] == "met"


def test_late_take_charge_is_breached(api, rossi):
    """R9: a request from two weeks ago taken in charge now is late: breached for good."""
    ticket = new_ticket(api, received_at=f"2026-11-02T16:00:00{ROME}")
    assert ticket["sla"]["state"] == "breached"
    assert ticket["sla"]["business_seconds_remaining"] == 0
    listed = api.viewer.get("/api/v1/sla/breaches").json()["items"]
    assert [t["id"] for t in listed] == [ticket["id"]]
    taken = api.agent.post(f"/api/v1/tickets/{ticket['id']}/take-charge", json={}).json()
    assert taken["sla"]["state"] == "breached"
    breached = api.viewer.get(
        "/api/v1/tickets", params={"sla_state": "breached", "status": "taken_in_charge"}
    ).json()["items"]
    assert [t["id"] for t in breached] == [ticket["id"]]


def test_estimate_must_follow_receipt(api, rossi):
    ticket = new_ticket(api)
    response = api.agent.post(
        f"/api/v1/tickets/{ticket['id']}/take-charge",
        json={"estimated_resolution_at": f"2026-11-01T10:00:00{ROME}"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "estimated_resolution_at"


def _walk(api, ticket_id, *steps):
    for step, payload in steps:
        path = f"/api/v1/tickets/{ticket_id}/{step}"
        response = api.agent.post(path, json=payload)
        assert response.status_code == 200, (step, response.text)


TAKE = ("take-charge", {})
WORK = ("status", {"status": "in_progress"})
WAIT = ("status", {"status": "waiting_third_party"})
RESOLVE = ("resolve", {"resolution": "fatto", "delivery_mode": "remote"})
CLOSE = ("status", {"status": "closed"})

# (steps to reach the state, the forbidden step, the state it is in)
FORBIDDEN = [
    ((), WORK, "new"),
    ((), WAIT, "new"),
    ((), RESOLVE, "new"),
    ((), CLOSE, "new"),
    ((TAKE,), TAKE, "taken_in_charge"),
    ((TAKE,), WAIT, "taken_in_charge"),
    ((TAKE,), CLOSE, "taken_in_charge"),
    ((TAKE, WORK), TAKE, "in_progress"),
    ((TAKE, WORK), WORK, "in_progress"),
    ((TAKE, WORK), CLOSE, "in_progress"),
    ((TAKE, WORK, WAIT), WAIT, "waiting_third_party"),
    ((TAKE, WORK, WAIT), CLOSE, "waiting_third_party"),
    ((TAKE, WORK, WAIT), TAKE, "waiting_third_party"),
    ((TAKE, RESOLVE), RESOLVE, "resolved"),
    ((TAKE, RESOLVE), WAIT, "resolved"),
    ((TAKE, RESOLVE), TAKE, "resolved"),
    ((TAKE, RESOLVE, CLOSE), WORK, "closed"),
    ((TAKE, RESOLVE, CLOSE), CLOSE, "closed"),
    ((TAKE, RESOLVE, CLOSE), RESOLVE, "closed"),
    ((TAKE, RESOLVE, CLOSE), TAKE, "closed"),
]


@pytest.mark.parametrize(("steps", "forbidden", "state"), FORBIDDEN)
def test_every_forbidden_transition_is_409(api, rossi, steps, forbidden, state):
    ticket = new_ticket(api)
    _walk(api, ticket["id"], *steps)
    step, payload = forbidden
    response = api.agent.post(f"/api/v1/tickets/{ticket['id']}/{step}", json=payload)
    assert response.status_code == 409, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["current_status"] == state
    assert state in problem["detail"]
    requested = {"take-charge": "taken_in_charge", "resolve": "resolved"}.get(
        step, payload.get("status")
    )
    assert problem["requested_status"] == requested


def test_full_lifecycle_with_reopen_and_audit(api, rossi):
    """R10, R14: wait on a provider, resolve remotely, reopen, close; every step audited."""
    ticket = new_ticket(api)
    _walk(
        api,
        ticket["id"],
        TAKE,
        WORK,
        WAIT,
        WORK,
        RESOLVE,
        ("status", {"status": "in_progress"}),
        RESOLVE,
        CLOSE,
    )
    final = api.viewer.get(f"/api/v1/tickets/{ticket['id']}").json()
    assert final["status"] == "closed"
    assert final["delivery_mode"] == "remote"
    events = api.viewer.get(f"/api/v1/tickets/{ticket['id']}/events").json()["items"]
    assert [(e["kind"], e["from_status"], e["to_status"]) for e in events] == [
        ("created", None, "new"),
        ("taken_in_charge", "new", "taken_in_charge"),
        ("status_changed", "taken_in_charge", "in_progress"),
        ("status_changed", "in_progress", "waiting_third_party"),
        ("status_changed", "waiting_third_party", "in_progress"),
        ("resolved", "in_progress", "resolved"),
        ("reopened", "resolved", "in_progress"),
        ("resolved", "in_progress", "resolved"),
        ("status_changed", "resolved", "closed"),
    ]
    assert all(e["actor"] == "test-agent" for e in events[1:])


def test_customer_emails_are_queued_once_per_event(api, rossi):
    """R11: one 'taken in charge' and one 'resolved' email per resolution, in the conversation."""
    ticket = new_ticket(api)
    _walk(api, ticket["id"], TAKE, RESOLVE, ("status", {"status": "in_progress"}), RESOLVE)
    messages = api.viewer.get(f"/api/v1/tickets/{ticket['id']}/messages").json()["items"]
    outbound = [m for m in messages if m["direction"] == "outbound"]
    assert len(outbound) == 3
    assert all(m["message_id"].startswith(ticket["number"]) for m in outbound)
    assert len({m["message_id"] for m in outbound}) == 3


def test_rejected_urgency_with_priority_handling_is_surcharged(api, rossi):
    """R13: priority handling without confirmed urgency is billed extra."""
    ticket = new_ticket(api, subject="URGENTE: cambio colore bottone")
    patched = api.agent.patch(
        f"/api/v1/tickets/{ticket['id']}", json={"urgency": "rejected", "priority_handling": True}
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["urgency"] == "rejected" and body["urgent"] is False
    assert body["billing_reasons"] == ["priority_surcharge"]
    assert body["billable"] is True
    confirmed = api.agent.patch(f"/api/v1/tickets/{ticket['id']}", json={"urgency": "confirmed"})
    assert confirmed.json()["billing_reasons"] == []
    assert confirmed.json()["urgent"] is True


def test_category_change_recomputes_coverage_and_is_logged(api, rossi):
    ticket = new_ticket(api)
    patched = api.agent.patch(f"/api/v1/tickets/{ticket['id']}", json={"category": "email"})
    assert patched.json()["coverage"] == "not_covered"
    assert patched.json()["sla"]["take_charge_due_at"] == ticket["sla"]["take_charge_due_at"]
    events = api.viewer.get(f"/api/v1/tickets/{ticket['id']}/events").json()["items"]
    assert events[-1]["kind"] == "updated"
    assert events[-1]["data"] == {"before": {"category": None}, "after": {"category": "email"}}


def test_relinking_a_customer_rematches_the_contract(api, rossi):
    """A request from an unknown address, relinked by staff: contract and deadline follow."""
    ticket = new_ticket(api, from_email="nuovo@altro.example")
    assert ticket["coverage"] == "no_contract"
    relinked = api.agent.patch(
        f"/api/v1/tickets/{ticket['id']}", json={"customer_id": rossi["customer"]["id"]}
    ).json()
    assert relinked["contract_id"] == rossi["contract"]["id"]
    assert relinked["coverage"] == "contract"
    assert relinked["billable"] is False
    assert relinked["sla"]["take_charge_due_at"] is not None
    kinds = [
        e["kind"] for e in api.viewer.get(f"/api/v1/tickets/{ticket['id']}/events").json()["items"]
    ]
    assert kinds == ["created", "sla_recomputed", "updated"]


def test_contract_edits_do_not_rewrite_history(api, rossi):
    """The SLA snapshot stays; recomputation is an explicit, logged action."""
    ticket = new_ticket(api)
    api.admin.patch(f"/api/v1/contracts/{rossi['contract']['id']}", json={"take_charge_hours": 8})
    again = api.viewer.get(f"/api/v1/tickets/{ticket['id']}").json()
    assert again["sla"]["take_charge_due_at"] == ticket["sla"]["take_charge_due_at"]
    recomputed = api.agent.post(f"/api/v1/tickets/{ticket['id']}/recompute-sla").json()
    assert recomputed["sla"]["take_charge_due_at"] != ticket["sla"]["take_charge_due_at"]
    assert recomputed["sla"]["target_seconds"] == 8 * 3600


def test_unknown_ticket_is_404(api):
    assert api.viewer.get("/api/v1/tickets/424242").status_code == 404
    assert api.agent.post("/api/v1/tickets/424242/take-charge", json={}).status_code == 404


def test_the_request_text_is_the_first_message(api, rossi):
    ticket = new_ticket(api, body="Testo della richiesta")
    messages = api.viewer.get(f"/api/v1/tickets/{ticket['id']}/messages").json()["items"]
    assert [m["text"] for m in messages] == ["Testo della richiesta"]
    assert messages[0]["direction"] == "inbound"


def test_every_instant_on_the_wire_is_utc_with_z(api, rossi):
    """One style, whatever offset came in: `...Z` in tickets, events, messages and deadlines."""
    import json
    import re

    ticket = new_ticket(api, received_at="2026-11-23T16:00:00+01:00")
    taken = api.agent.post(
        f"/api/v1/tickets/{ticket['id']}/take-charge",
        json={"estimated_resolution_at": "2026-11-25T17:00:00+01:00"},
    )
    answers = [
        ticket,
        taken.json(),
        api.viewer.get(f"/api/v1/tickets/{ticket['id']}/events").json(),
        api.viewer.get(f"/api/v1/tickets/{ticket['id']}/messages").json(),
        api.viewer.get(
            "/api/v1/calendars/1/deadline",
            params={"start": "2026-11-23T16:00:00+01:00", "hours": 4},
        ).json(),
    ]
    instants = re.findall(r'"(\d{4}-\d\d-\d\dT[^"]*)"', json.dumps(answers))

    assert len(instants) > 10
    assert [i for i in instants if not i.endswith("Z")] == []
    assert taken.json()["estimated_resolution_at"] == "2026-11-25T16:00:00Z"


def test_a_tickets_deadline_is_explained_from_its_own_snapshot(api, rossi):
    """The explanation comes from the snapshot the deadline was computed with (R8, R9)."""
    ticket = new_ticket(api, received_at="2026-11-27T17:30:00+01:00")  # Fri: due Tue 15:30

    explained = api.viewer.get(f"/api/v1/tickets/{ticket['number']}/sla/explain")

    assert explained.status_code == 200, explained.text
    body = explained.json()
    assert (
        body["take_charge_due_at"] == ticket["sla"]["take_charge_due_at"] == "2026-12-01T14:30:00Z"
    )
    assert body["explanation"]["summary"] == (
        "ricevuta ven 27/11 17:30; 30 min ven 27; sab-dom chiuso; 3 h lun 30; 30 min mar 1 "
        "-> mar 01/12 15:30"
    )
    assert sum(s["seconds"] for s in body["explanation"]["segments"]) == 4 * 3600
