"""Erasure (art. 17 GDPR, P5): after it no column of any table, no attachment blob, no outbox
row and no log line holds the person's address, name or words; the month's SLA statement (R1,
R9) and billing totals (R2, R4, R13) are unchanged; a second erasure changes nothing."""

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from app.db import get_engine
from tests.routers import privacy_desk as desk

# What the reports show of people (their figures must not change) and when they were made.
PERSONAL = {"subject", "from_email", "from_name", "customer_name", "generated_at"}


@pytest.fixture
def built(api, db) -> dict[str, Any]:
    return desk.build(api, get_engine(db))


def _without_personal(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_personal(v) for k, v in value.items() if k not in PERSONAL}
    if isinstance(value, list):
        return [_without_personal(v) for v in value]
    return value


def reports(api) -> dict[str, Any]:
    """The month's statement and billing figures, without the names and words they show."""
    month = {"month": desk.this_month()}
    statement = api.viewer.get("/api/v1/reports/sla", params=month)
    billing = api.viewer.get("/api/v1/reports/billing", params=month)
    assert statement.status_code == billing.status_code == 200
    bill = billing.json()
    return {
        "statement": _without_personal(statement.json()),
        "billing": _without_personal(bill),
        "totals": (bill["total_open"], bill["total_billed"], len(bill["lines"])),
    }


def erase_person(api, **params: Any) -> Any:
    body = {"email": desk.MARIO.upper(), "reason": f"Richiesta di {desk.MARIO_NAME} ({desk.MARIO})"}
    return api.admin.post("/api/v1/people/erase", json=body, params=params)


def test_after_a_persons_erasure_nothing_anywhere_holds_their_data(api, db, built, caplog):
    engine = get_engine(db)
    before = reports(api)
    assert desk.holding(engine, desk.MARIO_WORDS)  # the search finds them while they are there
    with engine.connect() as connection:
        token = connection.execute(
            text("SELECT token FROM status_link WHERE ticket_id = :t"), {"t": built["a"]}
        ).scalar_one()
    assert api.anonymous.get(f"/status/{token}").status_code == 200
    caplog.set_level(logging.DEBUG)

    erased = erase_person(api)

    assert erased.status_code == 200, erased.text
    answer = erased.json()
    assert answer["dry_run"] is False and answer["erasure_id"] is not None
    counts = answer["counts"]
    assert counts["tickets"] == 2 and counts["contacts"] == 1 and counts["quarantine"] == 1
    assert counts["attachments"] == 3 and counts["blobs"] == 3 and counts["outbox_cancelled"] >= 1
    assert desk.holding(engine, desk.MARIO_WORDS) == []
    assert not [r for r in caplog.records if desk.MARIO in r.getMessage().lower()]
    # Giulia, of the same customer, keeps everything.
    assert {word for _, _, word in desk.holding(engine, desk.GIULIA_WORDS)} == set(
        desk.GIULIA_WORDS
    )
    assert reports(api)["totals"] == before["totals"]
    assert reports(api) == before
    assert api.anonymous.get(f"/status/{token}").status_code == 404
    with engine.connect() as connection:
        states = connection.execute(
            text("SELECT state FROM outbox WHERE ticket_id IN (:a, :b)"), built
        ).scalars()
        assert set(states) <= {"sent", "cancelled"}
        billed = connection.execute(text("SELECT invoice_ref, amount FROM billed_item")).one()
        assert billed.invoice_ref == desk.INVOICE
    ticket = api.viewer.get(f"/api/v1/tickets/{built['b']}").json()
    assert ticket["billable"] is True and ticket["coverage"] == "not_covered"
    assert ticket["subject"] == "[erased]" and ticket["from_email"] == "erased@erased.invalid"


def test_a_second_erasure_changes_nothing(api, db, built):
    engine = get_engine(db)
    assert erase_person(api).json()["total"] > 0
    everything = desk.dump(engine)

    again = erase_person(api)

    assert again.status_code == 200
    assert again.json()["total"] == 0 and again.json()["erasure_id"] is None
    assert set(again.json()["counts"].values()) == {0}
    assert desk.dump(engine) == everything


def test_a_dry_run_counts_what_would_be_erased_and_changes_nothing(api, db, built):
    engine = get_engine(db)
    everything = desk.dump(engine)

    dry = erase_person(api, dry_run="true")

    assert dry.status_code == 200
    assert dry.json()["dry_run"] is True and dry.json()["erasure_id"] is None
    assert desk.dump(engine) == everything
    assert erase_person(api).json()["counts"] == dry.json()["counts"]


def test_the_erasure_is_recorded_without_the_erased_data(api, db, built):
    erase_person(api)
    with get_engine(db).connect() as connection:
        row = connection.execute(text("SELECT * FROM erasure")).mappings().one()
    assert row["subject"] == "person" and row["erased_by"]
    assert row["reason"] == "Richiesta di [erased] ([erased])"
    counts = row["counts"] if isinstance(row["counts"], dict) else json.loads(row["counts"])
    assert counts["tickets"] == 2


def test_after_a_customers_erasure_its_people_are_gone_and_its_invoices_kept(api, db, built):
    engine = get_engine(db)
    before = reports(api)
    url = f"/api/v1/customers/{built['customer_id']}/erase"

    erased = api.admin.post(url, json={"reason": "Fine del rapporto"})

    assert erased.status_code == 200, erased.text
    assert erased.json()["counts"]["tickets"] == 3
    assert desk.holding(engine, desk.MARIO_WORDS + desk.GIULIA_WORDS) == []
    assert reports(api) == before
    customer = api.viewer.get(f"/api/v1/customers/{built['customer_id']}").json()
    # Invoiced: its legal name stays on the invoices (kept by law); its people are gone.
    assert customer["name"] == desk.CUSTOMER
    assert customer["contacts"] == [] and customer["email_domains"] == []
    everything = desk.dump(engine)
    assert api.admin.post(url, json={"reason": "di nuovo"}).json()["total"] == 0
    assert desk.dump(engine) == everything


def test_a_customer_never_invoiced_loses_its_name_too(api, db):
    name = "Bianchi Mario ditta individuale"
    customer_id = api.admin.post("/api/v1/customers", json={"name": name}).json()["id"]
    erased = api.admin.post(
        f"/api/v1/customers/{customer_id}/erase", json={"reason": f"{name.upper()}: art. 17"}
    )
    assert erased.json()["counts"]["customer"] == 1
    assert "Bianchi" not in api.viewer.get(f"/api/v1/customers/{customer_id}").json()["name"]
    assert desk.holding(get_engine(db), ["Bianchi"]) == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": desk.MARIO},
        {"email": "no\r\nBcc: x@y.it", "reason": "x"},
        {"email": desk.MARIO, "reason": ""},
        {"email": desk.MARIO, "reason": "x" * 1001},
        {"email": desk.MARIO, "reason": "nul\x00"},
        {"email": desk.MARIO, "reason": "x", "extra": 1},
    ],
)
def test_an_erasure_needs_an_address_and_a_reason(api, body):
    assert api.admin.post("/api/v1/people/erase", json=body).status_code == 422


def test_only_an_admin_erases(api, built):
    body = {"email": desk.MARIO, "reason": "x"}
    assert api.agent.post("/api/v1/people/erase", json=body).status_code == 403
    url = f"/api/v1/customers/{built['customer_id']}/erase"
    assert api.viewer.post(url, json={"reason": "x"}).status_code == 403
    assert api.anonymous.post(url, json={"reason": "x"}).status_code == 401
    missing = api.admin.post("/api/v1/customers/999999/erase", json={"reason": "x"})
    assert missing.status_code == 404


def test_a_reply_on_someone_elses_ticket_copied_to_them_keeps_nothing_of_them(api, db, built):
    """Giulia's ticket was answered with a copy to Mario: the reply's email row (its facts'
    `cc` and the written email) names him though the ticket is not his; it is picked by the
    reply's Message-ID, which its copy in the conversation shares (P5)."""
    engine = get_engine(db)
    reply = api.agent.post(
        f"/api/v1/tickets/{built['c']}/replies",
        json={"text": "Buongiorno, il preventivo è allegato.", "cc": [desk.MARIO]},
    )
    assert reply.status_code == 201, reply.text
    assert {table for table, _, _ in desk.holding(engine, [desk.MARIO])} >= {"outbox"}

    assert erase_person(api).status_code == 200

    assert desk.holding(engine, desk.MARIO_WORDS) == []
    # Giulia's own words on her ticket stay.
    assert {word for _, _, word in desk.holding(engine, desk.GIULIA_WORDS)} == set(
        desk.GIULIA_WORDS
    )


def _quarantined(engine: Any, raw: bytes, ticket_id: int | None) -> int:
    """A delivery kept in quarantine as written by intake (a form post, or one staff retried
    into `ticket_id`)."""
    with engine.begin() as connection:
        return int(
            connection.execute(
                text(
                    "INSERT INTO quarantine (source, reason, detail, content_type, size, sha256,"
                    " received_at, subject, urgent, ticket_id, released_at, dedup_key, raw)"
                    " VALUES ('form', 'intake_error', '', 'application/x-www-form-urlencoded',"
                    " :n, :h, CURRENT_TIMESTAMP, '', false, :t, :at, :h, :raw) RETURNING id"
                ),
                {
                    "n": len(raw),
                    "h": desk.sha256(raw),
                    "t": ticket_id,
                    "at": None if ticket_id is None else datetime.now(UTC),
                    "raw": raw,
                },
            ).scalar_one()
        )


def test_quarantined_deliveries_of_theirs_go_url_encoded_or_retried_into_their_tickets(
    api, db, built
):
    """P5: a form post holding the address URL-encoded (`%40`, any case), and a delivery
    retried into one of the person's tickets (its bytes need not name them), are deleted;
    another person's stays."""
    engine = get_engine(db)
    encoded = _quarantined(engine, b"email=Mario.Bianchi%40Gmail.COM&text=aiuto", None)
    retried = _quarantined(engine, b"text=Il+carrello+mostra+l%27errore+5012", built["a"])
    giulia = _quarantined(engine, b"email=giulia.verdi%40gmail.com&text=blog", None)

    erased = erase_person(api)

    assert erased.status_code == 200, erased.text
    assert erased.json()["counts"]["quarantine"] == 3  # with the desk's own quarantined one
    with engine.connect() as connection:
        kept = connection.execute(text("SELECT id FROM quarantine")).scalars().all()
    assert encoded not in kept and retried not in kept and giulia in kept
    assert desk.holding(engine, desk.MARIO_WORDS) == []
