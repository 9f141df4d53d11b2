"""GET /api/v1/tickets: filters, the work-queue order, and keyset pagination (R12, R17)."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import RUNS_UNTIL
from tests.routers.test_tickets import new_ticket, rossi  # noqa: F401  (fixture)

ROME = "+01:00"


def ids(response):
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json()["items"]]


def _key(ticket):
    due = ticket["sla"]["take_charge_due_at"] or "9999"
    return (0 if ticket["urgent"] else 1, due.replace("+00:00", "Z"), ticket["id"])


def test_pages_have_no_duplicates_or_gaps_while_tickets_arrive(api, rossi):  # noqa: F811
    start = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    original = [
        new_ticket(
            api,
            subject="URGENTE" if i % 5 == 0 else f"n{i}",
            received_at=(start + timedelta(hours=7 * i)).isoformat(),
        )["id"]
        for i in range(23)
    ]
    seen, cursor, pages, arrivals = [], None, 0, 0
    while True:
        params = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        page = api.viewer.get("/api/v1/tickets", params=params).json()
        seen.extend(page["items"])
        pages += 1
        # New tickets arrive between pages: some sort before the cursor, some after.
        now = datetime.now(UTC)
        for subject in ("URGENTE nuovo", "nuovo"):
            new_ticket(api, subject=subject, received_at=(now - timedelta(minutes=1)).isoformat())
            arrivals += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    seen_ids = [t["id"] for t in seen]
    assert len(seen_ids) == len(set(seen_ids)), "a ticket appeared twice"
    assert set(original) <= set(seen_ids), "a ticket present from the start was skipped"
    assert [_key(t) for t in seen] == sorted(_key(t) for t in seen)
    assert pages >= 5 and arrivals == 2 * pages


def test_bad_cursor_is_422(api):
    response = api.viewer.get("/api/v1/tickets", params={"cursor": "not-a-cursor"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "cursor"


def test_filters(api, rossi):  # noqa: F811
    other = api.admin.post(
        "/api/v1/customers", json={"name": "Verdi", "email_domains": ["verdi.it"]}
    ).json()
    a = new_ticket(api, subject="Sito lento", category="website")
    b = new_ticket(api, subject="Casella piena", category="email")
    c = new_ticket(api, from_email="x@verdi.it", subject="URGENTE backup")
    d = new_ticket(api, subject="Vecchio", received_at=f"2026-10-01T16:00:00{ROME}")
    api.agent.post(f"/api/v1/tickets/{d['id']}/take-charge", json={})
    api.agent.post(
        f"/api/v1/tickets/{d['id']}/resolve", json={"resolution": "ok", "delivery_mode": "online"}
    )
    get = lambda **p: ids(api.viewer.get("/api/v1/tickets", params=p))  # noqa: E731

    assert set(get()) == {a["id"], b["id"], c["id"]}  # the work queue: open tickets
    assert get(status="resolved") == [d["id"]]
    assert set(get(status=["new", "resolved"])) == {a["id"], b["id"], c["id"], d["id"]}
    assert get(customer_id=other["id"]) == [c["id"]]
    assert set(get(contract_id=rossi["contract"]["id"])) == {a["id"], b["id"]}
    assert get(urgent=True) == [c["id"]]
    assert get(category="email") == [b["id"]]
    assert set(get(billable=True)) == {b["id"], c["id"]}  # not covered; no contract
    assert get(q="casella") == [b["id"]]
    assert get(q="100%") == []
    assert get(status="resolved", received_to=f"2026-10-02T00:00:00{ROME}") == [d["id"]]
    assert get(status="resolved", received_from=f"2026-10-02T00:00:00{ROME}") == []
    assert get(sla_state="not_applicable") == [c["id"]]
    assert get(status="resolved", sla_state="breached") == [d["id"]]


def test_naive_range_is_422(api):
    response = api.viewer.get("/api/v1/tickets", params={"received_from": "2026-10-01T00:00"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "received_from"


@pytest.fixture
def round_the_clock(api):
    """A customer whose contract runs on a 24/7 calendar: business time is real time."""
    calendar = api.admin.post(
        "/api/v1/calendars",
        json={
            "name": "24-7",
            "timezone": "Europe/Rome",
            "holiday_country": None,
            "weekly": {
                d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
            },
        },
    ).json()
    customer = api.admin.post(
        "/api/v1/customers", json={"name": "H24", "email_domains": ["h24.it"]}
    ).json()
    api.admin.post(
        "/api/v1/contracts",
        json={
            "customer_id": customer["id"],
            "code": "H24",
            "starts_on": "2026-01-01",
            "ends_on": RUNS_UNTIL,
            "annual_fee": "1",
            "calendar_id": calendar["id"],
        },
    )
    return customer


def test_sla_state_filters_agree_with_the_sla_block(api, round_the_clock):
    """R17: pending / at_risk (under 25% left) / breached, by SQL and by the engine alike."""
    now = datetime.now(UTC)
    ages = {"pending": [10, 120, 170], "at_risk": [190, 200, 235], "breached": [245, 600]}
    made = {}
    for expected, minutes in ages.items():
        for age in minutes:
            ticket = new_ticket(
                api,
                from_email="a@h24.it",
                subject=f"{expected} {age}",
                received_at=(now - timedelta(minutes=age)).isoformat(),
            )
            assert ticket["sla"]["state"] == expected, (age, ticket["sla"])
            made[ticket["id"]] = expected
    for state in ("pending", "at_risk", "breached"):
        listed = set(ids(api.viewer.get("/api/v1/tickets", params={"sla_state": state})))
        assert listed == {i for i, s in made.items() if s == state}, state
    assert set(ids(api.viewer.get("/api/v1/sla/at-risk"))) == {
        i for i, s in made.items() if s == "at_risk"
    }
    assert set(ids(api.viewer.get("/api/v1/sla/breaches"))) == {
        i for i, s in made.items() if s == "breached"
    }
    # Taken in charge in time: met, and out of the pending/at-risk lists.
    risky = next(i for i, s in made.items() if s == "at_risk")
    api.agent.post(f"/api/v1/tickets/{risky}/take-charge", json={})
    assert risky in ids(
        api.viewer.get("/api/v1/tickets", params={"sla_state": "met", "status": "taken_in_charge"})
    )
    assert risky not in ids(api.viewer.get("/api/v1/sla/at-risk"))
    remaining = api.viewer.get(f"/api/v1/tickets/{risky}/sla").json()
    assert remaining["state"] == "met"
    assert 0 < remaining["business_seconds_remaining"] < 3600


def test_q_finds_a_ticket_by_its_number_and_by_its_sender(api, rossi):  # noqa: F811
    """What a customer on the phone reads out: the number, their address, their name."""
    lento = new_ticket(api, subject="Sito lento")
    verdi = new_ticket(api, from_email="anna@verdi.it", from_name="Anna Verdi", subject="Backup")
    get = lambda **p: ids(api.viewer.get("/api/v1/tickets", params=p))  # noqa: E731

    assert get(q=lento["number"]) == [lento["id"]]
    assert get(q="anna@verdi") == [verdi["id"]]
    assert get(q="VERDI") == [verdi["id"]]
    assert get(q="sito") == [lento["id"]]


def test_a_ticket_is_found_and_worked_on_by_its_number(api, rossi):  # noqa: F811
    ticket = new_ticket(api)

    by_number = api.viewer.get(f"/api/v1/tickets/{ticket['number']}")
    assert by_number.status_code == 200, by_number.text
    assert by_number.json()["id"] == ticket["id"]
    taken = api.agent.post(f"/api/v1/tickets/{ticket['number']}/take-charge", json={})
    assert taken.status_code == 200 and taken.json()["status"] == "taken_in_charge"
    sla = api.viewer.get(f"/api/v1/tickets/{ticket['number']}/sla")
    assert sla.status_code == 200
    assert sla.json()["taken_in_charge_at"] == taken.json()["taken_in_charge_at"]

    missing = api.viewer.get("/api/v1/tickets/2026-999999")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "No ticket with number 2026-999999."
    assert api.viewer.get("/api/v1/tickets/2147483648").status_code == 422  # beyond any id
    malformed = api.viewer.get("/api/v1/tickets/26-1")
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"] == "ticket_ref"
