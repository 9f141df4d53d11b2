"""Intake decisions: customer, contract, urgency, deadline, number (R1-R3, R9, R12, R15)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from app.enums import Coverage, Policy, Status, Urgency
from app.errors import Unprocessable
from app.models.ticket import Ticket

ROME = ZoneInfo("Europe/Rome")
MONDAY_16 = datetime(2026, 11, 23, 16, 0, tzinfo=ROME)


def test_a_contract_customer_gets_the_worked_deadline(session: Session, rossi, opened):
    """R1, R9: Mon 16:00 with a contract -> due Tue 17:00 (SPEC worked example)."""
    ticket = opened(now=MONDAY_16)

    stored = session.get(Ticket, ticket.id)
    assert stored is not None
    assert (stored.customer_id, stored.contract_id) == (rossi.customer_id, rossi.id)
    assert stored.coverage == Coverage.CONTRACT and stored.sla_policy == Policy.CONTRACT
    assert stored.billable is False
    assert ticket.take_charge_due_at == datetime(2026, 11, 24, 17, 0, tzinfo=ROME)
    assert stored.status == Status.NEW


def test_the_number_is_there_from_the_start(session: Session, rossi, opened):
    first, second = opened(now=MONDAY_16), opened(now=MONDAY_16)

    assert first.number == f"2026-{first.id:06d}"
    assert second.number == f"2026-{second.id:06d}"
    assert second.id == first.id + 1
    stored = session.get(Ticket, second.id)
    assert stored is not None and stored.number == second.number


def test_a_stranger_falls_under_support_and_is_billable(session: Session, rossi, opened):
    """R2: no active contract: the support policy, billable, no commitment by default."""
    ticket = opened(now=MONDAY_16, from_email="someone@elsewhere.example")

    stored = session.get(Ticket, ticket.id)
    assert stored is not None
    assert stored.customer_id is None and stored.coverage == Coverage.NO_CONTRACT
    assert stored.billable and stored.billing_reasons == ["no_contract"]
    assert ticket.take_charge_due_at is None


def test_urgente_makes_a_claim_but_automatic_mail_never_does(session: Session, rossi, opened):
    """R12: URGENTE in the subject claims urgency; an auto-reply never does."""
    human = opened(now=MONDAY_16, subject="URGENTE: sito giù")
    robot = opened(now=MONDAY_16, subject="URGENTE: sito giù", auto_submitted=True)

    assert session.get(Ticket, human.id).urgency == Urgency.CLAIMED  # type: ignore[union-attr]
    assert session.get(Ticket, robot.id).urgency == Urgency.NONE  # type: ignore[union-attr]


def test_an_urgent_email_while_closed_alerts_the_watch(session: Session, rossi, opened):
    """R15: urgent by email on a Saturday: staff are alerted; the clock waits for Monday."""
    saturday = datetime(2026, 11, 28, 10, 0, tzinfo=ROME)
    ticket = opened(now=saturday, subject="URGENTE: posta ferma")

    stored = session.get(Ticket, ticket.id)
    assert stored is not None and stored.on_call_alert is True
    assert ticket.take_charge_due_at == datetime(2026, 12, 1, 16, 0, tzinfo=ROME)


def test_a_received_at_in_the_future_is_refused(session: Session, rossi, opened):
    now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    with pytest.raises(Unprocessable) as refused:
        opened(now=now, received_at=now + timedelta(minutes=5))

    assert refused.value.errors == [
        {"field": "received_at", "message": "must not be in the future", "type": "value_error"}
    ]
