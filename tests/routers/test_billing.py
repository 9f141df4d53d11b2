"""Time on tickets and the monthly billing report (R2, R4, R13): lines, rates, billed once."""

import csv
import io
from typing import Any

import pytest

from tests.conftest import Api
from tests.routers.test_reports import _open, october  # noqa: F401


@pytest.fixture
def billable(api: Api, db: str, october: dict[str, Any]) -> dict[str, int]:  # noqa: F811
    """October's billable requests with their time: S from a stranger (no contract, R2), N about
    email, outside Rossi's coverage (R4), P asking priority without real urgency (R13)."""
    from tests.engine.test_explain import rome

    tickets = {"S": october["tickets"]["S"]}
    tickets["N"] = _open(db, rome(2026, 10, 20, 16, 0), category="email")
    tickets["P"] = _open(db, rome(2026, 10, 21, 16, 0), subject="URGENTE home page")
    decided = api.agent.patch(
        f"/api/v1/tickets/{tickets['P']}",
        json={"urgency": "rejected", "priority_handling": True},
    )
    assert decided.json()["billing_reasons"] == ["priority_surcharge"], decided.text
    for ticket, minutes, billable_flag in (
        ("S", 50, None),
        ("S", 20, False),  # not billed: internal time
        ("N", 10, None),
        ("P", 40, None),
    ):
        entry = {"minutes": minutes, "note": "lavoro"}
        if billable_flag is not None:
            entry["billable"] = billable_flag
        response = api.agent.post(f"/api/v1/tickets/{tickets[ticket]}/time-entries", json=entry)
        assert response.status_code == 201, response.text
    for ticket_id in tickets.values():  # P4: agreed by email, recorded by staff
        agreed = api.agent.post(
            f"/api/v1/tickets/{ticket_id}/consent", json={"note": "Confermato per email"}
        )
        assert agreed.status_code == 201, agreed.text
    return tickets


def test_time_entries_are_listed_and_deleted_by_their_author_or_an_admin(api: Api, rossi_ticket):
    url = f"/api/v1/tickets/{rossi_ticket}/time-entries"
    created = api.agent.post(url, json={"minutes": 25, "note": "Analisi log"})
    assert created.status_code == 201, created.text
    entry = created.json()
    assert created.headers["location"].endswith(f"{url}/{entry['id']}")
    assert (entry["minutes"], entry["author"], entry["billable"]) == (25, "test-agent", False)
    assert [e["id"] for e in api.viewer.get(url).json()["items"]] == [entry["id"]]

    assert api.viewer.post(url, json={"minutes": 5}).status_code == 403
    assert api.agent.post(url, json={"minutes": 0}).status_code == 422
    assert api.agent.post(url, json={"minutes": 1441}).status_code == 422
    other = api.admin.post(url, json={"minutes": 5}).json()
    assert api.agent.delete(f"{url}/{other['id']}").status_code == 403  # not the author
    assert api.agent.delete(f"{url}/{entry['id']}").status_code == 204
    assert api.admin.delete(f"{url}/{other['id']}").status_code == 204
    assert api.admin.delete(f"{url}/{other['id']}").status_code == 404
    assert api.viewer.get(url).json()["items"] == []
    kinds = [
        e["kind"] for e in api.viewer.get(f"/api/v1/tickets/{rossi_ticket}/events").json()["items"]
    ]
    assert kinds.count("time_recorded") == 2 and kinds.count("time_deleted") == 2


@pytest.fixture
def rossi_ticket(api: Api, db: str, october: dict[str, Any]) -> int:  # noqa: F811
    return october["tickets"]["A"]


def test_the_october_billing_report_prices_each_line(api: Api, billable: dict[str, int]):
    """Default rates: 60.00 EUR/h, at least 30 min, rounded up to 15 min, surcharge 50%."""
    report = api.viewer.get("/api/v1/reports/billing", params={"month": "2026-10"}).json()

    # Customers by name, then senders no customer matches, on both databases.
    assert [line["customer_name"] for line in report["lines"]] == ["Rossi", "Rossi", None]
    lines = {line["item_id"]: line for line in report["lines"]}
    assert set(lines) == {
        f"{billable['S']}:no_contract",
        f"{billable['N']}:not_covered",
        f"{billable['P']}:priority_surcharge",
    }
    stranger = lines[f"{billable['S']}:no_contract"]
    assert (stranger["recorded_minutes"], stranger["minutes"], stranger["amount"]) == (
        50,
        60,
        "60.00",
    )
    assert stranger["customer_id"] is None and stranger["state"] == "open"
    email = lines[f"{billable['N']}:not_covered"]
    assert (email["recorded_minutes"], email["minutes"], email["amount"]) == (10, 30, "30.00")
    priority = lines[f"{billable['P']}:priority_surcharge"]
    # 40 min -> 45 min at 60.00/h = 45.00; 50% of it.
    assert (priority["minutes"], priority["hourly_rate"], priority["amount"]) == (
        45,
        "60.00",
        "22.50",
    )
    totals = {t["customer_name"]: (t["open"], t["billed"], t["lines"]) for t in report["totals"]}
    assert totals == {"Rossi": ("52.50", "0.00", 2), None: ("60.00", "0.00", 1)}
    assert (report["total_open"], report["total_billed"], report["currency"]) == (
        "112.50",
        "0.00",
        "EUR",
    )

    only_rossi = api.viewer.get(
        "/api/v1/reports/billing",
        params={
            "month": "2026-10",
            "customer_id": lines[f"{billable['N']}:not_covered"]["customer_id"],
        },
    ).json()
    assert len(only_rossi["lines"]) == 2
    november = api.viewer.get("/api/v1/reports/billing", params={"month": "2026-11"}).json()
    assert november["lines"] == []


def test_a_line_is_billed_once_and_its_time_is_then_frozen(api: Api, billable: dict[str, int]):
    item = f"{billable['S']}:no_contract"
    marked = api.admin.post(
        "/api/v1/billing/mark-billed", json={"item_ids": [item], "invoice_ref": "2026/117"}
    )
    assert marked.status_code == 200, marked.text
    assert marked.json()["lines"][0]["state"] == "billed"

    again = api.admin.post(
        "/api/v1/billing/mark-billed", json={"item_ids": [item], "invoice_ref": "2026/118"}
    )
    assert again.status_code == 409
    assert again.json()["already_billed"] == [item]
    assert "2026/117" in again.json()["detail"]

    more_time = api.agent.post(
        f"/api/v1/tickets/{billable['S']}/time-entries", json={"minutes": 90}
    )
    assert more_time.status_code == 409
    report = api.viewer.get("/api/v1/reports/billing", params={"month": "2026-10"}).json()
    billed = next(line for line in report["lines"] if line["item_id"] == item)
    assert (billed["state"], billed["invoice_ref"], billed["amount"]) == (
        "billed",
        "2026/117",
        "60.00",
    )
    assert (report["total_open"], report["total_billed"]) == ("52.50", "60.00")


def test_a_billed_line_stays_in_the_report_when_triage_changes_the_tickets_billing(
    api: Api, billable: dict[str, int]
):
    """R4: the email ticket was billed as not covered; recategorised as website afterwards, it
    is covered and no longer billable, but the invoice made from it stays in the report."""
    item = f"{billable['N']}:not_covered"
    marked = api.admin.post(
        "/api/v1/billing/mark-billed", json={"item_ids": [item], "invoice_ref": "2026/120"}
    )
    assert marked.status_code == 200, marked.text
    triaged = api.agent.patch(f"/api/v1/tickets/{billable['N']}", json={"category": "website"})
    assert triaged.json()["billing_reasons"] == [] and triaged.json()["billable"] is False

    report = api.viewer.get("/api/v1/reports/billing", params={"month": "2026-10"}).json()
    line = next(line for line in report["lines"] if line["item_id"] == item)
    assert (line["state"], line["invoice_ref"], line["amount"]) == ("billed", "2026/120", "30.00")
    assert report["total_billed"] == "30.00"
    again = api.admin.post(
        "/api/v1/billing/mark-billed", json={"item_ids": [item], "invoice_ref": "2026/121"}
    )
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"item_ids": ["999999:no_contract"], "invoice_ref": "X"}, 422),
        ({"item_ids": ["1:free_lunch"], "invoice_ref": "X"}, 422),
        ({"item_ids": [], "invoice_ref": "X"}, 422),
        ({"item_ids": ["1:no_contract", "1:no_contract"], "invoice_ref": "X"}, 422),
        ({"item_ids": ["1:no_contract"], "invoice_ref": ""}, 422),
    ],
)
def test_mark_billed_refuses_what_is_not_a_billable_line(api: Api, body, status):
    assert api.admin.post("/api/v1/billing/mark-billed", json=body).status_code == status


def test_only_an_admin_marks_lines_billed(api: Api, billable: dict[str, int]):
    body = {"item_ids": [f"{billable['S']}:no_contract"], "invoice_ref": "X"}
    assert api.agent.post("/api/v1/billing/mark-billed", json=body).status_code == 403
    assert api.anonymous.post("/api/v1/billing/mark-billed", json=body).status_code == 401


def test_the_billing_csv_has_a_row_per_line(api: Api, billable: dict[str, int]):
    response = api.viewer.get(
        "/api/v1/reports/billing", params={"month": "2026-10", "format": "csv"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted((r["reason"], r["amount"]) for r in rows) == [
        ("no_contract", "60.00"),
        ("not_covered", "30.00"),
        ("priority_surcharge", "22.50"),
    ]
