"""Every CSV the service writes keeps outside text from becoming a formula (CSV injection):
names, contract codes, senders and invoice references that start with `=`, `+`, `-`, `@`,
TAB, CR (OWASP) or their full-width forms, read back from the bytes of each CSV endpoint."""

import csv
import io

import pytest

from tests.conftest import Api

HOSTILE_STARTS = ["=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠"]
FORMULA_STARTS = set(HOSTILE_STARTS)
COLUMNS = ("customer_name", "contract_code", "invoice_ref", "from_email")
OCTOBER_5_16H = "2026-10-05T16:00:00+02:00"  # a Monday, open: due Tue 6 Oct 17:00


@pytest.fixture
def hostile(api: Api) -> dict[str, list[str]]:
    """A customer per hostile start, each with a breach (never taken in charge) and a billed
    line (email is not covered); every text the customer or an admin typed starts badly.
    What was typed, by CSV column."""
    typed: dict[str, list[str]] = {column: [] for column in COLUMNS}
    for n, start in enumerate(HOSTILE_STARTS):
        domain = f"h{n}.example"
        name, code, invoice = f"{start}SUM(A1:A9)", f"{start}K-{n}", f"{start}INV-{n}"
        sender = f"{start}cmd@{domain}" if start in "=+-" else f"x@{domain}"
        for column, text in zip(COLUMNS, (name, code, invoice, sender), strict=True):
            if text[:1] == start:
                typed[column].append(text)
        customer = api.admin.post(
            "/api/v1/customers", json={"name": name, "email_domains": [domain]}
        )
        assert customer.status_code == 201, customer.text
        contract = api.admin.post(
            "/api/v1/contracts",
            json={
                "customer_id": customer.json()["id"],
                "code": code,
                "starts_on": "2026-01-01",
                "annual_fee": "100.00",
            },
        )
        assert contract.status_code == 201, contract.text
        request = {"channel": "email", "from_email": sender, "received_at": OCTOBER_5_16H}
        breach = api.agent.post("/api/v1/tickets", json={**request, "subject": "Sito giù"})
        assert breach.status_code == 201, breach.text
        billable = api.agent.post(
            "/api/v1/tickets", json={**request, "subject": "Casella", "category": "email"}
        ).json()
        url = f"/api/v1/tickets/{billable['id']}/time-entries"
        assert api.agent.post(url, json={"minutes": 30}).status_code == 201
        billed = api.admin.post(
            "/api/v1/billing/mark-billed",
            json={
                "item_ids": [f"{billable['id']}:not_covered"],
                "invoice_ref": invoice,
                "force": True,  # P4: billed without consent, logged
            },
        )
        assert billed.status_code == 200, billed.text
    return typed


def _cells(api: Api, path: str, **params: str) -> list[str]:
    response = api.viewer.get(path, params={"month": "2026-10", "format": "csv", **params})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    text = response.content.decode("utf-8")
    return [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]


@pytest.mark.parametrize(
    ("path", "params", "columns"),
    [
        ("/api/v1/reports/sla", {}, COLUMNS[:2]),
        ("/api/v1/reports/sla", {"detail": "breaches"}, COLUMNS[:2]),
        ("/api/v1/reports/billing", {}, ("customer_name", "invoice_ref", "from_email")),
    ],
)
def test_no_cell_of_a_csv_starts_like_a_formula(api: Api, hostile, path, params, columns):
    cells = _cells(api, path, **params)
    assert [c for c in cells if c[:1] in FORMULA_STARTS] == []
    # Each hostile text is there, as typed, behind one quote.
    expected = {"'" + text for column in columns for text in hostile[column]}
    assert expected <= set(cells), sorted(expected - set(cells))
