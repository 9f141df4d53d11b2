"""Every change to the terms reaches the next request, through the API or not (R1-R5)."""

import pytest
from sqlalchemy import text

from app.db import get_engine
from tests.conftest import RUNS_UNTIL
from tests.routers.test_inbound import mailgun_fields, post_mailgun, ticket


def deliver(api, sender="mario@neroverde.it", subject="Sito lento") -> dict:
    response = post_mailgun(api, mailgun_fields(sender=sender, subject=subject))
    assert response.status_code == 200, response.text
    return ticket(api, response.json()["ticket_id"])


@pytest.fixture
def neroverde(api):
    customer = api.admin.post(
        "/api/v1/customers", json={"name": "Neroverde", "email_domains": ["neroverde.it"]}
    ).json()
    contract = api.admin.post(
        "/api/v1/contracts",
        json={
            "customer_id": customer["id"],
            "code": "NV",
            "starts_on": "2026-01-01",
            "ends_on": RUNS_UNTIL,
            "annual_fee": "1",
        },
    ).json()
    return customer, contract


def test_a_new_customer_is_matched_at_once(api):
    assert deliver(api)["customer_id"] is None  # the sender is unknown (and that is kept)
    customer = api.admin.post(
        "/api/v1/customers", json={"name": "Neroverde", "email_domains": ["neroverde.it"]}
    ).json()

    assert deliver(api)["customer_id"] == customer["id"]


def test_a_contract_change_reaches_the_next_ticket(api, neroverde):
    _, contract = neroverde
    before = deliver(api)
    assert before["contract_id"] == contract["id"]
    assert before["coverage"] == "contract"
    changed = api.admin.patch(f"/api/v1/contracts/{contract['id']}", json={"ends_on": "2026-02-01"})
    assert changed.status_code == 200, changed.text

    after = deliver(api)  # R4: the contract has expired: not covered any more

    assert after["contract_id"] is None
    assert after["coverage"] == "no_contract"


def test_a_change_made_outside_the_api_reaches_the_next_ticket(api, neroverde, db):
    customer, _ = neroverde
    assert deliver(api)["customer_id"] == customer["id"]
    with get_engine(db).begin() as connection:  # as an operator fixing data by hand would
        connection.execute(text("DELETE FROM customer_domain WHERE domain = 'neroverde.it'"))

    assert deliver(api)["customer_id"] is None
