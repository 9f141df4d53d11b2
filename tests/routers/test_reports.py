"""The monthly SLA statement (R1, R9, R10, R12-R16) against hand-computed figures.

October 2026 for one contract on the default hours (R8) with an on-call agreement (R16):
tickets are opened and moved by the services with their time passed in; the statement is read
through the service at a fixed report time and through HTTP.
"""

import csv
import io
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from app.db import get_engine, unit_of_work
from app.engine.months import Month
from app.enums import Channel, DeliveryMode, Status
from app.models.ticket import ResolveIn, StatusIn, TakeChargeIn, Ticket, TicketCreate
from app.services.intake import opening
from app.services.knobs import Knobs
from app.services.reports import statement
from app.services.tickets import lifecycle
from tests.engine.test_explain import rome

KNOBS = Knobs(support_hours=None, at_risk_fraction=0.25)
REPORT_TIME = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)  # Thu 5 Nov, 13:00 in Rome


def _open(db: str, received_at: datetime, subject: str = "Sito lento", **fields: Any) -> int:
    values = {
        "channel": Channel.EMAIL,
        "from_email": "mario@rossi.it",
        "subject": subject,
        "body": "Il sito non risponde.",
        "received_at": received_at,
        **fields,
    }
    with unit_of_work(get_engine(db)) as session:
        opened = opening.open_ticket(
            opening.TicketRequest.typed(TicketCreate(**values), now=received_at),
            session=session,
            knobs=KNOBS,
            actor="test",
            now=received_at,
        )
    return opened.id


def _take_charge(db: str, ticket_id: int, at: datetime) -> None:
    with unit_of_work(get_engine(db)) as session:
        lifecycle.take_charge(
            ticket_id, TakeChargeIn(), session=session, knobs=KNOBS, actor="anna", now=at
        )


def _status(db: str, ticket_id: int, status: Status, at: datetime) -> None:
    with unit_of_work(get_engine(db)) as session:
        lifecycle.change_status(
            ticket_id, StatusIn(status=status), session=session, knobs=KNOBS, actor="anna", now=at
        )


def _resolve(db: str, ticket_id: int, at: datetime) -> None:
    with unit_of_work(get_engine(db)) as session:
        lifecycle.resolve(
            ticket_id,
            ResolveIn(resolution="Fatto.", delivery_mode=DeliveryMode.REMOTE),
            session=session,
            knobs=KNOBS,
            actor="anna",
            now=at,
        )


@pytest.fixture
def october(api, db) -> dict[str, Any]:
    """Rossi's contract R-2026 (default hours, on call every day 08:00-22:00 in 2 h) and the
    requests of October 2026, each with what the statement must say of it."""
    calendar = api.admin.post(
        "/api/v1/calendars",
        json={"name": "ufficio", "weekly": {d: [["15:00", "18:00"]] for d in WEEKDAYS}},
    ).json()
    every_day = api.admin.post(
        "/api/v1/calendars",
        json={"name": "sempre", "weekly": {d: [["08:00", "22:00"]] for d in ALL_DAYS}},
    ).json()
    customer = api.admin.post(
        "/api/v1/customers",
        json={"name": "Rossi", "email_domains": ["rossi.it"], "language": "it"},
    ).json()
    contract = api.admin.post(
        "/api/v1/contracts",
        json={
            "customer_id": customer["id"],
            "code": "R-2026",
            "starts_on": "2026-01-01",
            "annual_fee": "1200.00",
            "calendar_id": calendar["id"],
            "on_call": {"calendar_id": every_day["id"], "take_charge_hours": 2},
        },
    ).json()
    tickets: dict[str, int] = {}
    # A: Mon 5 Oct 16:00, taken at 16:30: 30 business minutes, within target.
    tickets["A"] = _open(db, rome(2026, 10, 5, 16, 0))
    _take_charge(db, tickets["A"], rome(2026, 10, 5, 16, 30))
    # B: Fri 23 Oct 17:00 CEST, due Mon 26 18:00 CET (the clocks went back on Sunday); taken
    # Tue 27 15:30: 4 h 30 min of business time, 30 business minutes and 21 h 30 min late.
    tickets["B"] = _open(db, rome(2026, 10, 23, 17, 0))
    _take_charge(db, tickets["B"], rome(2026, 10, 27, 15, 30))
    # C: the last evening of the month, Sat 31 Oct 21:00; the clock starts Mon 2 Nov 15:00;
    # taken at 15:45: 45 minutes, counted in October.
    tickets["C"] = _open(db, rome(2026, 10, 31, 21, 0))
    _take_charge(db, tickets["C"], rome(2026, 11, 2, 15, 45))
    # D: urgent by email on Saturday 17 Oct 10:00: on call (R15, R16), due 12:00; taken at
    # 11:00: 60 minutes of the on-call calendar, half its 2 h target; resolved.
    tickets["D"] = _open(db, rome(2026, 10, 17, 10, 0), subject="URGENTE sito giù")
    _take_charge(db, tickets["D"], rome(2026, 10, 17, 11, 0))
    _resolve(db, tickets["D"], rome(2026, 10, 17, 13, 0))
    # E: Thu 29 Oct 15:00, due Fri 30 16:00; never taken: at the report time (Thu 5 Nov 13:00)
    # 11 business hours late (Fri 2 h, Mon-Wed 3 h each) and 141 wall-clock hours.
    tickets["E"] = _open(db, rome(2026, 10, 29, 15, 0))
    # F: Thu 1 Oct 00:30 CEST (still 30 September in UTC), clock from 15:00, taken 15:10;
    # waits on the provider for 2 h, then resolved.
    tickets["F"] = _open(db, rome(2026, 10, 1, 0, 30))
    _take_charge(db, tickets["F"], rome(2026, 10, 1, 15, 10))
    _status(db, tickets["F"], Status.IN_PROGRESS, rome(2026, 10, 2, 9, 0))
    _status(db, tickets["F"], Status.WAITING_THIRD_PARTY, rome(2026, 10, 2, 10, 0))
    _status(db, tickets["F"], Status.IN_PROGRESS, rome(2026, 10, 2, 12, 0))
    _resolve(db, tickets["F"], rome(2026, 10, 2, 15, 0))
    # Not October: 1 Nov 00:30 in Rome is still 31 October in UTC.
    tickets["November"] = _open(db, rome(2026, 11, 1, 0, 30))
    # S: a sender no customer matches: the support policy (R2), no commitment.
    tickets["S"] = _open(db, rome(2026, 10, 12, 16, 0), from_email="chiunque@altrove.it")
    return {"contract": contract, "calendar": calendar, "customer": customer, "tickets": tickets}


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
ALL_DAYS = (*WEEKDAYS, "sat", "sun")


def _october(db: str, **kwargs: Any):
    with unit_of_work(get_engine(db)) as session:
        return statement.sla_statement(
            Month.parse("2026-10"), session=session, now=REPORT_TIME, **kwargs
        )


def test_the_october_statement_matches_the_hand_computed_figures(db, october):
    report = _october(db)

    assert (report.month, report.first_day.isoformat(), report.last_day.isoformat()) == (
        "2026-10",
        "2026-10-01",
        "2026-10-31",
    )
    rossi, no_contract = report.contracts
    t = october["tickets"]
    assert rossi.contract_code == "R-2026" and rossi.customer_name == "Rossi"
    assert rossi.received == 6  # A B C D E F; not the ticket of 1 November in Rome
    assert rossi.by_policy == {"contract": 5, "on_call": 1, "support": 0}
    assert (rossi.with_target, rossi.taken_in_charge) == (6, 5)
    assert (rossi.within_target, rossi.breached, rossi.pending) == (4, 2, 0)
    assert rossi.still_open == 4  # A, B, C taken in charge; E new; D and F resolved
    assert (rossi.compliance.within_target, rossi.compliance.denominator) == (4, 6)
    assert rossi.compliance.percent == 66.67
    # Business minutes to take charge: F 10, A 30, C 45, D 60, B 270 (nearest rank).
    assert rossi.take_charge_times.count == 5
    assert rossi.take_charge_times.median_business_minutes == 45
    assert rossi.take_charge_times.p90_business_minutes == 270
    # As shares of each one's own target: A, C, F under 25%; D 50% of 2 h; B 112.5% of 4 h.
    assert [(b.label, b.count) for b in rossi.chart] == [
        ("0-25%", 3),
        ("25-50%", 1),
        ("50-75%", 0),
        ("75-100%", 0),
        ("100-150%", 1),
        (">150%", 0),
    ]
    assert rossi.urgent.model_dump() == {
        "received": 1,
        "confirmed": 0,
        "rejected": 0,
        "on_call": 1,
        "on_call_within_target": 1,
        "on_call_alerts": 1,
    }
    assert rossi.waiting_third_party_minutes == 120
    assert [
        (b.ticket_id, b.cause, b.late_business_minutes, b.late_minutes) for b in rossi.breaches
    ] == [
        (t["B"], "taken_in_charge_late", 30, 21 * 60 + 30),
        (t["E"], "not_taken_in_charge", 11 * 60, 141 * 60),
    ]
    assert rossi.breaches[0].take_charge_due_at == rome(2026, 10, 26, 18, 0)

    assert no_contract.contract_id is None
    assert no_contract.received == 1
    assert no_contract.by_policy == {"contract": 0, "on_call": 0, "support": 1}
    assert no_contract.compliance.percent is None and no_contract.compliance.denominator == 0


def test_before_the_deadlines_pass_requests_are_pending_not_breached(db, october):
    """Read at Fri 30 Oct 15:30 in Rome, E's deadline (16:00) is still ahead: pending, left out
    of the compliance denominator; B is late whenever it is read."""
    with unit_of_work(get_engine(db)) as session:
        report = statement.sla_statement(
            Month.parse("2026-10"), session=session, now=rome(2026, 10, 30, 15, 30)
        )
    rossi = report.contracts[0]
    assert (rossi.within_target, rossi.breached, rossi.pending) == (4, 1, 1)
    assert (rossi.compliance.within_target, rossi.compliance.denominator) == (4, 5)
    assert [b.ticket_number for b in rossi.breaches] == [rossi.breaches[0].ticket_number]


def test_regenerating_after_the_calendar_and_contract_changed_gives_the_same_statement(
    api, db, october
):
    before = _october(db)
    calendar_id = october["calendar"]["id"]
    # The office moves to 09:00-18:00 and the contract promises 2 hours from now on.
    with unit_of_work(get_engine(db)) as session:
        session.execute(
            text("UPDATE calendar SET weekly = :weekly WHERE id = :id"),
            {
                "weekly": '{"mon": [["09:00", "18:00"]], "fri": [["09:00", "18:00"]]}',
                "id": calendar_id,
            },
        )
    changed = api.admin.patch(
        f"/api/v1/contracts/{october['contract']['id']}", json={"take_charge_hours": 2}
    )
    assert changed.status_code == 200, changed.text

    assert _october(db) == before


def test_one_contract_only_and_through_http(api, october):
    contract_id = october["contract"]["id"]
    response = api.viewer.get(
        "/api/v1/reports/sla", params={"month": "2026-10", "contract_id": contract_id}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [c["contract_id"] for c in body["contracts"]] == [contract_id]
    rossi = body["contracts"][0]
    assert rossi["compliance"]["denominator"] == 6
    assert rossi["compliance"]["basis"].startswith("requests received in the month")
    assert rossi["breaches"][0]["late_business_minutes"] == 30
    assert rossi["breaches"][0]["take_charge_due_at"] == "2026-10-26T17:00:00Z"


def test_csv_has_a_row_per_contract_and_one_per_breach(api, october):
    by_contract = api.viewer.get(
        "/api/v1/reports/sla", params={"month": "2026-10", "format": "csv"}
    )
    assert by_contract.status_code == 200
    assert by_contract.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(by_contract.text)))
    assert [(r["contract_code"], r["received"], r["compliance_percent"]) for r in rows] == [
        ("R-2026", "6", "66.67"),
        ("", "1", ""),
    ]
    breaches = api.viewer.get(
        "/api/v1/reports/sla", params={"month": "2026-10", "format": "csv", "detail": "breaches"}
    )
    rows = list(csv.DictReader(io.StringIO(breaches.text)))
    assert [(r["ticket_id"], r["cause"]) for r in rows] == [
        (str(october["tickets"]["B"]), "taken_in_charge_late"),
        (str(october["tickets"]["E"]), "not_taken_in_charge"),
    ]
    assert rows[0]["late_minutes"] == str(21 * 60 + 30)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"month": "2026-13"}, "month"),
        ({"month": "2026-1"}, "month"),
        ({"month": "1999-12"}, "month"),
        ({}, "month"),
        ({"month": "2026-10", "format": "pdf"}, "format"),
        ({"month": "2026-10", "detail": "breaches"}, "detail"),
        ({"month": "2026-10", "contract_id": 0}, "contract_id"),
    ],
)
def test_a_bad_question_is_a_422_naming_the_parameter(api, params, field):
    response = api.viewer.get("/api/v1/reports/sla", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


def test_an_unknown_contract_or_customer_is_a_404(api):
    statement = api.viewer.get(
        "/api/v1/reports/sla", params={"month": "2026-10", "contract_id": 999}
    )
    assert statement.status_code == 404
    detail = "No contract with id 999 in force in 2026-10, and no ticket of it then."
    assert statement.json()["detail"] == detail
    bills = api.viewer.get(
        "/api/v1/reports/billing", params={"month": "2026-10", "customer_id": 999}
    )
    assert bills.status_code == 404


def test_reports_need_a_token(api):
    response = api.anonymous.get("/api/v1/reports/sla", params={"month": "2026-10"})
    assert response.status_code == 401


def test_median_and_p90_are_the_nearest_rank_on_both_databases(api, db):
    """Nearest rank, ceil(p * n), as PostgreSQL's percentile_disc and SQLite's window functions
    compute it, checked against the stored business seconds sorted in Python."""
    import random

    from app.models.base import table_of

    api.admin.post(
        "/api/v1/customers", json={"name": "Rossi", "email_domains": ["rossi.it"]}
    ).raise_for_status()
    api.admin.post(
        "/api/v1/contracts",
        json={"customer_id": 1, "code": "R-2026", "starts_on": "2026-01-01", "annual_fee": "1"},
    ).raise_for_status()
    rng = random.Random(7)
    for day in range(1, 29):
        received = rome(2026, 10, day, 15, rng.randrange(0, 60))
        ticket = _open(db, received)
        if rng.random() < 0.8:
            _take_charge(db, ticket, received + timedelta(minutes=rng.randrange(1, 3000)))
    report = _october(db)
    rossi = report.contracts[0]
    tickets = table_of(Ticket)
    with unit_of_work(get_engine(db)) as session:
        spent = sorted(
            session.execute(
                select(tickets.c.take_charge_business_seconds).where(
                    tickets.c.take_charge_business_seconds.is_not(None)
                )
            ).scalars()
        )
    n = len(spent)

    def nearest_rank(fraction: float) -> int:
        return (spent[math.ceil(fraction * n) - 1] + 30) // 60

    assert rossi.take_charge_times.count == n > 10
    assert rossi.take_charge_times.median_business_minutes == nearest_rank(0.5)
    assert rossi.take_charge_times.p90_business_minutes == nearest_rank(0.9)
