"""The words a customer agrees to (P4; R2, R4, R5, R13) and the form token that carries them."""

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.engine.rates import Rates
from app.enums import BillingReason, Consent
from app.models.consent import ConsentRecord
from app.services.tickets.consent import form_token, rate_text, rate_version, state_for

reasons = st.lists(st.sampled_from(list(BillingReason)), min_size=1, max_size=3, unique=True)
rates = st.builds(
    Rates,
    hourly=st.decimals(min_value=0, max_value=10_000, places=2),
    minimum_minutes=st.integers(0, 1440),
    rounding_minutes=st.integers(1, 1440),
    surcharge_percent=st.one_of(st.none(), st.decimals(min_value=0, max_value=500, places=0)),
    surcharge_fixed=st.one_of(st.none(), st.decimals(min_value=0, max_value=1000, places=2)),
)


@given(reasons, rates, st.sampled_from(["it", "en"]))
def test_the_rate_text_says_every_reason_and_rate_on_one_line(chosen, given_rates, language):
    text = rate_text(chosen, given_rates, language)
    assert "\n" not in text and "\r" not in text
    assert f"{given_rates.minimum_minutes} " in text and f"{given_rates.rounding_minutes} " in text
    surcharge = "maggiorazione per la priorità" if language == "it" else "priority surcharge"
    assert (surcharge in text) == (BillingReason.PRIORITY_SURCHARGE in chosen)  # R13
    assert rate_version(text) == rate_version(rate_text(chosen, given_rates, language))


def test_another_rate_is_another_version():
    text = rate_text([BillingReason.NO_CONTRACT], Rates(), "it")
    dearer = rate_text([BillingReason.NO_CONTRACT], Rates(hourly=Decimal("70.00")), "it")
    assert "60,00\xa0€ all'ora" in text and "70,00\xa0€ all'ora" in dearer
    assert rate_version(text) != rate_version(dearer)
    english = rate_text([BillingReason.NOT_COVERED], Rates(), "en")
    assert english.startswith("The work is billable because the request concerns a service")


@given(st.integers(1, 2**31 - 1), st.integers(1, 2**31 - 1), st.text(max_size=16))
def test_a_form_token_holds_for_its_link_ticket_and_version_only(link, ticket, version):
    key = b"secret"
    token = form_token(key=key, link_id=link, ticket_id=ticket, version=version)
    assert token == form_token(key=key, link_id=link, ticket_id=ticket, version=version)
    assert token != form_token(key=key, link_id=link + 1, ticket_id=ticket, version=version)
    assert token != form_token(key=key, link_id=link, ticket_id=ticket + 1, version=version)
    assert token != form_token(key=key, link_id=link, ticket_id=ticket, version=version + "x")
    assert token != form_token(key=b"other", link_id=link, ticket_id=ticket, version=version)


def _answer(decision: str, reasons: list[str]) -> ConsentRecord:
    return ConsentRecord(
        ticket_id=1,
        decision=decision,
        decided_at=datetime(2026, 12, 7, 15, tzinfo=UTC),
        via="staff",
        language="it",
        rate_text="",
        rate_version="",
        reasons=reasons,
    )


def test_consent_is_needed_only_for_billable_work():
    given = _answer("given", ["no_contract"])
    assert state_for(False, [], [given]) == Consent.NOT_NEEDED
    assert state_for(True, ["no_contract"], []) == Consent.PENDING
    assert state_for(True, ["no_contract"], [given]) == Consent.GIVEN
    assert state_for(True, ["no_contract"], [_answer("declined", ["no_contract"])]) == (
        Consent.DECLINED
    )


@given(reasons, st.lists(reasons, max_size=3))
def test_a_given_answer_covers_exactly_the_reasons_it_answered(billing, answered):
    """P4: consent given for some reasons is consent for those; a reason none of the answers
    was about is pending until the customer answers it too (R2, R4, R5, R13)."""
    answers = [_answer("given", [str(r) for r in a]) for a in answered]
    covered = {str(r) for a in answered for r in a}
    now = [str(r) for r in billing]
    expected = Consent.GIVEN if answers and set(now) <= covered else Consent.PENDING
    assert state_for(True, now, answers) == expected
