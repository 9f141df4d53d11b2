"""The support rates (R2, R13): minimum charge, rounding up, surcharge; money to the cent."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from app.engine.rates import Rates, parse_surcharge
from app.enums import BillingReason
from app.settings import Settings

RATES = Rates()  # 60.00 EUR/h, at least 30 min, by 15 min, surcharge 50%


@pytest.mark.parametrize(
    ("recorded", "minutes", "amount"),
    [(0, 30, "30.00"), (10, 30, "30.00"), (31, 45, "45.00"), (45, 45, "45.00"), (50, 60, "60.00")],
)
def test_time_is_charged_at_least_the_minimum_rounded_up(recorded, minutes, amount):
    assert RATES.line(BillingReason.NO_CONTRACT, recorded) == (minutes, Decimal(amount))


def test_the_priority_surcharge_is_a_share_of_the_time_or_a_fixed_amount():
    assert RATES.line(BillingReason.PRIORITY_SURCHARGE, 40) == (45, Decimal("22.50"))
    fixed = Rates(surcharge_percent=None, surcharge_fixed=Decimal("25"))
    assert fixed.line(BillingReason.PRIORITY_SURCHARGE, 40) == (45, Decimal("25.00"))
    odd = Rates(hourly=Decimal("55.55"), surcharge_percent=Decimal("33"))
    # 45 min at 55.55/h = 41.6625 -> 41.66; 33% -> 13.7478 -> 13.75 (half up, to the cent).
    assert odd.line(BillingReason.PRIORITY_SURCHARGE, 40) == (45, Decimal("13.75"))


@given(
    recorded=st.integers(0, 10_000),
    minimum=st.integers(0, 120),
    step=st.integers(1, 60),
    hourly=st.decimals(min_value=0, max_value=500, places=2),
)
def test_charged_minutes_cover_the_work_by_less_than_one_increment(recorded, minimum, step, hourly):
    rates = Rates(hourly=hourly, minimum_minutes=minimum, rounding_minutes=step)
    minutes, amount = rates.line(BillingReason.NOT_COVERED, recorded)
    assert minutes % step == 0
    assert minutes >= max(recorded, minimum)
    assert minutes - max(recorded, minimum) < step
    # To the cent: within half a cent of the exact price.
    assert amount == amount.quantize(Decimal("0.01"))
    assert abs(amount - hourly * minutes / 60) <= Decimal("0.005")


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("50%", (Decimal(50), None)),
        (" 12.5 % ", (Decimal("12.5"), None)),
        ("25.00", (None, Decimal("25.00"))),
    ],
)
def test_the_surcharge_setting_reads_a_percentage_or_an_amount(text, parsed):
    assert parse_surcharge(text) == parsed


@pytest.mark.parametrize("text", ["", "abc", "-5%", "NaN", "1e999999999%x"])
def test_a_bad_surcharge_setting_stops_the_service_with_the_reason(text):
    with pytest.raises(ValidationError, match="priority_surcharge"):
        Settings(priority_surcharge=text)
