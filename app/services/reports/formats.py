"""The statement and the billing report as CSV and as a printable HTML page (Jinja2, Babel)."""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_decimal

from app.models.billing import BillingReport
from app.models.report import SlaStatement
from app.rendering import render
from app.services.reports.csv_files import csv_text

WORDS: dict[str, dict[str, Any]] = {
    "it": {
        "title": "Rendiconto SLA",
        "contract": "contratto",
        "no_contract": "Richieste senza contratto (servizio di supporto)",
        "received": "Richieste ricevute",
        "by_policy": "Per condizioni",
        "policy": {"contract": "contratto", "on_call": "reperibilità", "support": "supporto"},
        "taken": "Prese in carico",
        "within": "Entro il termine",
        "breached": "Fuori termine",
        "still_open": "Ancora aperte",
        "compliance": "Rispetto del termine",
        "median": "Tempo di presa in carico, mediana (minuti lavorativi)",
        "p90": "Tempo di presa in carico, 90° percentile (minuti lavorativi)",
        "urgent": "Urgenti",
        "on_call": "in reperibilità",
        "alerts": "segnalazioni fuori orario",
        "waiting": "In attesa di terzi",
        "basis": "Percentuale su: richieste del mese con termine, prese in carico o scadute "
        "alla data del rendiconto.",
        "chart": "Tempi di presa in carico in percentuale del termine",
        "target": "termine",
        "breaches": "Richieste fuori termine",
        "number": "Numero",
        "received_at": "Ricevuta",
        "due": "Termine",
        "taken_at": "Presa in carico",
        "late": "Ritardo (lavorativo / reale)",
        "not_yet": "non ancora",
        "late_note": "Ritardo in minuti: in orario lavorativo / di calendario.",
        "no_breaches": "Nessuna richiesta fuori termine.",
        "empty": "Nessun contratto nel mese.",
    },
    "en": {
        "title": "SLA statement",
        "contract": "contract",
        "no_contract": "Requests without a contract (support service)",
        "received": "Requests received",
        "by_policy": "By terms",
        "policy": {"contract": "contract", "on_call": "on call", "support": "support"},
        "taken": "Taken in charge",
        "within": "Within target",
        "breached": "Breached",
        "still_open": "Still open",
        "compliance": "Compliance",
        "median": "Take-charge time, median (business minutes)",
        "p90": "Take-charge time, 90th percentile (business minutes)",
        "urgent": "Urgent",
        "on_call": "on call",
        "alerts": "out-of-hours alerts",
        "waiting": "Waiting on third parties",
        "basis": "Percentage of: the month's requests with a deadline, taken in charge or past "
        "their deadline at the report time.",
        "chart": "Take-charge times as a share of the target",
        "target": "target",
        "breaches": "Breaches",
        "number": "Number",
        "received_at": "Received",
        "due": "Deadline",
        "taken_at": "Taken in charge",
        "late": "Late (business / wall clock)",
        "not_yet": "not yet",
        "late_note": "Minutes late: business time / calendar time.",
        "no_breaches": "No breaches.",
        "empty": "No contract in this month.",
    },
}
_CHART = {"width": 480, "height": 160, "bar": 56, "gap": 22}

SLA_COLUMNS = (
    "month",
    "contract_id",
    "contract_code",
    "customer_id",
    "customer_name",
    "received",
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
    "urgent_confirmed",
    "urgent_rejected",
    "on_call",
    "on_call_within_target",
    "on_call_alerts",
    "waiting_third_party_minutes",
)
BREACH_COLUMNS = (
    "month",
    "contract_id",
    "contract_code",
    "customer_name",
    "ticket_id",
    "ticket_number",
    "received_at",
    "policy",
    "urgent",
    "take_charge_due_at",
    "taken_in_charge_at",
    "late_business_minutes",
    "late_minutes",
    "cause",
)
BILLING_COLUMNS = (
    "item_id",
    "ticket_id",
    "ticket_number",
    "customer_id",
    "customer_name",
    "from_email",
    "received_at",
    "reason",
    "recorded_minutes",
    "minutes",
    "hourly_rate",
    "amount",
    "state",
    "consent",
    "invoice_ref",
    "billed_at",
)


def statement_csv(statement: SlaStatement) -> str:
    """One row per contract, with a header row."""
    rows = []
    for c in statement.contracts:
        rows.append(
            {
                "month": statement.month,
                "contract_id": c.contract_id,
                "contract_code": c.contract_code,
                "customer_id": c.customer_id,
                "customer_name": c.customer_name,
                "received": c.received,
                **{f"policy_{name}": count for name, count in c.by_policy.items()},
                "with_target": c.with_target,
                "taken_in_charge": c.taken_in_charge,
                "within_target": c.within_target,
                "breached": c.breached,
                "pending": c.pending,
                "still_open": c.still_open,
                "compliance_percent": c.compliance.percent,
                "compliance_denominator": c.compliance.denominator,
                "median_business_minutes": c.take_charge_times.median_business_minutes,
                "p90_business_minutes": c.take_charge_times.p90_business_minutes,
                "urgent": c.urgent.received,
                "urgent_confirmed": c.urgent.confirmed,
                "urgent_rejected": c.urgent.rejected,
                "on_call": c.urgent.on_call,
                "on_call_within_target": c.urgent.on_call_within_target,
                "on_call_alerts": c.urgent.on_call_alerts,
                "waiting_third_party_minutes": c.waiting_third_party_minutes,
            }
        )
    return csv_text(SLA_COLUMNS, rows)


def breaches_csv(statement: SlaStatement) -> str:
    """One row per breach, with a header row."""
    rows = [
        {
            "month": statement.month,
            "contract_id": c.contract_id,
            "contract_code": c.contract_code,
            "customer_name": c.customer_name,
            **b.model_dump(include=set(BREACH_COLUMNS)),
        }
        for c in statement.contracts
        for b in c.breaches
    ]
    return csv_text(BREACH_COLUMNS, rows)


def billing_csv(report: BillingReport) -> str:
    """One row per billing line, with a header row."""
    return csv_text(BILLING_COLUMNS, [line.model_dump() for line in report.lines])


def statement_html(statement: SlaStatement, *, company: str) -> str:
    """One printable page per contract, in its customer's language, with a chart and the
    breaches; prints to PDF from a browser."""
    zone = ZoneInfo(statement.timezone)

    def moment(instant: datetime | None, language: str) -> str | None:
        if instant is None:
            return None
        local = instant.astimezone(zone)
        return f"{format_date(local.date(), 'short', locale=language)} {local:%H:%M}"

    contracts = []
    for c in statement.contracts:
        language = c.language if c.language in WORDS else "it"
        top = max([bucket.count for bucket in c.chart] + [1])
        bars = []
        for index, bucket in enumerate(c.chart):
            height = round(_CHART["height"] * bucket.count / top) if bucket.count else 0
            bars.append(
                {
                    "label": bucket.label,
                    "count": bucket.count,
                    "within_target": bucket.within_target,
                    "x": _CHART["gap"] // 2 + index * (_CHART["bar"] + _CHART["gap"]),
                    "y": _CHART["height"] - height,
                    "height": height,
                }
            )
        contracts.append(
            {
                **c.model_dump(),
                "language": language,
                "words": WORDS[language],
                "month_name": format_date(statement.first_day, "LLLL yyyy", locale=language),
                "compliance_text": format_decimal(
                    c.compliance.percent or 0, format="#,##0.00", locale=language
                ),
                "bars": bars,
                "breaches": [
                    {
                        **b.model_dump(),
                        "received_text": moment(b.received_at, language),
                        "due_text": moment(b.take_charge_due_at, language),
                        "taken_text": moment(b.taken_in_charge_at, language),
                    }
                    for b in c.breaches
                ],
            }
        )
    language = contracts[0]["language"] if contracts else "it"
    chart = {**_CHART, "target_x": 4 * (_CHART["bar"] + _CHART["gap"])}
    return render(
        "reports/sla.html",
        contracts=contracts,
        company=company,
        language=language,
        words=WORDS[language],
        month_name=format_date(statement.first_day, "LLLL yyyy", locale=language),
        chart=chart,
    )
