"""The year of a contract (R1, P4): requests, SLA kept, time spent and amounts, against the fee."""

from datetime import date, datetime

from app.models.base import HoursOut, MoneyOut
from app.models.common import Schema
from app.models.report import Compliance, TakeChargeTimes, Urgent


class RecordedTime(Schema):
    """Minutes staff recorded on the period's requests (time entries)."""

    covered_minutes: int
    """Recorded as not billable: work the annual fee covers."""
    billable_minutes: int
    """Recorded as billable: work at support rates (R2, R4, R5, R13)."""


class Amounts(Schema):
    """The billing lines of the period's requests (as the monthly billing report shows them)."""

    lines: int
    """Billing lines: a request and one of its billing reasons."""
    billed_lines: int
    """Of those, marked billed on an invoice."""
    billed: MoneyOut
    """EUR invoiced, with the figures each line was billed with."""
    open: MoneyOut
    """EUR not invoiced yet, at the current support rates."""


class ReviewFigures(Schema):
    """Figures of a period, each the sum of the monthly statements' and billing reports'."""

    received: int
    """Requests received."""
    by_category: dict[str, int]
    """Of those, how many in each category (R3-R5); `none` for those without one."""
    by_policy: dict[str, int]
    """How many under each policy: contract, on_call (R16), support (R2)."""
    with_target: int
    """Requests with a take-charge deadline."""
    taken_in_charge: int
    """Requests taken in charge."""
    within_target: int
    """Taken in charge by their deadline (R9)."""
    breached: int
    """Taken in charge late, or past their deadline and not taken in charge at the report
    time."""
    pending: int
    """Not taken in charge, deadline still ahead at the report time."""
    still_open: int
    """Not resolved or closed yet."""
    compliance: Compliance
    """Within target over requests whose outcome is known, summed over the months."""
    urgent: Urgent
    """Urgent requests and on-call work (R12-R16)."""
    waiting_third_party_minutes: int
    """Wall-clock minutes spent waiting on third parties (R10)."""
    time: RecordedTime
    """Minutes recorded, covered and billable."""
    amounts: Amounts
    """Billed and open amounts of the billing lines."""


class ReviewMonth(ReviewFigures):
    """One calendar month of the contract year (Europe/Rome), cut at the year's ends."""

    month: str
    """YYYY-MM."""
    first_day: date
    """Its first day in the contract year."""
    last_day: date
    """Its last day in the contract year."""


class AgainstFee(Schema):
    """The year's work against the annual fee (R1, R2)."""

    annual_fee: MoneyOut
    """The contract's annual fee, EUR."""
    covered_hours: HoursOut
    """Hours recorded as covered by the fee."""
    covered_at_support_rates: MoneyOut
    """What the covered hours would have cost at the current support hourly rate."""
    billed: MoneyOut
    """EUR billed beyond the fee."""
    open: MoneyOut
    """EUR billable beyond the fee, not invoiced yet."""
    total: MoneyOut
    """The fee, plus billed and open amounts."""


class ContractReview(Schema):
    """A contract's year: from a `starts_on` anniversary to the day before the next one."""

    contract_id: int
    """The contract."""
    contract_code: str
    """Its code."""
    proposal_ref: str
    """The commercial proposal it came from."""
    customer_id: int
    """Its customer."""
    customer_name: str
    """The customer's name."""
    language: str
    """The customer's language (it or en): the printed review's."""
    year: int
    """The calendar year the contract year starts in."""
    first_day: date
    """The contract year's first day."""
    last_day: date
    """Its last day (the day before the next anniversary, or the contract's end)."""
    timezone: str
    """Days and months are counted in this zone (Europe/Rome)."""
    complete: bool
    """True once the year is over: its figures no longer depend on when they are asked for."""
    as_of: datetime
    """The report time: the request's time in a running year, the year's end in a past one."""
    currency: str
    """EUR."""
    total: ReviewFigures
    """The whole year: the sum of the months."""
    take_charge_times: TakeChargeTimes
    """Business minutes to take charge over the year: median and 90th percentile."""
    against_fee: AgainstFee
    """The year's work and amounts against the annual fee."""
    months: list[ReviewMonth]
    """Month by month, first to last."""
