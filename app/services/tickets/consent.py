"""Consent to billable work (R2, R4, R5, R13; P4): the customer agrees to the support rates
before billable work is done, on the status page, with one button.

A billable ticket's consent is `pending` until the customer answers on the status page (given
or declined) or staff record an answer given by other means (with a note). Each answer is a
`consent_record`, kept as it was given: when, through which status link (its id, never the
token), from which address, the rate text shown with its version (a digest of the text), and
the billing reasons it answered. A second answer to the same reasons changes nothing; a reason
added later (triage) makes the ticket pending again, and the customer is asked about it.
The page's form carries a token made from the link, the ticket and the rate text's version
with `SPORTELLO_FORM_SECRET`, so that an answer cannot be posted without the page it answers,
nor to rates the customer was not shown.

Taking in charge a billable ticket without consent is refused (409) unless staff say
`proceed_without_consent`, which is logged and audited; so is billing it (reports.billing).
"""

import hashlib
import hmac
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from babel.numbers import format_currency
from sqlalchemy import insert, select, update
from sqlmodel import Session

from app.engine.rates import Rates
from app.enums import BillingReason, Consent
from app.errors import Conflict, Forbidden, NotFound
from app.models.base import table_of
from app.models.consent import ConsentDecision, ConsentIn, ConsentRead, ConsentRecord
from app.models.ticket import Ticket
from app.services.directory.customers import language_of
from app.services.notifications.letters import when
from app.services.tickets import audit, status_page

log = logging.getLogger(__name__)

_REASONS = {
    "it": {
        BillingReason.NO_CONTRACT: "non risulta un contratto di assistenza annuale attivo",
        BillingReason.NOT_COVERED: "la richiesta riguarda un servizio non compreso nel contratto",
        BillingReason.PRIORITY_SURCHARGE: (
            "la gestione prioritaria richiesta, senza un'urgenza confermata, "
            "comporta una maggiorazione"
        ),
    },
    "en": {
        BillingReason.NO_CONTRACT: "we find no active annual support contract",
        BillingReason.NOT_COVERED: "the request concerns a service the contract does not include",
        BillingReason.PRIORITY_SURCHARGE: (
            "priority handling asked for without a confirmed urgency carries a surcharge"
        ),
    },
}


def rate_text(reasons: Sequence[str], rates: Rates, language: str) -> str:
    """Why the work is billable and the rates that apply, in the customer's language: what the
    customer agrees to (one paragraph)."""
    language = language if language in _REASONS else "it"
    it = language == "it"
    why = "; ".join(_REASONS[language][BillingReason(reason)] for reason in reasons)

    def money(amount: Any) -> str:
        return format_currency(amount, "EUR", locale=language)

    opening = "L'intervento è a pagamento perché" if it else "The work is billable because"
    text = f"{opening} {why}. " + (
        f"Tariffe del servizio di assistenza: {money(rates.hourly)} all'ora, minimo "
        f"{rates.minimum_minutes} minuti per richiesta, a scatti di "
        f"{rates.rounding_minutes} minuti"
        if it
        else f"Customer-support rates: {money(rates.hourly)} per hour, at least "
        f"{rates.minimum_minutes} minutes per request, in steps of "
        f"{rates.rounding_minutes} minutes"
    )
    if BillingReason.PRIORITY_SURCHARGE in reasons:  # R13
        if rates.surcharge_fixed is not None:
            extra = money(rates.surcharge_fixed)
        else:
            extra = f"{rates.surcharge_percent or 0}%" + (
                " del tempo addebitato" if it else " of the time charged"
            )
        text += f"; {'maggiorazione per la priorità' if it else 'priority surcharge'}: {extra}"
    return text + "."


def rate_version(text: str) -> str:
    """The version of a rate text: a digest of its words (another text, another version)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def state_for(billable: bool, reasons: Sequence[str], answers: Sequence[ConsentRecord]) -> Consent:
    """The ticket's consent from its billing and the customer's answers: declined once is
    declined; given covers the reasons it was given for, so a reason added since (triage sets
    a category the contract does not cover, say) is pending until it is answered too."""
    if not billable:
        return Consent.NOT_NEEDED
    if any(answer.decision == Consent.DECLINED for answer in answers):
        return Consent.DECLINED
    covered = {reason for answer in answers for reason in answer.reasons}
    return Consent.GIVEN if answers and set(map(str, reasons)) <= covered else Consent.PENDING


def follow_billing(ticket: Ticket, *, session: Session) -> bool:
    """Set the ticket's consent after its billing changed (triage, recompute, merge); whether
    the customer must now be asked (it became pending, or the reasons asked about changed)."""
    before = ticket.consent
    answers = _records_of(_id(ticket), session=session)
    ticket.consent = state_for(ticket.billable, ticket.billing_reasons, answers)
    return ticket.consent == Consent.PENDING and before != Consent.PENDING


def letter_words(ticket: Ticket, *, rates: Rates, language: str) -> dict[str, str]:
    """What an email says to ask for consent: the rate text (nothing when none is pending)."""
    if ticket.consent != Consent.PENDING:
        return {}
    return {"consent_rates": rate_text(ticket.billing_reasons, rates, language)}


# --- the status page's button ----------------------------------------------------------------


def form_token(*, key: bytes, link_id: int, ticket_id: int, version: str) -> str:
    """The token of the status page's consent form: HMAC-SHA256 of the link, the ticket and
    the rate text's version."""
    message = f"consent:{link_id}:{ticket_id}:{version}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _key(secret: bytes | None, token: str) -> bytes:
    return secret or token.encode()


def page_form(
    token: str, *, session: Session, rates: Rates, secret: bytes | None, language: str
) -> dict[str, Any] | None:
    """What the status page shows of consent: the rate text and the button's form while it is
    pending, the answer once given; None when nothing is billable (NotFound for a bad link)."""
    ticket, link_id = status_page.linked(token, session=session)
    ticket_id = _id(ticket)
    if not ticket.billable:
        return None
    record = _latest(ticket_id, session=session)
    if record is not None and ticket.consent != Consent.PENDING:
        at = when(record.decided_at, language)
        return {"state": record.decision, "text": record.rate_text, "at": at}
    text = rate_text(ticket.billing_reasons, rates, language)
    version = rate_version(text)
    return {
        "state": Consent.PENDING,
        "text": text,
        "version": version,
        "form_token": form_token(
            key=_key(secret, token), link_id=link_id, ticket_id=ticket_id, version=version
        ),
    }


def answer_on_page(
    token: str,
    *,
    decision: ConsentDecision,
    given_token: str,
    version: str,
    language: str | None,
    client: str | None,
    session: Session,
    rates: Rates,
    secret: bytes | None,
    now: datetime,
) -> bool:
    """The customer's answer from the status page; whether it was recorded now (False: it was
    given already, and nothing changes). NotFound for an unknown or revoked link, Forbidden
    without the page's form token, Conflict when nothing is billable or the rates changed."""
    ticket, link_id = status_page.linked(token, session=session)
    ticket_id = _id(ticket)
    language = language or language_of(ticket.customer_id, session=session)
    text = rate_text(ticket.billing_reasons, rates, language)
    current = rate_version(text)
    expected = form_token(
        key=_key(secret, token), link_id=link_id, ticket_id=ticket_id, version=version
    )
    if not given_token or not hmac.compare_digest(expected, given_token):
        log.warning("consent refused for ticket %s: no valid form token", ticket_id)
        raise Forbidden("This answer does not come from the request's status page.")
    _lock(ticket_id, session=session)
    if _ticket(ticket_id, session=session).consent != Consent.PENDING:
        return False  # immutable: the answer to these reasons stands
    if not ticket.billable:
        raise Conflict("Nothing in this request is billable: there is nothing to agree to.")
    if version != current:
        raise Conflict("The rates shown have changed since the page was loaded: reload it.")
    _write(
        ticket_id,
        decision,
        session=session,
        now=now,
        values={
            "via": "status_page",
            "status_link_id": link_id,
            "client_address": (client or "")[:64] or None,
            "language": language,
            "rate_text": text,
            "rate_version": current,
        },
        actor="customer (status page)",
    )
    return True


# --- staff -------------------------------------------------------------------------------------


def record_by_staff(
    ticket_id: int, data: ConsentIn, *, session: Session, rates: Rates, actor: str, now: datetime
) -> ConsentRead:
    """Record an answer the customer gave by other means (an email, a signed order), with a
    note; 409 when nothing is billable or an answer is recorded already (it is immutable)."""
    _lock(ticket_id, session=session)
    ticket = _ticket(ticket_id, session=session)
    if not ticket.billable:
        raise Conflict("Nothing in this request is billable: there is nothing to agree to.")
    if ticket.consent != Consent.PENDING:
        raise Conflict(
            f"The customer's answer ({ticket.consent}) is recorded already; it cannot change.",
            consent=str(ticket.consent),
        )
    language = language_of(ticket.customer_id, session=session)
    text = rate_text(ticket.billing_reasons, rates, language)
    _write(
        ticket_id,
        data.decision,
        session=session,
        now=now,
        values={
            "via": "staff",
            "language": language,
            "rate_text": text,
            "rate_version": rate_version(text),
            "note": data.note,
        },
        actor=actor,
    )
    return consent_of(ticket_id, session=session)


def consent_of(ticket_id: int, *, session: Session) -> ConsentRead:
    """The ticket's consent and the record of the answer (NotFound for an unknown ticket)."""
    ticket = _ticket(ticket_id, session=session)
    record = _latest(ticket_id, session=session)
    reasons = [str(reason) for reason in ticket.billing_reasons]
    if record is None:
        return ConsentRead(state=ticket.consent, billing_reasons=reasons)
    return ConsentRead(
        state=ticket.consent,
        decided_at=record.decided_at,
        via=record.via,  # type: ignore[arg-type]
        status_link_id=record.status_link_id,
        client_address=record.client_address,
        rate_text=record.rate_text,
        rate_version=record.rate_version,
        actor=record.actor,
        note=record.note or None,
        billing_reasons=reasons,
    )


def check_before_work(
    ticket: Ticket, *, proceed: bool, session: Session, actor: str, now: datetime
) -> None:
    """Taking in charge billable work needs the customer's consent (R2, R4, R5, R13): 409
    without it, unless staff proceed anyway, which is logged and audited."""
    if ticket.consent not in (Consent.PENDING, Consent.DECLINED):
        return
    if not proceed:
        raise Conflict(
            f"The customer has not agreed to billable work on {ticket.number} "
            f"(consent: {ticket.consent}); set proceed_without_consent to take it in charge "
            "anyway.",
            consent=str(ticket.consent),
        )
    log.warning(
        "ticket %s taken in charge without consent (%s) by %s", ticket.number, ticket.consent, actor
    )
    audit.record(
        _id(ticket),
        session=session,
        actor=actor,
        kind="consent_bypassed",
        at=now,
        data={"consent": str(ticket.consent), "reasons": list(ticket.billing_reasons)},
    )


# --- rows ----------------------------------------------------------------------------------------

_RECORDS, _TICKETS = table_of(ConsentRecord), table_of(Ticket)


def _write(
    ticket_id: int,
    decision: ConsentDecision,
    *,
    session: Session,
    now: datetime,
    values: dict[str, Any],
    actor: str,
) -> None:
    row = {"ticket_id": ticket_id, "decision": str(decision), "decided_at": now, "note": ""}
    row.update(values, actor=actor if values["via"] == "staff" else None)
    # The reasons answered: what this answer covers (state_for).
    row["reasons"] = [str(reason) for reason in _ticket(ticket_id, session=session).billing_reasons]
    connection = session.connection()
    connection.execute(insert(_RECORDS), row)
    connection.execute(
        update(_TICKETS).where(_TICKETS.c.id == ticket_id).values(consent=str(decision))
    )
    audit.record(
        ticket_id,
        session=session,
        actor=actor,
        kind=f"consent_{decision}",
        at=now,
        data={
            "via": values["via"],
            "status_link_id": values.get("status_link_id"),
            "rate_version": values["rate_version"],
            "note": values.get("note", ""),
        },
    )
    log.info("ticket %s: consent %s via %s", ticket_id, decision, values["via"])


def _lock(ticket_id: int, *, session: Session) -> None:
    # The ticket's row, until the commit: two answers at once are one after the other.
    found = session.connection().execute(
        select(_TICKETS.c.id).where(_TICKETS.c.id == ticket_id).with_for_update()
    )
    if found.first() is None:
        raise NotFound(f"No ticket with id {ticket_id}.")


def _ticket(ticket_id: int, *, session: Session) -> Ticket:
    # Read as a value (tickets are written with Core: an ORM copy could be stale).
    row = (
        session.connection()
        .execute(select(_TICKETS).where(_TICKETS.c.id == ticket_id))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"No ticket with id {ticket_id}.")
    return Ticket.model_validate(dict(row))


def _records_of(ticket_id: int, *, session: Session) -> list[ConsentRecord]:
    """The ticket's answers, oldest first."""
    query = select(_RECORDS).where(_RECORDS.c.ticket_id == ticket_id).order_by(_RECORDS.c.id)
    rows = session.connection().execute(query).mappings()
    return [ConsentRecord.model_validate(dict(row)) for row in rows]


def _latest(ticket_id: int, *, session: Session) -> ConsentRecord | None:
    answers = _records_of(ticket_id, session=session)
    return answers[-1] if answers else None


def _id(ticket: Ticket) -> int:
    assert ticket.id is not None
    return ticket.id
