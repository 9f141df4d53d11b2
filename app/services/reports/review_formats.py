"""The contract review as CSV (a row per month and one for the year) and as a printable page
in the customer's language, with one chart (inline SVG: no script, nothing loaded)."""

from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal

from app.enums import Category
from app.models.review import ContractReview, ReviewFigures
from app.rendering import render
from app.services.reports.csv_files import csv_text
from app.services.reports.review import NO_CATEGORY

WORDS: dict[str, dict[str, Any]] = {
    "it": {
        "title": "L'anno del contratto",
        "contract": "contratto",
        "proposal": "proposta",
        "period": "dal {first} al {last}",
        "so_far": "situazione al {day}",
        "received": "Richieste ricevute",
        "compliance": "Prese in carico entro il termine",
        "breached": "Fuori termine",
        "pending": "In attesa di presa in carico",
        "median": "Tempo di presa in carico, mediana",
        "p90": "Tempo di presa in carico, 90° percentile",
        "business": "in orario lavorativo",
        "urgent": "Richieste urgenti",
        "covered": "Ore di lavoro coperte dal canone",
        "covered_value": "pari a {amount} alle tariffe di supporto",
        "billable": "Ore di lavoro fatturabili",
        "billed": "Importi fatturati oltre il canone",
        "open": "Importi da fatturare",
        "fee": "Canone annuo",
        "total": "Canone e importi fatturabili",
        "chart": "Richieste per mese: entro il termine, fuori termine, altre",
        "legend": ("entro il termine", "fuori termine", "senza termine o in attesa"),
        "months": "Mese per mese",
        "month": "Mese",
        "requests": "Richieste",
        "within": "Entro termine",
        "late": "Fuori termine",
        "share": "Rispetto",
        "hours_covered": "Ore coperte",
        "hours_billable": "Ore fatturabili",
        "amounts": "Importi",
        "year": "Anno",
        "categories": "Per tipo di richiesta",
        "category": {
            "website": "Sito web",
            "email": "Posta elettronica",
            "provider_outage": "Disservizi dei fornitori",
            "hosting": "Hosting",
            "backup": "Backup e ripristino",
            NO_CATEGORY: "Non classificate",
        },
        "basis": "Rispetto del termine: richieste con termine prese in carico o scadute.",
    },
    "en": {
        "title": "The year of the contract",
        "contract": "contract",
        "proposal": "proposal",
        "period": "{first} to {last}",
        "so_far": "as of {day}",
        "received": "Requests received",
        "compliance": "Taken in charge within the target",
        "breached": "Breached",
        "pending": "Waiting to be taken in charge",
        "median": "Time to take charge, median",
        "p90": "Time to take charge, 90th percentile",
        "business": "business time",
        "urgent": "Urgent requests",
        "covered": "Hours of work covered by the fee",
        "covered_value": "worth {amount} at support rates",
        "billable": "Hours of billable work",
        "billed": "Billed beyond the fee",
        "open": "To be billed",
        "fee": "Annual fee",
        "total": "Fee and billable amounts",
        "chart": "Requests by month: within the target, breached, others",
        "legend": ("within the target", "breached", "no target, or pending"),
        "months": "Month by month",
        "month": "Month",
        "requests": "Requests",
        "within": "Within target",
        "late": "Breached",
        "share": "Compliance",
        "hours_covered": "Hours covered",
        "hours_billable": "Hours billable",
        "amounts": "Amounts",
        "year": "Year",
        "categories": "By kind of request",
        "category": {
            "website": "Website",
            "email": "Email",
            "provider_outage": "Provider outages",
            "hosting": "Hosting",
            "backup": "Backup and restore",
            NO_CATEGORY: "Not classified",
        },
        "basis": "Compliance: requests with a deadline, taken in charge or past it.",
    },
}
FEE_FIGURES = ("annual_fee", "billed", "open", "total")
_CHART = {"width": 600, "height": 160, "top": 18, "bottom": 22}

REVIEW_COLUMNS = (
    "period",
    "first_day",
    "last_day",
    "contract_code",
    "customer_name",
    "received",
    *(f"category_{name}" for name in (*(c.value for c in Category), NO_CATEGORY)),
    "policy_contract",
    "policy_on_call",
    "policy_support",
    "with_target",
    "taken_in_charge",
    "within_target",
    "breached",
    "pending",
    "still_open",
    "compliance_percent",
    "compliance_denominator",
    "median_business_minutes",
    "p90_business_minutes",
    "urgent",
    "waiting_third_party_minutes",
    "covered_minutes",
    "billable_minutes",
    "lines",
    "billed_lines",
    "billed_amount",
    "open_amount",
    "annual_fee",
)


def review_csv(review: ContractReview) -> str:
    """One row per month, then one for the year (with the percentiles and the fee)."""
    common = {"contract_code": review.contract_code, "customer_name": review.customer_name}
    rows = [
        {
            **common,
            **_row(month),
            "period": month.month,
            "first_day": month.first_day,
            "last_day": month.last_day,
        }
        for month in review.months
    ]
    times = review.take_charge_times
    rows.append(
        {
            **common,
            **_row(review.total),
            "period": "year",
            "first_day": review.first_day,
            "last_day": review.last_day,
            "median_business_minutes": times.median_business_minutes,
            "p90_business_minutes": times.p90_business_minutes,
            "annual_fee": review.against_fee.annual_fee,
        }
    )
    return csv_text(REVIEW_COLUMNS, rows)


def _row(figures: ReviewFigures) -> dict[str, Any]:
    return {
        "received": figures.received,
        **{f"category_{name}": count for name, count in figures.by_category.items()},
        **{f"policy_{name}": count for name, count in figures.by_policy.items()},
        "with_target": figures.with_target,
        "taken_in_charge": figures.taken_in_charge,
        "within_target": figures.within_target,
        "breached": figures.breached,
        "pending": figures.pending,
        "still_open": figures.still_open,
        "compliance_percent": figures.compliance.percent,
        "compliance_denominator": figures.compliance.denominator,
        "urgent": figures.urgent.received,
        "waiting_third_party_minutes": figures.waiting_third_party_minutes,
        "covered_minutes": figures.time.covered_minutes,
        "billable_minutes": figures.time.billable_minutes,
        "lines": figures.amounts.lines,
        "billed_lines": figures.amounts.billed_lines,
        "billed_amount": figures.amounts.billed,
        "open_amount": figures.amounts.open,
    }


def review_html(review: ContractReview, *, company: str) -> str:
    """A printable page (A4) in the customer's language, to send with a renewal proposal."""
    language = review.language if review.language in WORDS else "it"
    words = WORDS[language]

    def day(value: date) -> str:
        return format_date(value, "long", locale=language)

    def money(amount: Decimal) -> str:
        return format_currency(amount, review.currency, locale=language)

    def percent(value: float | None) -> str:
        return "–" if value is None else format_decimal(value, "#,##0.0", locale=language) + " %"

    def hours(minutes: int) -> str:
        return format_decimal(Decimal(minutes) / 60, "#,##0.0", locale=language)

    months = [
        {
            "name": format_date(m.first_day, "LLLL yyyy", locale=language),
            "received": m.received,
            "within": m.within_target,
            "breached": m.breached,
            "compliance": percent(m.compliance.percent),
            "covered": hours(m.time.covered_minutes),
            "billable": hours(m.time.billable_minutes),
            "amounts": money(m.amounts.billed + m.amounts.open),
        }
        for m in review.months
    ]
    total, fee = review.total, review.against_fee
    as_of = review.as_of.astimezone(ZoneInfo(review.timezone)).date()
    return render(
        "reports/review.html",
        review=review,
        company=company,
        language=language,
        words=words,
        period=words["period"].format(first=day(review.first_day), last=day(review.last_day)),
        so_far=None if review.complete else words["so_far"].format(day=day(as_of)),
        compliance=percent(total.compliance.percent),
        median=_duration(review.take_charge_times.median_business_minutes),
        p90=_duration(review.take_charge_times.p90_business_minutes),
        covered=hours(total.time.covered_minutes),
        covered_value=words["covered_value"].format(amount=money(fee.covered_at_support_rates)),
        billable=hours(total.time.billable_minutes),
        money={name: money(getattr(fee, name)) for name in FEE_FIGURES},
        months=months,
        year_row={
            "covered": hours(total.time.covered_minutes),
            "billable": hours(total.time.billable_minutes),
            "amounts": money(total.amounts.billed + total.amounts.open),
        },
        categories=[
            (words["category"][name], count) for name, count in total.by_category.items() if count
        ],
        chart=_chart(review, language),
    )


def _duration(minutes: int | None) -> str:
    if minutes is None:
        return "–"
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _chart(review: ContractReview, language: str) -> dict[str, Any]:
    """A bar per month, stacked: within the target, breached, the rest (no target, pending)."""
    width, height, top = _CHART["width"], _CHART["height"], _CHART["top"]
    slot = width / max(len(review.months), 1)
    tallest = max([m.received for m in review.months] + [1])
    bars = []
    for index, m in enumerate(review.months):
        parts, y = [], float(top + height)
        for kind, count in (
            ("within", m.within_target),
            ("late", m.breached),
            ("other", m.received - m.within_target - m.breached),
        ):
            size = height * count / tallest
            y -= size
            if count:
                parts.append({"kind": kind, "y": round(y, 1), "height": round(size, 1)})
        bars.append(
            {
                "x": round(index * slot + slot * 0.15, 1),
                "width": round(slot * 0.7, 1),
                "centre": round(index * slot + slot / 2, 1),
                "parts": parts,
                "count": m.received,
                "count_y": round(y - 4, 1),
                "label": format_date(m.first_day, "LLL", locale=language),
            }
        )
    return {**_CHART, "total_height": top + height + _CHART["bottom"], "bars": bars}
