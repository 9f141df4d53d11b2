"""Terms kept per process never go stale: every change to them reaches the next request (R1-R5).

The server keeps each sender's customer and contracts while the terms stamp stays the same;
database triggers change the stamp on any write to the terms, through the API or not.
"""

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from app.db import get_engine
from app.models.terms_stamp import TERMS_TABLES, TermsStamp
from tests.api.test_inbound import mailgun_fields, post_mailgun, ticket


def stamp(db: str) -> str:
    with Session(get_engine(db)) as session:
        return session.exec(select(TermsStamp.stamp)).one()


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


@pytest.mark.parametrize("table", TERMS_TABLES)
def test_every_write_to_the_terms_changes_the_stamp(api, neroverde, db, table):
    customer, _ = neroverde
    api.admin.patch(
        f"/api/v1/customers/{customer['id']}", json={"contacts": [{"email": "a@b.example"}]}
    )
    before = stamp(db)
    with get_engine(db).begin() as connection:
        assert connection.execute(text(f"UPDATE {table} SET id = id")).rowcount > 0

    assert stamp(db) != before


def test_a_rolled_back_change_leaves_the_stamp_as_it_was(api, neroverde, db):
    before = stamp(db)
    with get_engine(db).connect() as connection:
        connection.execute(text("UPDATE contract SET take_charge_hours = 1"))
        connection.rollback()

    assert stamp(db) == before
