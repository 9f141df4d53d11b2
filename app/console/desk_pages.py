"""The console's pages around the desk: customers and contracts, the monthly statement and the
billing report, the outbox, quarantined mail, mailboxes' health, staff members and tokens.

HTTP only. Each page and action calls the service function the API's route doing the same thing
calls, with that route's role (`reading_as` for pages, `acting_as` for forms); a domain error is
a refusal page with its status, never a server error.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.console import forms
from app.console.guard import (
    PATH,
    PostedDep,
    SignedInDep,
    acting_as,
    page,
    reading_as,
    refusing,
)
from app.deps import KnobsDep, Now, SessionDep, SettingsDep
from app.engine.months import MONTH_PATTERN, Month
from app.enums import OutboxState, QuarantineState, Role
from app.models.api_token import TokenCreate, TokenIssued
from app.models.billing import MarkBilledIn
from app.models.common import ResourceId
from app.models.contract import ContractCreate, ContractUpdate
from app.models.customer import CustomerCreate, CustomerUpdate
from app.models.quarantine import QuarantineRetry
from app.models.renewal import ContractRenew
from app.models.staff import StaffCreate, StaffUpdate
from app.services.console import desk_views as views
from app.services.console.sign_in import SignedIn
from app.services.console.words import words
from app.services.directory import auth, renewals, staff
from app.services.directory import contracts as contract_service
from app.services.directory import customers as customer_service
from app.services.intake import quarantine
from app.services.mailboxes import records as mailboxes
from app.services.notifications import outbox_desk
from app.services.reports import billing, formats, review, review_formats, statement

router = APIRouter(prefix=PATH, include_in_schema=False)
PAGE_SIZE = 100
# The bar's section of a page that is one item of a section's list.
SECTION_OF = {"customer": "customers", "contract": "contracts"}
Text = Annotated[str, Form(max_length=200)]
LongText = Annotated[str, Form(max_length=20_000)]
MonthQuery = Annotated[str | None, Query(pattern=MONTH_PATTERN)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Cursor = Annotated[int | None, Query(ge=1, le=2**31)]


def _page(name: str, user: SignedIn, *, status: int = 200, **context: Any) -> HTMLResponse:
    section = name.removesuffix(".html")
    return page(
        name,
        status=status,
        user=user,
        current=f"{PATH}/{SECTION_OF.get(section, section)}",
        fmt=views.Formats(user.language),
        said=_desk(user),
        **context,
    )


def _desk(user: SignedIn) -> dict[str, Any]:
    desk: dict[str, Any] = words(user.language)["desk"]
    return desk


def _back(path: str) -> RedirectResponse:
    return RedirectResponse(f"{PATH}{path}", status_code=303)


def _printable(html: str) -> HTMLResponse:
    """A printable report: the API's own page (its policy is the pages', set by the app)."""
    return HTMLResponse(
        html, headers={"Cache-Control": "no-store", "Referrer-Policy": "same-origin"}
    )


# --- customers ---------------------------------------------------------------------------


@router.get("/customers", dependencies=[reading_as(Role.VIEWER)])
def customers_page(user: SignedInDep, session: SessionDep, offset: Offset = 0) -> Response:
    """Customers by name (as GET /customers), with the form for a new one (admin)."""
    rows, total = customer_service.list_customers(session=session, limit=PAGE_SIZE, offset=offset)
    return _page(
        "customers.html",
        user,
        customers=[customer_service.read_customer(c, session=session) for c in rows],
        total=total,
        next_offset=offset + PAGE_SIZE if offset + PAGE_SIZE < total else None,
        can_write=user.principal.can(Role.ADMIN),
    )


@router.post("/customers", dependencies=[acting_as(Role.ADMIN)])
def create_customer(
    user: PostedDep,
    session: SessionDep,
    name: Text = "",
    language: Annotated[str, Form(max_length=2)] = "it",
    domains: LongText = "",
    contacts: LongText = "",
) -> Response:
    """Record a customer, as POST /customers does."""
    form = {"name": name, "language": language, "domains": domains, "contacts": contacts}
    customer = refusing(
        user,
        lambda: customer_service.create_customer(
            forms.model_of(CustomerCreate, views.customer_fields(**form), language=user.language),
            session=session,
        ),
    )
    return _back(f"/customers/{customer.id}")


@router.get("/customers/{customer_id}", dependencies=[reading_as(Role.VIEWER)])
def customer_page(customer_id: ResourceId, user: SignedInDep, session: SessionDep) -> Response:
    """One customer, its contracts, and the form to change it (admin)."""
    customer = refusing(user, lambda: customer_service.get_customer(customer_id, session=session))
    contracts, _ = contract_service.list_contracts(
        session=session, limit=PAGE_SIZE, offset=0, customer_id=customer_id
    )
    read = customer_service.read_customer(customer, session=session)
    return _page(
        "customer.html",
        user,
        customer=read,
        contacts=views.contacts_text(read.contacts),
        contracts=contracts,
        can_write=user.principal.can(Role.ADMIN),
    )


@router.post("/customers/{customer_id}", dependencies=[acting_as(Role.ADMIN)])
def update_customer(
    customer_id: ResourceId,
    user: PostedDep,
    session: SessionDep,
    name: Text = "",
    language: Annotated[str, Form(max_length=2)] = "it",
    domains: LongText = "",
    contacts: LongText = "",
) -> Response:
    """Change a customer, as PATCH /customers/{id} does: the lists replace the old ones."""
    form = {"name": name, "language": language, "domains": domains, "contacts": contacts}
    refusing(
        user,
        lambda: customer_service.update_customer(
            customer_id,
            forms.model_of(CustomerUpdate, views.customer_fields(**form), language=user.language),
            session=session,
        ),
    )
    return _back(f"/customers/{customer_id}")


# --- contracts ---------------------------------------------------------------------------


@router.get("/contracts", dependencies=[reading_as(Role.VIEWER)])
def contracts_page(
    user: SignedInDep,
    session: SessionDep,
    now: Now,
    watch: Annotated[Literal["", "ending", "lapsed"], Query()] = "",
    offset: Offset = 0,
    customer_id: Annotated[int | None, Query(ge=1, le=2**31)] = None,
) -> Response:
    """Contracts (as GET /contracts), those ending within 30 days or lapsed, and the form for a
    new one (admin)."""
    watched = None
    if watch:
        watched = contract_service.Watch(
            today=renewals.today_of(now, session=session),
            ending_within_days=30 if watch == "ending" else None,
            lapsed=True if watch == "lapsed" else None,
        )
    rows, total = contract_service.list_contracts(
        session=session, limit=PAGE_SIZE, offset=offset, watch=watched
    )
    return _page(
        "contracts.html",
        user,
        contracts=rows,
        total=total,
        watch=watch,
        next_offset=offset + PAGE_SIZE if offset + PAGE_SIZE < total else None,
        customers=views.customer_names(session),
        calendars=views.calendar_names(session),
        categories=views.CATEGORIES,
        chosen_customer=customer_id,
        can_write=user.principal.can(Role.ADMIN),
    )


@router.post("/contracts", dependencies=[acting_as(Role.ADMIN)])
def create_contract(
    user: PostedDep,
    session: SessionDep,
    customer_id: Annotated[str, Form(max_length=12)] = "",
    code: Text = "",
    starts_on: Annotated[str, Form(max_length=10)] = "",
    ends_on: Annotated[str, Form(max_length=10)] = "",
    annual_fee: Annotated[str, Form(max_length=30)] = "",
    proposal_ref: Text = "",
    coverage: Annotated[list[str] | None, Form(max_length=10)] = None,
    calendar_id: Annotated[str, Form(max_length=12)] = "",
    take_charge_hours: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """Record an annual contract (R1), as POST /contracts does; empty fields take its defaults."""
    data = views.contract_fields(
        code=code,
        starts_on=starts_on,
        ends_on=ends_on,
        annual_fee=annual_fee,
        proposal_ref=proposal_ref,
        coverage=coverage or [],
        calendar_id=calendar_id,
        take_charge_hours=take_charge_hours,
    )
    contract = refusing(
        user,
        lambda: contract_service.create_contract(
            forms.model_of(
                ContractCreate,
                {"customer_id": customer_id or None, **data},
                language=user.language,
            ),
            session=session,
        ),
    )
    return _back(f"/contracts/{contract.id}")


@router.get("/contracts/{contract_id}", dependencies=[reading_as(Role.VIEWER)])
def contract_page(contract_id: ResourceId, user: SignedInDep, session: SessionDep) -> Response:
    """One contract, the forms to change and renew it (admin), a link to its year."""
    contract = refusing(user, lambda: contract_service.get_contract(contract_id, session=session))
    customer = customer_service.get_customer(contract.customer_id, session=session)
    return _page(
        "contract.html",
        user,
        contract=contract_service.read_contract(contract),
        customer=customer,
        calendars=views.calendar_names(session),
        categories=views.CATEGORIES,
        renewed=contract_id in views.renewed_ids([contract_id], session=session),
        can_write=user.principal.can(Role.ADMIN),
    )


@router.post("/contracts/{contract_id}", dependencies=[acting_as(Role.ADMIN)])
def update_contract(
    contract_id: ResourceId,
    user: PostedDep,
    session: SessionDep,
    code: Text = "",
    starts_on: Annotated[str, Form(max_length=10)] = "",
    ends_on: Annotated[str, Form(max_length=10)] = "",
    annual_fee: Annotated[str, Form(max_length=30)] = "",
    proposal_ref: Text = "",
    coverage: Annotated[list[str] | None, Form(max_length=10)] = None,
    calendar_id: Annotated[str, Form(max_length=12)] = "",
    take_charge_hours: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """Change a contract, as PATCH /contracts/{id} does (its on-call agreement stays)."""
    data = views.contract_fields(
        code=code,
        starts_on=starts_on,
        ends_on=ends_on,
        annual_fee=annual_fee,
        proposal_ref=proposal_ref,
        coverage=coverage or [],
        calendar_id=calendar_id,
        take_charge_hours=take_charge_hours,
    )
    refusing(
        user,
        lambda: contract_service.update_contract(
            contract_id,
            forms.model_of(ContractUpdate, data, language=user.language),
            session=session,
        ),
    )
    return _back(f"/contracts/{contract_id}")


@router.post("/contracts/{contract_id}/renew", dependencies=[acting_as(Role.ADMIN)])
def renew_contract(
    contract_id: ResourceId,
    user: PostedDep,
    session: SessionDep,
    annual_fee: Annotated[str, Form(max_length=30)] = "",
    proposal_ref: Text = "",
    code: Text = "",
) -> Response:
    """Renew a contract for its next year (R1), as POST /contracts/{id}/renew does: a contract
    renewed already is 409."""
    renewed = refusing(
        user,
        lambda: renewals.renew_contract(
            contract_id,
            forms.model_of(
                ContractRenew,
                views.renewal_fields(annual_fee=annual_fee, proposal_ref=proposal_ref, code=code),
                language=user.language,
            ),
            session=session,
        ),
    )
    return _back(f"/contracts/{renewed.id}")


@router.get("/contracts/{contract_id}/review", dependencies=[reading_as(Role.VIEWER)])
def contract_review(
    contract_id: ResourceId,
    user: SignedInDep,
    session: SessionDep,
    knobs: KnobsDep,
    now: Now,
    year: Annotated[int | None, Query(ge=2000, le=2099)] = None,
) -> Response:
    """The contract's year, printable, as GET /contracts/{id}/review?format=html gives it."""
    report = refusing(
        user,
        lambda: review.contract_review(
            contract_id, session=session, rates=knobs.rates, now=now, year=year
        ),
    )
    return _printable(review_formats.review_html(report, company=knobs.mail.company_name))


# --- the month: SLA statement and billing ------------------------------------------------


@router.get("/statement", dependencies=[reading_as(Role.VIEWER)])
def statement_page(
    user: SignedInDep, session: SessionDep, now: Now, month: MonthQuery = None
) -> Response:
    """The month's SLA statement per contract (R1, R9), as GET /reports/sla."""
    chosen = month or views.this_month(now)
    report = statement.sla_statement(Month.parse(chosen), session=session, now=now)
    return _page("statement.html", user, month=chosen, report=report)


@router.get("/statement/print", dependencies=[reading_as(Role.VIEWER)])
def statement_printable(
    session: SessionDep, knobs: KnobsDep, now: Now, month: MonthQuery = None
) -> Response:
    """The statement, printable, as GET /reports/sla?format=html gives it."""
    report = statement.sla_statement(
        Month.parse(month or views.this_month(now)), session=session, now=now
    )
    return _printable(formats.statement_html(report, company=knobs.mail.company_name))


@router.get("/billing", dependencies=[reading_as(Role.VIEWER)])
def billing_page(
    user: SignedInDep, session: SessionDep, knobs: KnobsDep, now: Now, month: MonthQuery = None
) -> Response:
    """The month's billable lines (R2, R4, R13), as GET /reports/billing, with the form to mark
    open lines billed (admin)."""
    chosen = month or views.this_month(now)
    report = billing.billing_report(Month.parse(chosen), session=session, rates=knobs.rates)
    return _page(
        "billing.html",
        user,
        month=chosen,
        report=report,
        can_bill=user.principal.can(Role.ADMIN),
    )


@router.post("/billing/mark-billed", dependencies=[acting_as(Role.ADMIN)])
def mark_billed(
    user: PostedDep,
    session: SessionDep,
    knobs: KnobsDep,
    now: Now,
    item: Annotated[list[str] | None, Form(max_length=1000)] = None,
    invoice_ref: Annotated[str, Form(max_length=100)] = "",
    force: Annotated[str, Form(max_length=5)] = "",
    month: Annotated[str, Form(pattern=MONTH_PATTERN + "|^$")] = "",
) -> Response:
    """Mark lines billed, as POST /billing/mark-billed does: a line billed already is 409, and
    so is a line its customer has not agreed to unless `force` is ticked (P4, logged)."""
    data = forms.model_of(
        MarkBilledIn,
        {"item_ids": item or [], "invoice_ref": invoice_ref.strip(), "force": bool(force)},
        language=user.language,
    )
    refusing(
        user,
        lambda: billing.mark_billed(
            data.item_ids,
            data.invoice_ref,
            session=session,
            rates=knobs.rates,
            actor=user.principal.name,
            now=now,
            force=data.force,
        ),
    )
    return _back(f"/billing?month={month}" if month else "/billing")


# --- the outbox, quarantined mail, mailboxes ---------------------------------------------


@router.get("/outbox", dependencies=[reading_as(Role.AGENT)])
def outbox_page(
    user: SignedInDep,
    session: SessionDep,
    state: Annotated[OutboxState | Literal[""], Query()] = OutboxState.FAILED,
    cursor: Cursor = None,
) -> Response:
    """Emails and alerts, newest first (as GET /outbox), failed ones first shown; retry (admin)."""
    found = outbox_desk.list_outbox(
        session=session, state=state or None, limit=PAGE_SIZE, cursor=cursor
    )
    return _page(
        "outbox.html",
        user,
        rows=found.items,
        next_cursor=found.next_cursor,
        state=str(state),
        can_retry=user.principal.can(Role.ADMIN),
    )


@router.post("/outbox/{outbox_id}/retry", dependencies=[acting_as(Role.ADMIN)])
def retry_outbox(outbox_id: ResourceId, user: PostedDep, session: SessionDep, now: Now) -> Response:
    """Queue a failed or held email again, as POST /outbox/{id}/retry does (other states: 409)."""
    refusing(user, lambda: outbox_desk.retry(outbox_id, session=session, now=now))
    return _back("/outbox")


@router.get("/quarantine", dependencies=[reading_as(Role.AGENT)])
def quarantine_page(
    user: SignedInDep,
    session: SessionDep,
    state: Annotated[QuarantineState | Literal[""], Query()] = QuarantineState.HELD,
    cursor: Cursor = None,
) -> Response:
    """Deliveries kept raw because they could not become a ticket (P1), as GET /quarantine;
    make a request of one (agent), delete one (admin)."""
    found = quarantine.list_items(
        session=session, state=state or None, limit=PAGE_SIZE, cursor=cursor
    )
    return _page(
        "quarantine.html",
        user,
        rows=found.items,
        next_cursor=found.next_cursor,
        state=str(state),
        can_release=user.principal.can(Role.AGENT),
        can_discard=user.principal.can(Role.ADMIN),
    )


@router.get("/quarantine/{item_id}/raw", dependencies=[reading_as(Role.AGENT)])
def quarantined_raw(item_id: ResourceId, user: SignedInDep, session: SessionDep) -> Response:
    """The delivery's bytes as received, downloaded and never rendered, as GET
    /quarantine/{id}/raw gives them."""
    data, item = refusing(user, lambda: quarantine.raw_of(item_id, session=session))
    extension = "eml" if item.content_type == "message/rfc822" else "bin"
    return Response(
        data,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="quarantine-{item.id}.{extension}"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/quarantine/{item_id}/retry", dependencies=[acting_as(Role.AGENT)])
def release_quarantined(
    item_id: ResourceId,
    user: PostedDep,
    session: SessionDep,
    knobs: KnobsDep,
    now: Now,
    settings: SettingsDep,
    from_email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    """Make a request of a quarantined delivery, as POST /quarantine/{id}/retry does: once."""
    data = forms.model_of(
        QuarantineRetry, {"from_email": from_email.strip() or None}, language=user.language
    )
    refusing(
        user,
        lambda: quarantine.retry(
            item_id,
            session=session,
            knobs=knobs,
            now=now,
            max_file_bytes=settings.max_file_bytes,
            actor=user.principal.name,
            from_email=data.from_email,
        ),
    )
    return _back("/quarantine")


@router.post("/quarantine/{item_id}/delete", dependencies=[acting_as(Role.ADMIN)])
def discard_quarantined(item_id: ResourceId, user: PostedDep, session: SessionDep) -> Response:
    """Forget a quarantined delivery for good, as DELETE /quarantine/{id} does."""
    refusing(user, lambda: quarantine.delete_item(item_id, session=session))
    return _back("/quarantine")


@router.get("/mailboxes", dependencies=[reading_as(Role.ADMIN)])
def mailboxes_page(user: SignedInDep, session: SessionDep) -> Response:
    """Every mailbox read for requests, with its health (as GET /mailboxes: admin)."""
    rows = [mailboxes.read_mailbox(m) for m in mailboxes.list_mailboxes(session=session)]
    return _page("mailboxes.html", user, rows=rows)


# --- staff members and tokens (admin) ----------------------------------------------------


def _staff_page(
    user: SignedIn, session: SessionDep, *, issued: TokenIssued | None = None, status: int = 200
) -> HTMLResponse:
    members = staff.list_staff(session=session)
    return _page(
        "staff.html",
        user,
        status=status,
        members=members,
        tokens=auth.list_tokens(session=session),
        issued=issued,
    )


@router.get("/staff", dependencies=[reading_as(Role.ADMIN)])
def staff_page(user: SignedInDep, session: SessionDep) -> Response:
    """Staff members and every token issued (as GET /staff and GET /tokens: admin)."""
    return _staff_page(user, session)


@router.post("/staff", dependencies=[acting_as(Role.ADMIN)])
def create_member(
    user: PostedDep,
    session: SessionDep,
    name: Text = "",
    email: Annotated[str, Form(max_length=320)] = "",
    role: Annotated[str, Form(max_length=10)] = "",
    language: Annotated[str, Form(max_length=2)] = "it",
) -> Response:
    """Add a staff member, as POST /staff does; they sign in with a one-time link."""
    fields = {"name": name.strip(), "email": email.strip(), "role": role, "language": language}
    data = forms.model_of(StaffCreate, fields, language=user.language)
    refusing(user, lambda: staff.create_staff(data, session=session))
    return _back("/staff")


@router.post("/staff/{staff_id}/{change}", dependencies=[acting_as(Role.ADMIN)])
def activate_member(
    staff_id: ResourceId,
    change: Literal["deactivate", "reactivate"],
    user: PostedDep,
    session: SessionDep,
) -> Response:
    """Deactivate a staff member, or bring one back, as PATCH /staff/{id} with `active` does."""
    data = StaffUpdate(active=change == "reactivate")
    refusing(user, lambda: staff.update_staff(staff_id, data, session=session))
    return _back("/staff")


@router.post("/tokens", dependencies=[acting_as(Role.ADMIN)])
def create_token(
    user: PostedDep,
    session: SessionDep,
    now: Now,
    staff_id: Annotated[str, Form(max_length=12)] = "",
    feed_name: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Issue a staff member a token, or a calendar app a feed token (`feed_name`), as POST
    /tokens does: its secret is shown this once."""
    fields = {"name": feed_name.strip(), "role": Role.FEED} if feed_name else {}
    body = {"staff_id": staff_id or None, **fields}
    data = forms.model_of(TokenCreate, body, language=user.language)
    token, clear = refusing(user, lambda: auth.issue_token(data, session=session, now=now))
    issued = TokenIssued.model_validate({**token.model_dump(), "token": clear})
    return _staff_page(user, session, issued=issued, status=201)


@router.post("/tokens/{token_id}/revoke", dependencies=[acting_as(Role.ADMIN)])
def revoke_token(token_id: ResourceId, user: PostedDep, session: SessionDep, now: Now) -> Response:
    """Revoke a token, as POST /tokens/{id}/revoke does: requests with it get 401 from now on."""
    refusing(user, lambda: auth.revoke_token(token_id, session=session, now=now))
    return _back("/staff")
