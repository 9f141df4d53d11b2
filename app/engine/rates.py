"""The support service's rates (R2, R13) and what a billing line costs. Pure: numbers in,
`Decimal` amounts out, rounded half up to the cent."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from app.enums import BillingReason

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Rates:
    """The support service's rates (R2, R13): EUR per hour, the minimum charged per request,
    the increment minutes are rounded up to, and the priority surcharge (a percentage of the
    time at the hourly rate, or a fixed amount)."""

    hourly: Decimal = Decimal("60.00")
    minimum_minutes: int = 30
    rounding_minutes: int = 15
    surcharge_percent: Decimal | None = Decimal("50")
    surcharge_fixed: Decimal | None = None

    def charged_minutes(self, recorded: int) -> int:
        """At least the minimum, rounded up to the increment."""
        minutes = max(recorded, self.minimum_minutes)
        step = max(self.rounding_minutes, 1)
        return -(-minutes // step) * step

    def time_amount(self, minutes: int) -> Decimal:
        """`minutes` at the hourly rate, to the cent."""
        return (self.hourly * minutes / 60).quantize(CENT, rounding=ROUND_HALF_UP)

    def line(self, reason: BillingReason, recorded: int) -> tuple[int, Decimal]:
        """(minutes charged, amount) of a line."""
        minutes = self.charged_minutes(recorded)
        if reason != BillingReason.PRIORITY_SURCHARGE:
            return minutes, self.time_amount(minutes)
        # R13: priority handling is billed extra, at support rates.
        if self.surcharge_fixed is not None:
            return minutes, self.surcharge_fixed.quantize(CENT, rounding=ROUND_HALF_UP)
        percent = self.surcharge_percent or Decimal(0)
        return minutes, (self.time_amount(minutes) * percent / 100).quantize(
            CENT, rounding=ROUND_HALF_UP
        )


def parse_surcharge(text: str) -> tuple[Decimal | None, Decimal | None]:
    """`"50%"` -> (50, None); `"25.00"` -> (None, 25.00); or ValueError."""
    cleaned = text.strip()
    try:
        value = Decimal(cleaned.removesuffix("%").strip())
    except ArithmeticError as exc:
        raise ValueError(f"{text!r} is neither a percentage (50%) nor an amount (25.00)") from exc
    if not value.is_finite() or value < 0:
        raise ValueError(f"{text!r} must be a positive percentage or amount")
    return (value, None) if cleaned.endswith("%") else (None, value)
