"""Contracts: the defaults and checks of API.md (R1, R3-R5, R8, R9, R16)."""

import pytest


@pytest.fixture
def customer_id(api):
    return api.admin.post("/api/v1/customers", json={"name": "Rossi"}).json()["id"]


def test_contract_defaults(api, customer_id):
    """R1: one year less a day; R3/R5: default coverage; R8: default calendar; R9: 4 hours."""
    response = api.admin.post(
        "/api/v1/contracts",
        json={
            "customer_id": customer_id,
            "code": "ASS-1",
            "starts_on": "2026-03-15",
            "annual_fee": 1200,
            "proposal_ref": "PROP-7",
        },
    )
    assert response.status_code == 201, response.text
    contract = response.json()
    default_id = next(
        c["id"]
        for c in api.viewer.get("/api/v1/calendars").json()["items"]
        if c["name"] == "default"
    )
    assert contract["ends_on"] == "2027-03-14"
    assert contract["annual_fee"] == "1200.00"
    assert contract["coverage"] == ["website", "hosting", "backup"]
    assert contract["calendar_id"] == default_id
    assert contract["take_charge_hours"] == 4
    assert contract["on_call"] is None
    assert api.viewer.get(f"/api/v1/contracts/{contract['id']}").json() == contract


def test_leap_day_contract_ends_the_day_before_its_anniversary(api, customer_id):
    response = api.admin.post(
        "/api/v1/contracts",
        json={
            "customer_id": customer_id,
            "code": "L",
            "starts_on": "2028-02-29",
            "annual_fee": "1",
        },
    )
    assert response.json()["ends_on"] == "2029-02-28"


def test_contract_with_on_call_agreement(api, customer_id):
    """R16: an on-call agreement with its own calendar and target."""
    calendar = api.admin.post(
        "/api/v1/calendars",
        json={
            "name": "every-day",
            "weekly": {
                d: [["08:00", "22:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
            },
        },
    )
    response = api.admin.post(
        "/api/v1/contracts",
        json={
            "customer_id": customer_id,
            "code": "OC",
            "starts_on": "2026-01-01",
            "annual_fee": "2400.50",
            "coverage": ["website", "email", "provider_outage"],
            "on_call": {"calendar_id": calendar.json()["id"], "take_charge_hours": 2},
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["on_call"] == {"calendar_id": calendar.json()["id"], "take_charge_hours": 2}
    assert body["annual_fee"] == "2400.50"
    assert body["coverage"] == ["website", "email", "provider_outage"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ends_on": "2026-01-01"}, "ends_on"),
        ({"ends_on": "2025-12-31"}, "ends_on"),
        ({"annual_fee": "-0.01"}, "annual_fee"),
        ({"annual_fee": "10.001"}, "annual_fee"),
        ({"annual_fee": "lots"}, "annual_fee"),
        ({"coverage": ["website", "phone"]}, "coverage.1"),
        ({"take_charge_hours": 0}, "take_charge_hours"),
        ({"starts_on": "2026-13-01"}, "starts_on"),
        ({"customer_id": 999999}, "customer_id"),
        ({"calendar_id": 999999}, "calendar_id"),
        ({"on_call": {"calendar_id": 999999, "take_charge_hours": 2}}, "on_call.calendar_id"),
    ],
)
def test_contract_validation_names_the_field(api, customer_id, change, field):
    payload = {
        "customer_id": customer_id,
        "code": "X",
        "starts_on": "2026-01-01",
        "annual_fee": "100.00",
    }
    payload.update(change)
    response = api.admin.post("/api/v1/contracts", json=payload)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_contract_codes_are_unique(api, customer_id):
    payload = {
        "customer_id": customer_id,
        "code": "DUP",
        "starts_on": "2026-01-01",
        "annual_fee": "1",
    }
    assert api.admin.post("/api/v1/contracts", json=payload).status_code == 201
    assert api.admin.post("/api/v1/contracts", json=payload).status_code == 409


def test_patch_contract_checks_dates_again(api, customer_id):
    contract = api.admin.post(
        "/api/v1/contracts",
        json={
            "customer_id": customer_id,
            "code": "P",
            "starts_on": "2026-01-01",
            "annual_fee": "1",
        },
    ).json()
    bad = api.admin.patch(f"/api/v1/contracts/{contract['id']}", json={"ends_on": "2025-06-01"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "ends_on"
    good = api.admin.patch(
        f"/api/v1/contracts/{contract['id']}",
        json={"coverage": ["website", "email"], "annual_fee": "99.9"},
    )
    assert good.status_code == 200
    assert good.json()["coverage"] == ["website", "email"]
    assert good.json()["annual_fee"] == "99.90"


def test_contracts_filter_by_customer_and_activity(api, customer_id):
    other = api.admin.post("/api/v1/customers", json={"name": "Other"}).json()["id"]
    for code, who, start in (
        ("A", customer_id, "2025-01-01"),
        ("B", customer_id, "2026-01-01"),
        ("C", other, "2026-01-01"),
    ):
        api.admin.post(
            "/api/v1/contracts",
            json={"customer_id": who, "code": code, "starts_on": start, "annual_fee": "1"},
        )
    mine = api.viewer.get("/api/v1/contracts", params={"customer_id": customer_id}).json()
    assert [c["code"] for c in mine["items"]] == ["A", "B"]
    active = api.viewer.get(
        "/api/v1/contracts", params={"customer_id": customer_id, "active_on": "2026-06-01"}
    ).json()
    assert [c["code"] for c in active["items"]] == ["B"]


def test_overlapping_contracts_are_refused_naming_the_other(api, customer_id):
    """R1: one contract in force at a time; silently letting the newer one win is refused."""

    def contract(code, starts_on, **extra):
        return api.admin.post(
            "/api/v1/contracts",
            json={
                "customer_id": customer_id,
                "code": code,
                "starts_on": starts_on,
                "annual_fee": "1",
                **extra,
            },
        )

    first = contract("A-2026", "2026-01-01")
    assert first.status_code == 201, first.text
    overlapping = contract("B-2026", "2026-06-01")
    assert overlapping.status_code == 409, overlapping.text
    assert "A-2026" in overlapping.json()["detail"]
    assert overlapping.json()["contract_id"] == first.json()["id"]
    following = contract("A-2027", "2027-01-01")  # the day after the first one ends
    assert following.status_code == 201, following.text

    stretched = api.admin.patch(
        f"/api/v1/contracts/{first.json()['id']}", json={"ends_on": "2027-03-01"}
    )
    assert stretched.status_code == 409, stretched.text
    assert "A-2027" in stretched.json()["detail"]
    assert (
        api.admin.get(f"/api/v1/contracts/{first.json()['id']}").json()["ends_on"] == "2026-12-31"
    )
