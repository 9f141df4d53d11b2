"""`GET /api/v1/contracts/{id}/review` over HTTP (R1, P4): JSON, CSV and the printable page,
the year chosen or refused, hostile names kept as text."""

import csv
import io
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.rendering import csp_hash
from tests.conftest import Api

# Mon 5 May 2025 16:00 in Rome: open, due Tue 6 May 17:00 (R9).
MAY_5_16H = "2025-05-05T16:00:00+02:00"


def _contract(api: Api, name: str, language: str = "it", domain: str = "rossi.it") -> int:
    customer = api.admin.post(
        "/api/v1/customers", json={"name": name, "email_domains": [domain], "language": language}
    )
    assert customer.status_code == 201, customer.text
    contract = api.admin.post(
        "/api/v1/contracts",
        json={
            "customer_id": customer.json()["id"],
            "code": f"C-{domain}",
            "starts_on": "2025-01-01",
            "annual_fee": "1200.00",
            "proposal_ref": "P-77",
        },
    )
    assert contract.status_code == 201, contract.text
    return int(contract.json()["id"])


def _ticket(api: Api, sender: str, **fields: Any) -> dict[str, Any]:
    data = {"channel": "email", "from_email": sender, "subject": "Sito giù", **fields}
    response = api.agent.post("/api/v1/tickets", json={"received_at": MAY_5_16H, **data})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def rossi_2025(api: Api) -> int:
    """A past year (the server's clock is today's): three requests in May 2025, one taken in
    charge (today, late), one never, one not covered (email, R4) with 45 billable minutes."""
    contract_id = _contract(api, "Rossi <b>Arredamenti</b>")
    late = _ticket(api, "mario@rossi.it")
    taken = api.agent.post(f"/api/v1/tickets/{late['id']}/take-charge", json={})
    assert taken.status_code == 200, taken.text  # today: late
    _ticket(api, "mario@rossi.it", subject="Nessuno")
    billable = _ticket(api, "anna@rossi.it", subject="Casella piena", category="email")
    url = f"/api/v1/tickets/{billable['id']}/time-entries"
    assert api.agent.post(url, json={"minutes": 45}).status_code == 201
    return contract_id


def test_the_review_of_a_past_year_in_json(api: Api, rossi_2025: int) -> None:
    response = api.viewer.get(f"/api/v1/contracts/{rossi_2025}/review")
    assert response.status_code == 200, response.text
    review = response.json()
    assert (review["year"], review["first_day"], review["last_day"]) == (
        2025,
        "2025-01-01",
        "2025-12-31",
    )
    assert review["complete"] is True
    assert review["as_of"] == "2025-12-31T23:00:00Z"  # midnight in Rome: the year's end
    assert [m["month"] for m in review["months"]] == [f"2025-{m:02d}" for m in range(1, 13)]
    may = review["months"][4]
    assert may["received"] == review["total"]["received"] == 3
    assert review["total"]["by_category"]["email"] == 1
    assert review["total"]["time"] == {"covered_minutes": 0, "billable_minutes": 45}
    # 45 minutes rounded up to the hour's quarter, at 60 EUR an hour (R4): open, not billed.
    assert review["total"]["amounts"] == {
        "lines": 1,
        "billed_lines": 0,
        "billed": "0.00",
        "open": "45.00",
    }
    assert review["against_fee"]["annual_fee"] == "1200.00"
    assert review["against_fee"]["total"] == "1245.00"
    # Asked again, the past year is the same.
    again = api.viewer.get(f"/api/v1/contracts/{rossi_2025}/review", params={"year": 2025})
    assert again.json() == review


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"year": "2024"}, "year"),  # before the contract
        ({"year": "2026"}, "year"),  # after its end
        ({"year": "1999"}, "year"),
        ({"year": "2025x"}, "year"),
        ({"year": "2025\r\nX-Injected: 1"}, "year"),
        ({"format": "pdf"}, "format"),
    ],
)
def test_a_bad_year_or_format_is_422(api: Api, rossi_2025: int, params, field) -> None:
    response = api.viewer.get(f"/api/v1/contracts/{rossi_2025}/review", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [error["field"].split(".")[-1] for error in response.json()["errors"]]
    assert "X-Injected" not in response.headers


def test_an_unknown_contract_is_404_and_a_token_is_needed(api: Api, rossi_2025: int) -> None:
    assert api.viewer.get(f"/api/v1/contracts/{rossi_2025 + 99}/review").status_code == 404
    assert api.anonymous.get(f"/api/v1/contracts/{rossi_2025}/review").status_code == 401
    assert api.viewer.get("/api/v1/contracts/0/review").status_code == 422


def test_the_csv_has_a_row_per_month_and_the_year_and_no_formula(api: Api) -> None:
    contract_id = _contract(api, '=HYPERLINK("http://x")', domain="bad.example")
    _ticket(api, "x@bad.example")
    response = api.viewer.get(f"/api/v1/contracts/{contract_id}/review", params={"format": "csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="review-{contract_id}-2025.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"), newline="")))
    assert [row["period"] for row in rows] == [*(f"2025-{m:02d}" for m in range(1, 13)), "year"]
    assert {row["customer_name"] for row in rows} == {'\'=HYPERLINK("http://x")'}
    assert rows[4]["received"] == rows[-1]["received"] == "1"
    assert rows[-1]["annual_fee"] == "1200.00" and rows[0]["annual_fee"] == ""


def test_the_page_is_in_the_customer_s_language_escaped_and_strict(
    api: Api, rossi_2025: int
) -> None:
    response = api.viewer.get(f"/api/v1/contracts/{rossi_2025}/review", params={"format": "html"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert "L&#39;anno del contratto · Rossi &lt;b&gt;Arredamenti&lt;/b&gt;" in page
    assert "<b>" not in page and "<script" not in page
    assert "1.200,00\xa0€" in page and "gennaio 2025" in page
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    styles = re.findall(r"<style>(.*?)</style>", page, re.S)
    assert styles and all(csp_hash(css) in policy for css in styles)
    assert " style=" not in page  # style attributes would be refused by the policy

    english = _contract(api, "Smith Ltd", language="en", domain="smith.example")
    page = api.viewer.get(f"/api/v1/contracts/{english}/review", params={"format": "html"}).text
    assert "The year of the contract · Smith Ltd" in page and "€1,200.00" in page


def test_the_running_year_is_reviewed_so_far(api: Api) -> None:
    customer = api.admin.post(
        "/api/v1/customers", json={"name": "Verdi", "email_domains": ["verdi.it"]}
    ).json()
    starts_on = datetime.now(ZoneInfo("Europe/Rome")).date().replace(month=1, day=1)
    contract = api.admin.post(
        "/api/v1/contracts",
        json={
            "customer_id": customer["id"],
            "code": "V-1",
            "starts_on": starts_on.isoformat(),
            "annual_fee": "800.00",
        },
    ).json()
    url = f"/api/v1/contracts/{contract['id']}/review"
    review = api.viewer.get(url).json()
    assert (review["year"], review["first_day"]) == (starts_on.year, starts_on.isoformat())
    assert review["complete"] is False and review["total"]["received"] == 0
    page = api.viewer.get(url, params={"format": "html"}).text
    assert "situazione al" in page and "800,00\xa0€" in page
    # The next year is not the contract's (it ends on 31 December).
    later = api.viewer.get(url, params={"year": starts_on.year + 1})
    assert later.status_code == 422
