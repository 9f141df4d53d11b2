"""SLA policy: which terms a request falls under, its take-charge deadline and its state.

Pure: no I/O, no clock, no settings. The ticket service passes the facts, the customer's
contracts and the support policy, and stores the returned decision (with its calendar snapshot).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from functools import lru_cache
from zoneinfo import ZoneInfo

from app.engine.business_hours import BusinessCalendar, calendar_for
from app.engine.calendar_spec import DEFAULT_CALENDAR_SPEC, CalendarSpec
from app.enums import BillingReason, Category, Channel, Coverage, Policy, SlaState, Urgency

CATEGORIES = tuple(Category)
# R3, R5: website always, hosting and backup by default; R4: email and provider_outage only
# when the contract includes hosting and email management.
DEFAULT_COVERAGE = (Category.WEBSITE, Category.HOSTING, Category.BACKUP)
# R6: the two accepted channels (R7: no telephone).
CHANNELS = tuple(Channel)
URGENCY_LEVELS = tuple(Urgency)

# R12: URGENTE as a whole word, in any case ("URGENTE!", "[urgente]"; not "urgentemente").
# Only letters and digits extend a word, so "URGENTE_sito" still counts.
_URGENT_WORD = re.compile(r"(?<![^\W_])URGENTE(?![^\W_])", re.IGNORECASE)


@dataclass(frozen=True)
class OnCallTerms:
    """An on-call agreement (R16): its own calendar and take-charge target."""

    calendar: CalendarSpec
    take_charge_hours: Decimal

    def __post_init__(self) -> None:
        _check_hours(self.take_charge_hours)


@dataclass(frozen=True)
class ContractTerms:
    """What an annual contract (R1) says about SLA: dates, coverage, calendar, target, on-call."""

    id: int
    starts_on: date
    ends_on: date
    coverage: frozenset[str] = frozenset(DEFAULT_COVERAGE)
    calendar: CalendarSpec = DEFAULT_CALENDAR_SPEC
    take_charge_hours: Decimal = Decimal(4)  # R9: at most 4 hours from receipt
    on_call: OnCallTerms | None = None

    def __post_init__(self) -> None:
        if self.ends_on < self.starts_on:
            raise ValueError(f"contract {self.id} ends on {self.ends_on}, before it starts")
        object.__setattr__(self, "coverage", frozenset(self.coverage))
        unknown = self.coverage - set(CATEGORIES)
        if unknown:
            raise ValueError(f"unknown categories {sorted(unknown)}: use {', '.join(CATEGORIES)}")
        if Category.WEBSITE not in self.coverage:
            raise ValueError("R3: every contract covers the 'website' category")
        _check_hours(self.take_charge_hours)

    def covers(self, category: str | None) -> bool:
        """Whether the contract covers a category; an untriaged request (None) counts as covered."""
        return category is None or category in self.coverage

    def is_active_at(self, instant: datetime) -> bool:
        """Whether the contract is in force on the date of `instant` in its calendar's zone."""
        local_date = instant.astimezone(ZoneInfo(self.calendar.timezone)).date()
        return self.starts_on <= local_date <= self.ends_on


@dataclass(frozen=True)
class SupportPolicy:
    """The customer-support terms used without an active contract (R2).

    `take_charge_hours` None means no contractual take-charge commitment (the default).
    """

    calendar: CalendarSpec = DEFAULT_CALENDAR_SPEC
    take_charge_hours: Decimal | None = None

    def __post_init__(self) -> None:
        if self.take_charge_hours is not None:
            _check_hours(self.take_charge_hours)


@dataclass(frozen=True)
class RequestFacts:
    """What the SLA decision needs to know about a received request."""

    received_at: datetime
    channel: str
    subject: str
    category: str | None = None


@dataclass(frozen=True)
class SlaDecision:
    """Which terms apply to a request, its deadline, and whether it is billable."""

    contract_id: int | None
    coverage: Coverage
    urgent: bool
    urgency: Urgency
    policy: Policy
    calendar: CalendarSpec  # the calendar the clock runs on, stored as a snapshot
    target_seconds: int | None
    clock_started_at: datetime | None
    take_charge_due_at: datetime | None
    billable: bool
    billing_reasons: tuple[BillingReason, ...]
    on_call_alert: bool


@dataclass(frozen=True)
class SlaStatus:
    """Where a request stands against its take-charge deadline."""

    state: SlaState
    business_seconds_elapsed: int
    business_seconds_remaining: int | None


def is_urgent(subject: str) -> bool:
    """Whether a subject claims urgency: the word URGENTE, after RFC 2047 decoding (R12)."""
    return _URGENT_WORD.search(_decode_subject(subject)) is not None


def active_contract(contracts: Sequence[ContractTerms], *, on: date) -> ContractTerms | None:
    """The contract in force on a date (starts_on <= on <= ends_on), latest start first."""
    return _latest([c for c in contracts if c.starts_on <= on <= c.ends_on])


def active_contract_at(
    contracts: Sequence[ContractTerms], *, instant: datetime
) -> ContractTerms | None:
    """The contract in force at an instant, each dated in its own calendar's zone."""
    # R2: a request received 31 Dec 23:30 UTC arrives on 1 Jan in Rome; the Rome date counts.
    return _latest([contract for contract in contracts if contract.is_active_at(instant)])


def decide(
    facts: RequestFacts,
    *,
    contracts: Sequence[ContractTerms],
    support: SupportPolicy,
    urgency: str | None = None,
    priority_handling: bool = False,
) -> SlaDecision:
    """Decide the terms, deadline and billing of a request.

    `urgency` is the staff decision ("confirmed" or "rejected"); None derives it from the
    subject. `priority_handling` records that the customer asked for priority handling.
    One decision, read whole: the rules in the order the service terms state them.
    """
    _check_facts(facts)
    level = _urgency_level(urgency, facts.subject)
    urgent = level in (Urgency.CLAIMED, Urgency.CONFIRMED)  # R12
    reasons: list[BillingReason] = []

    contract = active_contract_at(contracts, instant=facts.received_at)
    if contract is None:
        # R2: no active contract on the receipt date: the support policy, billable.
        coverage = Coverage.NO_CONTRACT
        reasons.append(BillingReason.NO_CONTRACT)
        policy = Policy.SUPPORT
        calendar, hours = support.calendar, support.take_charge_hours
        # R15: out of hours an urgent email reaches staff whatever the customer's terms.
        closed = not calendar_for(calendar).is_open(facts.received_at)
        on_call_alert = urgent and facts.channel == Channel.EMAIL and closed
    else:
        # R3-R5: a category outside the contract's coverage is billable work.
        coverage = Coverage.CONTRACT if contract.covers(facts.category) else Coverage.NOT_COVERED
        if coverage == Coverage.NOT_COVERED:
            reasons.append(BillingReason.NOT_COVERED)
        closed = not calendar_for(contract.calendar).is_open(facts.received_at)
        # R15: an urgent email received while closed alerts staff; a web form waits for opening.
        on_call_alert = urgent and facts.channel == Channel.EMAIL and closed
        if on_call_alert and contract.on_call is not None:
            # R16: an on-call agreement runs the clock on its own calendar and target.
            policy = Policy.ON_CALL
            calendar, hours = contract.on_call.calendar, contract.on_call.take_charge_hours
        else:
            # R16: without an agreement, out-of-hours work is best effort; the clock waits.
            policy = Policy.CONTRACT
            calendar, hours = contract.calendar, contract.take_charge_hours

    if priority_handling and level in (Urgency.NONE, Urgency.REJECTED):
        reasons.append(BillingReason.PRIORITY_SURCHARGE)  # R13: priority without confirmed urgency

    target_seconds, clock_started_at, take_charge_due_at = _deadline(
        calendar, hours, facts.received_at
    )
    return SlaDecision(
        contract_id=None if contract is None else contract.id,
        coverage=coverage,
        urgent=urgent,
        urgency=level,
        policy=policy,
        calendar=calendar,
        target_seconds=target_seconds,
        clock_started_at=clock_started_at,
        take_charge_due_at=take_charge_due_at,
        billable=bool(reasons),
        billing_reasons=tuple(reasons),
        on_call_alert=on_call_alert,
    )


def _deadline(
    calendar: CalendarSpec, hours: Decimal | None, received_at: datetime
) -> tuple[int | None, datetime | None, datetime | None]:
    """(target seconds, clock start, take-charge deadline); all None without a target (R2)."""
    if hours is None:
        return None, None, None
    target_seconds = int(hours * 3600)
    business_calendar = calendar_for(calendar)
    # R9: the clock starts at receipt, or at the next opening if received while closed.
    clock_started_at = business_calendar.clock_start(received_at)
    due = business_calendar.add_business_time(clock_started_at, timedelta(seconds=target_seconds))
    return target_seconds, clock_started_at, due


def sla_status(
    *,
    calendar: CalendarSpec,
    clock_started_at: datetime | None,
    take_charge_due_at: datetime | None,
    target_seconds: int | None,
    taken_in_charge_at: datetime | None,
    now: datetime,
    at_risk_fraction: float = 0.25,
) -> SlaStatus:
    """The SLA state of a request at `now`, with business seconds elapsed and remaining.

    Once taken in charge, both figures are measured at the taking in charge, not at `now`.
    """
    if not 0 <= at_risk_fraction <= 1:
        raise ValueError(f"at_risk_fraction must be between 0 and 1, got {at_risk_fraction}")
    if clock_started_at is None or take_charge_due_at is None:
        return SlaStatus(SlaState.NOT_APPLICABLE, 0, None)  # R2: no contractual commitment

    business_calendar = calendar_for(calendar)
    if taken_in_charge_at is not None:
        return _settled_status(
            business_calendar, clock_started_at, taken_in_charge_at, take_charge_due_at
        )
    elapsed = business_calendar.business_time_between(clock_started_at, now)
    remaining = business_calendar.business_time_between(now, take_charge_due_at)
    elapsed_seconds, remaining_seconds = _whole_seconds(elapsed), _whole_seconds(remaining)

    if now > take_charge_due_at:
        state = SlaState.BREACHED
    else:
        if target_seconds is None:
            target_seconds = _whole_seconds(
                business_calendar.business_time_between(clock_started_at, take_charge_due_at)
            )
        at_risk = remaining_seconds < at_risk_fraction * target_seconds
        state = SlaState.AT_RISK if at_risk else SlaState.PENDING
    return SlaStatus(state, elapsed_seconds, remaining_seconds)


# A request taken in charge has the same status at every read, `now` aside, and the work queue
# shows mostly such requests: each is worked out once per process (a pure function of its
# facts, so nothing to invalidate; bounded). docs/adr/0006-settled-sla-status-once.md
@lru_cache(maxsize=16_384)
def _settled_status(
    calendar: BusinessCalendar, clock_started_at: datetime, taken: datetime, due: datetime
) -> SlaStatus:
    """The status once taken in charge: both figures measured at the taking in charge."""
    elapsed = calendar.business_time_between(clock_started_at, taken)
    remaining = calendar.business_time_between(taken, due)
    # Taking charge exactly at the due instant still meets the deadline.
    state = SlaState.MET if taken <= due else SlaState.BREACHED
    return SlaStatus(state, _whole_seconds(elapsed), _whole_seconds(remaining))


def _check_facts(facts: RequestFacts) -> None:
    if facts.channel not in CHANNELS:
        # R7: telephone requests cannot be taken into account.
        raise ValueError(
            f"channel {facts.channel!r} is not accepted: requests arrive by "
            f"{' or '.join(CHANNELS)} (telephone requests are not taken into account)"
        )
    if facts.category is not None and facts.category not in CATEGORIES:
        raise ValueError(f"unknown category {facts.category!r}: use one of {', '.join(CATEGORIES)}")
    if facts.received_at.tzinfo is None or facts.received_at.utcoffset() is None:
        raise ValueError("received_at must be timezone-aware")


def _urgency_level(urgency: str | None, subject: str) -> Urgency:
    if urgency is None:
        return Urgency.CLAIMED if is_urgent(subject) else Urgency.NONE
    if urgency not in URGENCY_LEVELS:
        raise ValueError(f"unknown urgency {urgency!r}: use one of {', '.join(URGENCY_LEVELS)}")
    return Urgency(urgency)


def _decode_subject(subject: str) -> str:
    """The subject with RFC 2047 encoded words decoded; the raw subject if that fails."""
    try:
        return str(make_header(decode_header(subject)))
    except (HeaderParseError, LookupError, UnicodeError, ValueError):
        return subject  # a malformed encoded word must not lose the request


def _latest(contracts: Sequence[ContractTerms]) -> ContractTerms | None:
    # Overlapping contracts: the most recently started wins, then the highest id.
    return max(contracts, key=lambda contract: (contract.starts_on, contract.id), default=None)


def _check_hours(hours: Decimal) -> None:
    if not hours > 0:
        raise ValueError(f"take_charge_hours must be positive, got {hours}")


def _whole_seconds(duration: timedelta) -> int:
    return duration // timedelta(seconds=1)
