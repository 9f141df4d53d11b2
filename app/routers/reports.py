"""The monthly SLA statement, the billing report, a contract's year, and marking lines billed:
HTTP only."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from app.deps import Admin, KnobsDep, Now, SessionDep, Viewer
from app.engine.months import MONTH_PATTERN, Month
from app.errors import Unprocessable, field_error
from app.models.billing import BillingReport, MarkBilledIn, MarkBilledOut
from app.models.common import ContractFilter, CustomerFilter, ResourceId
from app.models.report import SlaStatement
from app.models.review import ContractReview
from app.routers._responses import READ, WRITE
from app.services.reports import billing, formats, review, review_formats, statement

router = APIRouter(tags=["reports"])

MonthQuery = Annotated[
    str,
    Query(
        pattern=MONTH_PATTERN,
        description="The month, YYYY-MM, counted in Europe/Rome (2000-01 to 2099-12).",
        examples=["2026-11"],
    ),
]
CSV, HTML = "text/csv; charset=utf-8", "text/html; charset=utf-8"


def _formats(*media_types: str) -> dict[int | str, dict[str, object]]:
    return {
        **READ,
        200: {
            "description": "The report: JSON, or as `format` asks.",
            "content": {media: {"schema": {"type": "string"}} for media in media_types},
        },
    }


@router.get(
    "/reports/sla",
    response_model=SlaStatement,
    status_code=200,
    responses=_formats(CSV, HTML),
)
def sla_report(
    month: MonthQuery,
    session: SessionDep,
    knobs: KnobsDep,
    now: Now,
    _: Viewer,
    contract_id: ContractFilter = None,
    format: Annotated[
        Literal["json", "csv", "html"],
        Query(description="json; csv (one row per contract); html (a printable statement)."),
    ] = "json",
    detail: Annotated[
        Literal["contracts", "breaches"] | None,
        Query(description="With format=csv: `breaches` gives one row per breach."),
    ] = None,
) -> SlaStatement | Response:
    """The month's SLA statement per contract, from the tickets' stored snapshots (R1, R9)."""
    if detail is not None and format != "csv":
        raise Unprocessable(
            "detail applies to format=csv only.",
            errors=[field_error("detail", "only with format=csv")],
        )
    report = statement.sla_statement(
        Month.parse(month), session=session, now=now, contract_id=contract_id
    )
    if format == "csv":
        text = (
            formats.breaches_csv(report) if detail == "breaches" else formats.statement_csv(report)
        )
        return _download(text, CSV, f"sla-{month}{'-breaches' if detail == 'breaches' else ''}.csv")
    if format == "html":
        page = formats.statement_html(report, company=knobs.mail.company_name)
        return Response(page, media_type=HTML)
    return report


@router.get(
    "/contracts/{contract_id}/review",
    response_model=ContractReview,
    status_code=200,
    responses=_formats(CSV, HTML),
)
def contract_review(
    contract_id: ResourceId,
    session: SessionDep,
    knobs: KnobsDep,
    now: Now,
    _: Viewer,
    year: Annotated[
        int | None,
        Query(
            ge=2000,
            le=2099,
            description="The contract year starting in this calendar year (from the "
            "anniversary of `starts_on`); by default the year running now, so far.",
            examples=[2026],
        ),
    ] = None,
    format: Annotated[
        Literal["json", "csv", "html"],
        Query(description="json; csv (a row per month and one for the year); html (printable)."),
    ] = "json",
) -> ContractReview | Response:
    """A contract's year: requests by month and category, SLA compliance, business time to take
    charge, hours covered and billable, amounts billed and open, against the annual fee (R1)."""
    report = review.contract_review(
        contract_id, session=session, rates=knobs.rates, now=now, year=year
    )
    if format == "csv":
        name = f"review-{report.contract_id}-{report.year}.csv"
        return _download(review_formats.review_csv(report), CSV, name)
    if format == "html":
        page = review_formats.review_html(report, company=knobs.mail.company_name)
        return Response(page, media_type=HTML)
    return report


@router.get(
    "/reports/billing",
    response_model=BillingReport,
    status_code=200,
    responses=_formats(CSV),
)
def billing_report(
    month: MonthQuery,
    session: SessionDep,
    knobs: KnobsDep,
    _: Viewer,
    customer_id: CustomerFilter = None,
    format: Annotated[
        Literal["json", "csv"], Query(description="json; csv (one row per line).")
    ] = "json",
) -> BillingReport | Response:
    """Billable lines of the month's requests: no contract (R2), not covered (R4, R5), priority
    surcharge (R13); each with time, rate and amount, billed or open; totals per customer."""
    report = billing.billing_report(
        Month.parse(month), session=session, rates=knobs.rates, customer_id=customer_id
    )
    if format == "csv":
        return _download(formats.billing_csv(report), CSV, f"billing-{month}.csv")
    return report


@router.post("/billing/mark-billed", response_model=MarkBilledOut, status_code=200, responses=WRITE)
def mark_billed(
    data: MarkBilledIn, session: SessionDep, knobs: KnobsDep, now: Now, admin: Admin
) -> MarkBilledOut:
    """Mark lines billed on an invoice, with the figures invoiced; a line billed already: 409,
    a line whose customer has not agreed to the work: 409 unless `force` (logged)."""
    return billing.mark_billed(
        data.item_ids,
        data.invoice_ref,
        session=session,
        rates=knobs.rates,
        actor=admin.name,
        now=now,
        force=data.force,
    )


def _download(text: str, media_type: str, filename: str) -> Response:
    return Response(
        text,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
