"""The renewal watch over HTTP: contracts ending or lapsed, a renewal in one call, and a ticket
marked after a lapse (R1, R2). The server's clock is passed in."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

import pytest

from app.deps import get_now
from tests.conftest import Api

NOW = datetime(2027, 1, 8, 15, 30, tzinfo=UTC)  # Friday 8 January 2027, 16:30 in Rome


@pytest.fixture
def clocked(serve, db) -> Iterator[Api]:
    """Clients on a server whose `now` is NOW."""
    server = serve()
    server.app.dependency_overrides[get_now] = lambda: NOW
    clients = Api(server, db)
    yield clients
    clients.close()


def customer(api: Api, name: str, **fields) -> int:
    response = api.admin.post("/api/v1/customers", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def contract(api: Api, customer_id: int, code: str, starts_on: str, **fields) -> dict:
    body = {
        "customer_id": customer_id,
        "code": code,
        "starts_on": starts_on,
        "annual_fee": "1200.00",
        "proposal_ref": "PROP-1",
        **fields,
    }
    response = api.admin.post("/api/v1/contracts", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def codes(api: Api, query: str) -> list[str]:
    response = api.viewer.get(f"/api/v1/contracts?{query}")
    assert response.status_code == 200, response.text
    return [item["code"] for item in response.json()["items"]]


def test_contracts_ending_within_days_and_lapsed(clocked):
    """Today is 8 January 2027: in force and not renewed, ending within N days; or ended and
    not renewed (a renewed one is neither)."""
    soon = contract(clocked, customer(clocked, "A"), "SOON", "2026-02-01")  # ends 31 Jan
    contract(clocked, customer(clocked, "B"), "LATER", "2026-04-01")  # ends 31 Mar
    contract(clocked, customer(clocked, "C"), "TODAY", "2026-01-09")  # ends 8 Jan: today
    gone = customer(clocked, "D")
    contract(clocked, gone, "GONE", "2025-06-01")  # ended 31 May 2026
    renewed = customer(clocked, "E")
    contract(clocked, renewed, "OLD", "2026-01-15", ends_on="2027-01-20")
    contract(clocked, renewed, "NEW", "2027-01-21")

    assert codes(clocked, "ending_within=30d") == ["SOON", "TODAY"]
    assert codes(clocked, "ending_within=0d") == ["TODAY"]
    assert codes(clocked, "ending_within=90d") == ["SOON", "LATER", "TODAY"]
    assert codes(clocked, "lapsed=true") == ["GONE"]
    assert "GONE" not in codes(clocked, "lapsed=false")
    assert codes(clocked, f"lapsed=true&customer_id={soon['customer_id']}") == []
    page = clocked.viewer.get("/api/v1/contracts?ending_within=30d&limit=1").json()
    assert page["total"] == 2 and len(page["items"]) == 1


@pytest.mark.parametrize(
    "query",
    [
        "ending_within=30",
        "ending_within=30days",
        "ending_within=-1d",
        "ending_within=99999d",
        "ending_within=30d%0D%0AX-Injected:%201",
        "ending_within=<script>d",
        "lapsed=maybe",
    ],
)
def test_invalid_watch_filters_are_422_problems(api, query):
    response = api.viewer.get(f"/api/v1/contracts?{query}")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] in ("ending_within", "lapsed")


def test_renew_starts_the_day_after_for_one_year_same_terms(api):
    """R1: no gap, no overlap; coverage, calendar, target and on-call as the year before."""
    calendar = api.admin.post(
        "/api/v1/calendars", json={"name": "evenings", "weekly": {"mon": [["18:00", "22:00"]]}}
    ).json()
    old = contract(
        api,
        customer(api, "Rossi"),
        "ASS-2026-001",
        "2026-03-01",
        coverage=["website", "email"],
        take_charge_hours=2,
        on_call={"calendar_id": calendar["id"], "take_charge_hours": 3},
    )
    response = api.admin.post(
        f"/api/v1/contracts/{old['id']}/renew",
        json={"annual_fee": "1300.00", "proposal_ref": "PROP-2027-9"},
    )
    assert response.status_code == 201, response.text
    new = response.json()
    assert response.headers["location"].endswith(f"/api/v1/contracts/{new['id']}")
    assert (old["ends_on"], new["starts_on"], new["ends_on"]) == (
        "2027-02-28",
        "2027-03-01",
        "2028-02-29",  # a leap year: one year is 366 days
    )
    assert new["code"] == "ASS-2027-001"
    assert new["annual_fee"] == "1300.00" and new["proposal_ref"] == "PROP-2027-9"
    for same in ("customer_id", "coverage", "calendar_id", "take_charge_hours", "on_call"):
        assert new[same] == old[same]

    again = api.admin.post(
        f"/api/v1/contracts/{old['id']}/renew",
        json={"annual_fee": "1300.00", "proposal_ref": "PROP-2027-9", "code": "OTHER"},
    )
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert "ASS-2027-001" in again.json()["detail"]
    # The new year can be renewed in turn: from 1 March 2028 to 28 February 2029.
    third = api.admin.post(
        f"/api/v1/contracts/{new['id']}/renew",
        json={"annual_fee": "1400", "proposal_ref": "P3", "coverage": ["website", "hosting"]},
    ).json()
    assert (third["starts_on"], third["ends_on"], third["code"]) == (
        "2028-03-01",
        "2029-02-28",
        "ASS-2028-001",
    )
    assert third["coverage"] == ["website", "hosting"]


def test_renew_with_a_code_given_or_derived_and_its_clashes(api):
    customer_id = customer(api, "Bianchi")
    old = contract(api, customer_id, "BIANCHI", "2026-01-01")
    other = contract(api, customer(api, "Verdi"), "BIANCHI-2027", "2026-01-01")
    body = {"annual_fee": "1", "proposal_ref": "P"}
    clash = api.admin.post(f"/api/v1/contracts/{old['id']}/renew", json=body)
    assert clash.status_code == 409 and clash.json()["errors"][0]["field"] == "code"
    given = api.admin.post(
        f"/api/v1/contracts/{old['id']}/renew", json={**body, "code": "BIANCHI-B"}
    )
    assert given.status_code == 201 and given.json()["code"] == "BIANCHI-B"
    assert given.json()["starts_on"] == "2027-01-01" and other["code"] == "BIANCHI-2027"


def test_renew_refuses_bad_input_unknown_contracts_and_roles(api):
    old = contract(api, customer(api, "Neri"), "NERI-2026", "2026-01-01")
    path = f"/api/v1/contracts/{old['id']}/renew"
    body = {"annual_fee": "1300.00", "proposal_ref": "PROP"}
    assert api.agent.post(path, json=body).status_code == 403
    assert api.viewer.post(path, json=body).status_code == 403
    assert api.anonymous.post(path, json=body).status_code == 401
    assert api.admin.post("/api/v1/contracts/999999/renew", json=body).status_code == 404
    for bad in (
        {"annual_fee": "-1", "proposal_ref": "P"},
        {"annual_fee": "1e400", "proposal_ref": "P"},
        {"annual_fee": "1"},
        {"annual_fee": "1", "proposal_ref": ""},
        {"annual_fee": "1", "proposal_ref": "P" * 201},
        {"annual_fee": "1", "proposal_ref": "P", "coverage": ["hosting"]},
        {"annual_fee": "1", "proposal_ref": "P", "calendar_id": 999999},
        {"annual_fee": "1", "proposal_ref": "P", "code": "x\u0000y"},
        {"annual_fee": "1", "proposal_ref": "P", "starts_on": "2030-01-01"},
    ):
        response = api.admin.post(path, json=bad)
        assert response.status_code == 422, (bad, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert codes(api, "customer_id=" + str(old["customer_id"])) == ["NERI-2026"]


def test_a_ticket_after_a_lapse_shows_the_contracts_last_day(api):
    """R2: `contract_lapsed_on` in the ticket's read model."""
    customer_id = customer(api, "Gialli", email_domains=["gialli.it"])
    contract(api, customer_id, "G-1", "2025-12-01")  # ends 30 November 2026
    response = api.agent.post(
        "/api/v1/tickets",
        json={
            "channel": "email",
            "from_email": "anna@gialli.it",
            "subject": "Sito giù",
            "body": "Il sito non risponde.",
            "received_at": "2026-12-02T10:00:00+01:00",
        },
    )
    assert response.status_code == 201, response.text
    ticket = api.viewer.get(f"/api/v1/tickets/{response.json()['id']}").json()
    assert ticket["contract_lapsed_on"] == "2026-11-30"
    assert ticket["coverage"] == "no_contract" and ticket["contract_id"] is None
    listed = api.viewer.get(f"/api/v1/tickets?customer_id={customer_id}").json()["items"]
    assert listed[0]["contract_lapsed_on"] == "2026-11-30"
    assert date.fromisoformat(ticket["contract_lapsed_on"]) < date(2026, 12, 2)

    # Renewed since (the next year from 1 December): recomputed, it is covered, not lapsed.
    old = codes(api, f"customer_id={customer_id}")
    assert old == ["G-1"]
    first = api.viewer.get(f"/api/v1/contracts?customer_id={customer_id}").json()["items"][0]
    renewed = api.admin.post(
        f"/api/v1/contracts/{first['id']}/renew", json={"annual_fee": "1", "proposal_ref": "P"}
    )
    assert renewed.json()["starts_on"] == "2026-12-01"
    again = api.agent.post(f"/api/v1/tickets/{ticket['id']}/recompute-sla")
    assert again.status_code == 200, again.text
    assert again.json()["contract_lapsed_on"] is None
    assert again.json()["contract_id"] == renewed.json()["id"]


def test_two_renewals_at_once_make_one_next_year(api):
    """R1: concurrent calls (the row is locked): one 201, the other 409."""
    old = contract(api, customer(api, "Viola"), "VIOLA-2026", "2026-01-01")
    body = {"annual_fee": "1300.00", "proposal_ref": "PROP"}
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(
            pool.map(
                lambda code: (
                    api.admin.post(
                        f"/api/v1/contracts/{old['id']}/renew", json={**body, "code": code}
                    ).status_code
                ),
                ["VIOLA-A", "VIOLA-B"],
            )
        )
    assert sorted(answers) == [201, 409]
    assert len(codes(api, f"customer_id={old['customer_id']}")) == 2
