"""SLA policy: contracts, coverage, urgency, on-call and SLA states, rule by rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from app.engine.calendar_spec import DAYS, DEFAULT_CALENDAR_SPEC, CalendarSpec
from app.engine.sla import (
    CATEGORIES,
    DEFAULT_COVERAGE,
    ContractTerms,
    OnCallTerms,
    RequestFacts,
    SlaDecision,
    SlaStatus,
    SupportPolicy,
    active_contract,
    active_contract_at,
    decide,
    is_urgent,
    sla_status,
)

ROME = ZoneInfo("Europe/Rome")
SUPPORT = SupportPolicy()
CONTRACT_2026 = ContractTerms(id=1, starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31))
ON_CALL = OnCallTerms(
    calendar=CalendarSpec(
        timezone="Europe/Rome", weekly={day: (("08:00", "22:00"),) for day in DAYS}
    ),
    take_charge_hours=Decimal(2),
)
CONTRACT_WITH_ON_CALL = replace(CONTRACT_2026, id=2, on_call=ON_CALL)

MONDAY_16 = datetime(2026, 11, 23, 16, tzinfo=ROME)
SATURDAY_10 = datetime(2026, 11, 28, 10, tzinfo=ROME)


def rome(*args: int) -> datetime:
    return datetime(*args, tzinfo=ROME)  # type: ignore[misc]


def facts(
    received_at: datetime = MONDAY_16,
    *,
    channel: str = "web_form",
    subject: str = "Il sito non si apre",
    category: str | None = "website",
) -> RequestFacts:
    return RequestFacts(
        received_at=received_at, channel=channel, subject=subject, category=category
    )


def decide_for(request: RequestFacts, *contracts: ContractTerms, **options) -> SlaDecision:
    return decide(request, contracts=contracts, support=options.pop("support", SUPPORT), **options)


# --- R2: no active contract ------------------------------------------------------------------


def test_r2_without_contract_support_policy_billable_without_commitment() -> None:
    decision = decide_for(facts())
    assert decision.contract_id is None
    assert decision.coverage == "no_contract"
    assert decision.policy == "support"
    assert decision.billable
    assert decision.billing_reasons == ("no_contract",)
    assert decision.calendar == DEFAULT_CALENDAR_SPEC
    assert decision.target_seconds is None
    assert decision.clock_started_at is None
    assert decision.take_charge_due_at is None
    status = sla_status(
        calendar=decision.calendar,
        clock_started_at=decision.clock_started_at,
        take_charge_due_at=decision.take_charge_due_at,
        target_seconds=decision.target_seconds,
        taken_in_charge_at=None,
        now=MONDAY_16 + timedelta(days=30),
    )
    assert status == SlaStatus("not_applicable", 0, None)


def test_r2_support_policy_with_a_configured_target() -> None:
    support = SupportPolicy(take_charge_hours=Decimal(8))
    decision = decide_for(facts(), support=support)
    assert decision.policy == "support"
    assert decision.target_seconds == 8 * 3600
    assert decision.clock_started_at == MONDAY_16
    # 2 h Monday, 3 h Tuesday, 3 h Wednesday.
    assert decision.take_charge_due_at == rome(2026, 11, 25, 18)


@pytest.mark.parametrize(
    "contract",
    [
        pytest.param(replace(CONTRACT_2026, ends_on=date(2026, 10, 31)), id="expired"),
        pytest.param(replace(CONTRACT_2026, starts_on=date(2026, 12, 1)), id="starts later"),
    ],
)
def test_r2_contract_not_in_force_on_receipt_date_means_no_contract(contract) -> None:
    decision = decide_for(facts(), contract)
    assert decision.coverage == "no_contract"
    assert decision.contract_id is None
    assert decision.policy == "support"


def test_r1_contract_in_force_on_first_and_last_day() -> None:
    first_day = replace(CONTRACT_2026, starts_on=date(2026, 11, 23))
    last_day = replace(CONTRACT_2026, ends_on=date(2026, 11, 23))
    assert decide_for(facts(), first_day).coverage == "contract"
    assert decide_for(facts(), last_day).coverage == "contract"


def test_r2_receipt_date_is_the_rome_date_not_the_utc_date() -> None:
    """31 Dec 2026 23:30 UTC is 1 Jan 2027 00:30 in Rome: the 2027 contract applies."""
    received = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    contract_2027 = ContractTerms(id=7, starts_on=date(2027, 1, 1), ends_on=date(2027, 12, 31))
    assert decide_for(facts(received), CONTRACT_2026, contract_2027).contract_id == 7
    assert decide_for(facts(received), CONTRACT_2026).coverage == "no_contract"
    assert active_contract([CONTRACT_2026, contract_2027], on=date(2026, 12, 31)) is CONTRACT_2026
    assert active_contract_at([CONTRACT_2026, contract_2027], instant=received) is contract_2027


def test_overlapping_contracts_choose_the_latest_start() -> None:
    renewal = ContractTerms(id=9, starts_on=date(2026, 11, 1), ends_on=date(2027, 10, 31))
    assert active_contract([renewal, CONTRACT_2026], on=date(2026, 11, 23)) is renewal
    assert active_contract([CONTRACT_2026, renewal], on=date(2026, 11, 23)) is renewal
    assert active_contract([CONTRACT_2026], on=date(2027, 1, 1)) is None


# --- R3, R4, R5: coverage ----------------------------------------------------------------------


def test_r3_r5_default_coverage() -> None:
    assert DEFAULT_COVERAGE == ("website", "hosting", "backup")
    assert CONTRACT_2026.coverage == frozenset(DEFAULT_COVERAGE)


@pytest.mark.parametrize(
    ("category", "coverage"),
    [
        pytest.param("website", "contract", id="R3 website"),
        pytest.param("hosting", "contract", id="R5 hosting"),
        pytest.param("backup", "contract", id="R5 backup"),
        pytest.param("email", "not_covered", id="R4 email not by default"),
        pytest.param("provider_outage", "not_covered", id="R4 provider outage not by default"),
        pytest.param(None, "contract", id="untriaged counts as covered"),
    ],
)
def test_r3_r4_r5_coverage_of_a_default_contract(category: str | None, coverage: str) -> None:
    decision = decide_for(facts(category=category), CONTRACT_2026)
    assert decision.coverage == coverage
    assert decision.contract_id == 1
    assert decision.policy == "contract"
    assert decision.billable is (coverage == "not_covered")
    assert decision.billing_reasons == (("not_covered",) if coverage == "not_covered" else ())
    # Not covered still runs on the contract's deadline (R9).
    assert decision.take_charge_due_at == rome(2026, 11, 24, 17)


@pytest.mark.parametrize("category", ["email", "provider_outage"])
def test_r4_email_and_provider_outage_covered_when_included(category: str) -> None:
    with_email = replace(CONTRACT_2026, coverage=frozenset(CATEGORIES))
    decision = decide_for(facts(category=category), with_email)
    assert decision.coverage == "contract"
    assert not decision.billable


def test_r3_every_contract_covers_website() -> None:
    with pytest.raises(ValueError, match="R3"):
        replace(CONTRACT_2026, coverage=frozenset({"hosting"}))
    with pytest.raises(ValueError, match="unknown categories"):
        replace(CONTRACT_2026, coverage=frozenset({"website", "dns"}))


def test_unknown_category_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown category 'dns'"):
        decide_for(facts(category="dns"), CONTRACT_2026)


@pytest.mark.parametrize("channel", ["phone", "telefono", ""])
def test_r7_phone_channel_is_refused_naming_accepted_channels(channel: str) -> None:
    with pytest.raises(ValueError, match="email or web_form"):
        decide_for(facts(channel=channel), CONTRACT_2026)


def test_naive_receipt_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide_for(facts(datetime(2026, 11, 23, 16)), CONTRACT_2026)


# --- R8, R9: the contract's deadline -----------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "due"),
    [  # SPEC.md's worked deadlines
        (rome(2026, 11, 23, 16), rome(2026, 11, 24, 17)),
        (rome(2026, 11, 27, 17, 30), rome(2026, 12, 1, 15, 30)),
        (rome(2026, 11, 28, 10), rome(2026, 12, 1, 16)),
        (rome(2026, 12, 24, 17), rome(2026, 12, 28, 18)),
    ],
)
def test_r9_worked_deadlines_through_decide(received: datetime, due: datetime) -> None:
    decision = decide_for(facts(received), CONTRACT_2026)
    assert decision.target_seconds == 4 * 3600
    assert decision.take_charge_due_at == due


def test_r9_clock_starts_at_next_opening_when_received_closed() -> None:
    decision = decide_for(facts(SATURDAY_10), CONTRACT_2026)
    assert decision.clock_started_at == rome(2026, 11, 30, 15)
    assert decision.clock_started_at.tzinfo is UTC


def test_r9_contract_target_and_calendar_are_data() -> None:
    mornings = CalendarSpec(timezone="Europe/Rome", weekly={"mon": (("09:00", "12:00"),)})
    contract = replace(CONTRACT_2026, calendar=mornings, take_charge_hours=Decimal("1.5"))
    decision = decide_for(facts(MONDAY_16), contract)
    assert decision.calendar == mornings
    assert decision.target_seconds == 5400
    assert decision.take_charge_due_at == rome(2026, 11, 30, 10, 30)


# --- R12: urgency ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "urgent"),
    [
        ("URGENTE", True),
        ("URGENTE!", True),
        ("[urgente] backup fallito", True),
        ("Urgente: sito giù", True),
        ("Re: R: sito down URGENTE", True),
        ("uRgEnTe", True),
        ("URGENTE_sito", True),
        ("=?UTF-8?B?VVJHRU5URTogc2l0byBnacO5?=", True),  # RFC 2047 B: "URGENTE: sito giù"
        ("=?utf-8?q?urgente_sito_gi=C3=B9?=", True),  # RFC 2047 Q
        ("Re: =?ISO-8859-1?Q?URGENTE_=E0?= ancora", True),
        ("=?x-unknown?q?URGENTE?=", True),  # unknown charset: the raw subject is searched
        ("", False),
        ("Richiesta non urgente", True),  # the rule is literal; staff may reject it (R13)
        ("urgentemente", False),
        ("NONURGENTE", False),
        ("URGENTISSIMO", False),
        ("U R G E N T E", False),
        ("urgenteè", False),
        ("=?UTF-8?B?!!!?=", False),  # malformed encoded word: no crash
        ("=?utf-8?b?/w==?=", False),  # invalid UTF-8: no crash
    ],
)
def test_r12_urgency_detection(subject: str, urgent: bool) -> None:
    assert is_urgent(subject) is urgent


def test_r12_urgent_subject_is_claimed_until_staff_decide() -> None:
    assert decide_for(facts(subject="URGENTE"), CONTRACT_2026).urgency == "claimed"
    assert decide_for(facts(subject="URGENTE"), CONTRACT_2026).urgent
    assert decide_for(facts(), CONTRACT_2026).urgency == "none"
    rejected = decide_for(facts(subject="URGENTE"), CONTRACT_2026, urgency="rejected")
    assert (rejected.urgency, rejected.urgent) == ("rejected", False)
    confirmed = decide_for(facts(), CONTRACT_2026, urgency="confirmed")
    assert (confirmed.urgency, confirmed.urgent) == ("confirmed", True)
    with pytest.raises(ValueError, match="unknown urgency"):
        decide_for(facts(), CONTRACT_2026, urgency="maybe")


# --- R13: priority surcharge -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "urgency", "reasons"),
    [
        ("URGENTE", "rejected", ("priority_surcharge",)),
        ("Aggiornamento", None, ("priority_surcharge",)),
        ("URGENTE", "confirmed", ()),
        ("URGENTE", None, ()),  # claimed, awaiting the staff decision
    ],
)
def test_r13_priority_handling_without_confirmed_urgency_is_billed(
    subject: str, urgency: str | None, reasons: tuple[str, ...]
) -> None:
    decision = decide_for(
        facts(subject=subject), CONTRACT_2026, urgency=urgency, priority_handling=True
    )
    assert decision.billing_reasons == reasons
    assert decision.billable is bool(reasons)


def test_r13_billing_reasons_keep_their_order() -> None:
    no_contract = decide_for(facts(subject="URGENTE"), urgency="rejected", priority_handling=True)
    assert no_contract.billing_reasons == ("no_contract", "priority_surcharge")
    not_covered = decide_for(facts(category="email"), CONTRACT_2026, priority_handling=True)
    assert not_covered.billing_reasons == ("not_covered", "priority_surcharge")


# --- R15, R16: out of hours --------------------------------------------------------------------


def test_r15_r16_urgent_email_on_saturday_with_on_call_agreement() -> None:
    decision = decide_for(
        facts(SATURDAY_10, channel="email", subject="URGENTE: sito giù"), CONTRACT_WITH_ON_CALL
    )
    assert decision.on_call_alert
    assert decision.policy == "on_call"
    assert decision.calendar == ON_CALL.calendar
    assert decision.target_seconds == 2 * 3600
    assert decision.clock_started_at == SATURDAY_10  # the on-call calendar is open at 10:00
    assert decision.take_charge_due_at == rome(2026, 11, 28, 12)
    assert decision.coverage == "contract"
    assert not decision.billable


def test_r15_r16_urgent_email_on_saturday_without_agreement_is_best_effort() -> None:
    decision = decide_for(
        facts(SATURDAY_10, channel="email", subject="URGENTE: sito giù"), CONTRACT_2026
    )
    assert decision.on_call_alert
    assert decision.policy == "contract"
    assert decision.calendar == DEFAULT_CALENDAR_SPEC
    assert decision.clock_started_at == rome(2026, 11, 30, 15)
    assert decision.take_charge_due_at == rome(2026, 12, 1, 16)


@pytest.mark.parametrize(
    ("received", "channel", "subject", "urgency"),
    [
        pytest.param(SATURDAY_10, "web_form", "URGENTE", None, id="urgent web form on Saturday"),
        pytest.param(MONDAY_16, "email", "URGENTE", None, id="urgent email within hours"),
        pytest.param(SATURDAY_10, "email", "Aggiornamento", None, id="plain email on Saturday"),
        pytest.param(SATURDAY_10, "email", "URGENTE", "rejected", id="rejected urgency"),
    ],
)
def test_r15_r16_no_alert_and_normal_policy(
    received: datetime, channel: str, subject: str, urgency: str | None
) -> None:
    request = facts(received, channel=channel, subject=subject)
    decision = decide_for(request, CONTRACT_WITH_ON_CALL, urgency=urgency)
    assert not decision.on_call_alert
    assert decision.policy == "contract"
    assert decision.calendar == DEFAULT_CALENDAR_SPEC
    assert decision.target_seconds == 4 * 3600


def test_r15_urgent_email_on_holiday_raises_alert() -> None:
    christmas = rome(2026, 12, 25, 16)  # a Friday, within the usual hours
    decision = decide_for(facts(christmas, channel="email", subject="URGENTE"), CONTRACT_2026)
    assert decision.on_call_alert


def test_r15_urgent_email_without_contract_still_alerts_staff() -> None:
    decision = decide_for(facts(SATURDAY_10, channel="email", subject="URGENTE"))
    assert decision.on_call_alert
    assert decision.policy == "support"


# --- SLA states --------------------------------------------------------------------------------


def status_at(
    now: datetime,
    *,
    taken_in_charge_at: datetime | None = None,
    received: datetime = MONDAY_16,
    at_risk_fraction: float = 0.25,
) -> SlaStatus:
    decision = decide_for(facts(received), CONTRACT_2026)
    return sla_status(
        calendar=decision.calendar,
        clock_started_at=decision.clock_started_at,
        take_charge_due_at=decision.take_charge_due_at,
        target_seconds=decision.target_seconds,
        taken_in_charge_at=taken_in_charge_at,
        now=now,
        at_risk_fraction=at_risk_fraction,
    )


# Received Monday 23 Nov 16:00, due Tuesday 24 Nov 17:00 (4 business hours).
@pytest.mark.parametrize(
    ("now", "taken", "expected"),
    [
        pytest.param(rome(2026, 11, 23, 17), None, SlaStatus("pending", 3600, 10800), id="pending"),
        pytest.param(
            rome(2026, 11, 24, 10), None, SlaStatus("pending", 7200, 7200), id="pending overnight"
        ),
        pytest.param(
            rome(2026, 11, 24, 16, 15), None, SlaStatus("at_risk", 11700, 2700), id="at risk"
        ),
        pytest.param(rome(2026, 11, 24, 17), None, SlaStatus("at_risk", 14400, 0), id="due now"),
        pytest.param(
            rome(2026, 11, 24, 17, 0, 1), None, SlaStatus("breached", 14401, 0), id="overdue"
        ),
        pytest.param(
            rome(2026, 11, 30, 16), None, SlaStatus("breached", 54000, 0), id="overdue days"
        ),
        pytest.param(
            rome(2026, 11, 30, 9),
            rome(2026, 11, 24, 17),
            SlaStatus("met", 14400, 0),
            id="met at due instant",
        ),
        pytest.param(
            rome(2026, 11, 30, 9),
            rome(2026, 11, 23, 16, 30),
            SlaStatus("met", 1800, 12600),
            id="met early",
        ),
        pytest.param(
            rome(2026, 11, 30, 9),
            rome(2026, 11, 24, 17, 30),
            SlaStatus("breached", 16200, 0),
            id="taken late",
        ),
    ],
)
def test_sla_status_with_exact_business_seconds(
    now: datetime, taken: datetime | None, expected: SlaStatus
) -> None:
    assert status_at(now, taken_in_charge_at=taken) == expected


def test_sla_status_before_the_clock_starts_is_pending() -> None:
    status = status_at(rome(2026, 11, 29, 12), received=SATURDAY_10)
    assert status == SlaStatus("pending", 0, 14400)


def test_sla_status_floors_to_whole_seconds() -> None:
    status = status_at(datetime(2026, 11, 23, 16, 0, 0, 999_999, tzinfo=ROME))
    assert status == SlaStatus("pending", 0, 14399)


def test_sla_status_at_risk_fraction_is_configurable() -> None:
    now = rome(2026, 11, 24, 15, 30)  # 1.5 h of 4 h left
    assert status_at(now).state == "pending"
    assert status_at(now, at_risk_fraction=0.5).state == "at_risk"
    with pytest.raises(ValueError, match="at_risk_fraction"):
        status_at(now, at_risk_fraction=1.5)
