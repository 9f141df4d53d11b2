"""The monthly SLA statement (R1, R9): what was promised, what was kept, and every breach."""

from datetime import date, datetime

from app.enums import Policy
from app.models.common import Schema


class Compliance(Schema):
    """Requests taken in charge within target, over those whose outcome is known."""

    percent: float | None
    """100 x within_target / denominator, to two decimals; null when the denominator is 0."""
    within_target: int
    """Taken in charge by their deadline."""
    denominator: int
    """Requests received in the month, with a take-charge deadline, that were taken in charge
    or are past their deadline at the report time (pending ones are left out)."""
    basis: str
    """The denominator in words."""


class TakeChargeTimes(Schema):
    """How long taking in charge took, in business minutes on each request's own calendar."""

    count: int
    """Requests taken in charge that had a deadline."""
    median_business_minutes: int | None
    """The median (nearest rank); null without requests."""
    p90_business_minutes: int | None
    """The 90th percentile (nearest rank)."""


class Bucket(Schema):
    """A bar of the chart: take-charge times as a share of each request's target."""

    label: str
    """The share of the target, e.g. `75-100%`."""
    count: int
    """How many requests."""
    within_target: bool
    """True for the bars at or under the target."""


class Urgent(Schema):
    """Requests marked URGENTE (R12, R13) and out-of-hours work (R15, R16)."""

    received: int
    """Handled as urgent (claimed, or confirmed by staff)."""
    confirmed: int
    """Urgency confirmed by staff."""
    rejected: int
    """Urgency rejected by staff (R13)."""
    on_call: int
    """Handled under the on-call agreement (R16)."""
    on_call_within_target: int
    """Of those, taken in charge within the on-call target."""
    on_call_alerts: int
    """Out-of-hours urgent emails that raised an on-call alert (R15)."""


class Breach(Schema):
    """A request not taken in charge by its deadline."""

    ticket_id: int
    """The ticket."""
    ticket_number: str
    """Its number."""
    received_at: datetime
    """When it arrived."""
    policy: Policy
    """The terms its deadline came from."""
    urgent: bool
    """Whether it was urgent."""
    take_charge_due_at: datetime
    """The deadline."""
    taken_in_charge_at: datetime | None
    """When it was taken in charge; null: not yet at the report time."""
    late_business_minutes: int
    """Business minutes past the deadline (on its own calendar), up to taking in charge or the
    report time."""
    late_minutes: int
    """Wall-clock minutes past the deadline, likewise."""
    cause: str
    """`taken_in_charge_late`, or `not_taken_in_charge` yet."""


class ContractStatement(Schema):
    """One contract's month; `contract_id` null gathers requests with no contract (R2)."""

    contract_id: int | None
    """The contract; null: requests with no contract, under the support policy (R2)."""
    contract_code: str | None
    """Its code."""
    customer_id: int | None
    """Its customer."""
    customer_name: str | None
    """The customer's name."""
    language: str
    """The customer's language (it or en): the printed statement's."""
    received: int
    """Requests received in the month."""
    by_policy: dict[str, int]
    """Of those, how many under each policy: contract, on_call (R16), support (R2)."""
    with_target: int
    """Requests with a take-charge deadline."""
    taken_in_charge: int
    """Requests taken in charge (by the report time)."""
    within_target: int
    """Taken in charge by their deadline."""
    breached: int
    """Taken in charge late, or past their deadline and not taken in charge yet."""
    pending: int
    """Not taken in charge yet, deadline still ahead."""
    still_open: int
    """Not resolved or closed at the report time."""
    compliance: Compliance
    """Within target over decided requests, with the denominator stated."""
    take_charge_times: TakeChargeTimes
    """Median and 90th percentile take-charge time in business minutes."""
    chart: list[Bucket]
    """Take-charge times as shares of the target, for the chart."""
    urgent: Urgent
    """Urgent requests and on-call work."""
    waiting_third_party_minutes: int
    """Wall-clock minutes these requests spent waiting on third parties (R10)."""
    breaches: list[Breach]
    """Every breach, by deadline."""


class SlaStatement(Schema):
    """The SLA statement of a month (Europe/Rome), per contract."""

    month: str
    """YYYY-MM."""
    first_day: date
    """Its first day."""
    last_day: date
    """Its last day."""
    timezone: str
    """Months are counted in this zone (Europe/Rome)."""
    generated_at: datetime
    """The report time: open and pending figures are as of this instant."""
    contracts: list[ContractStatement]
    """One entry per contract active in the month or with requests in it."""
