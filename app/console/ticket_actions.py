"""What staff do on a ticket's page: reply (and take in charge, or resolve), note, take in
charge, assign, change the status, record time, merge; and download the conversation's files.

HTTP only, as the API's routes: each action is a form posted with the session's CSRF token,
checked for the role the API route requires (`acting_as`), made into the API's own input
model (app.console.forms) and given to the same service function; a domain error is its page
(404, 409, 422), success a 303 back to the ticket.
"""

from typing import Annotated

from fastapi import APIRouter, Form, Path
from fastapi.responses import RedirectResponse, Response

from app.console import forms
from app.console.forms import model_of, optional, rome_instant, ticked
from app.console.guard import PATH, PostedDep, Refused, SignedInDep, acting_as, refusing
from app.deps import KnobsDep, Now, SessionDep, SettingsDep
from app.enums import Role
from app.models.billing import TimeEntryCreate
from app.models.common import MAX_ID
from app.models.message import NoteIn, ReplyIn
from app.models.ticket import AssignIn, MergeIn, StatusIn, TakeChargeIn
from app.services.console.words import words
from app.services.reports import time_entries
from app.services.tickets import attachments, lifecycle, merging, notes, owners, queue, replies

router = APIRouter()
NUMBER = r"^[0-9]{4}-[0-9]{6,}$"
TicketNumber = Annotated[str, Path(pattern=NUMBER, max_length=20)]
FormField = Annotated[str, Form()]  # checked by the API's model: a refusal is a page
AGENT = [acting_as(Role.AGENT)]


def _back(number: str) -> Response:
    return RedirectResponse(f"{PATH}/tickets/{number}", status_code=303)


@router.post("/tickets/{number}/replies", dependencies=AGENT)
def reply(
    number: TicketNumber,
    user: PostedDep,
    session: SessionDep,
    settings: SettingsDep,
    knobs: KnobsDep,
    now: Now,
    text: FormField = "",
    take_charge: FormField = "",
    estimate_day: FormField = "",
    estimate_time: FormField = "",
    proceed_without_consent: FormField = "",
    resolve: FormField = "",
    resolution: FormField = "",
    delivery_mode: FormField = "",
) -> Response:
    """Write to the customer in the ticket's thread, as POST /tickets/{ref}/replies does;
    optionally take it in charge with an estimate in Rome time (R9, R11) or resolve it (R14),
    in the same one email."""
    language = user.language
    resolving = ticked(resolve)
    data = model_of(
        ReplyIn,
        {
            "text": forms.text(text),
            "take_charge": ticked(take_charge),
            "estimated_resolution_at": rome_instant(estimate_day, estimate_time, language=language),
            "proceed_without_consent": ticked(proceed_without_consent),
            "resolve": resolving,
            "resolution": optional(forms.text(resolution)) if resolving else None,
            "delivery_mode": optional(delivery_mode) if resolving else None,
        },
        language=language,
    )
    refusing(
        user,
        lambda: replies.reply(
            queue.ticket_id_of(number, session=session),
            data,
            session=session,
            knobs=knobs,
            author_id=user.principal.staff_id,
            actor=user.principal.name,
            now=now,
            max_file_bytes=settings.max_file_bytes,
        ),
    )
    return _back(number)


@router.post("/tickets/{number}/notes", dependencies=AGENT)
def add_note(
    number: TicketNumber,
    user: PostedDep,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
    text: FormField = "",
) -> Response:
    """An internal note for colleagues, as POST /tickets/{ref}/notes: never emailed."""
    data = model_of(NoteIn, {"text": forms.text(text)}, language=user.language)
    refusing(
        user,
        lambda: notes.add_note(
            queue.ticket_id_of(number, session=session),
            data,
            session=session,
            author_id=user.principal.staff_id,
            actor=user.principal.name,
            now=now,
            max_file_bytes=settings.max_file_bytes,
        ),
    )
    return _back(number)


@router.post("/tickets/{number}/take-charge", dependencies=AGENT)
def take_charge(
    number: TicketNumber,
    user: PostedDep,
    session: SessionDep,
    knobs: KnobsDep,
    now: Now,
    estimate_day: FormField = "",
    estimate_time: FormField = "",
    proceed_without_consent: FormField = "",
) -> Response:
    """Take the request in charge (R9), with the estimate picked in Rome time told to the
    customer (R11), as POST /tickets/{ref}/take-charge does."""
    language = user.language
    data = model_of(
        TakeChargeIn,
        {
            "estimated_resolution_at": rome_instant(estimate_day, estimate_time, language=language),
            "proceed_without_consent": ticked(proceed_without_consent),
        },
        language=language,
    )
    refusing(
        user,
        lambda: lifecycle.take_charge(
            queue.ticket_id_of(number, session=session),
            data,
            session=session,
            knobs=knobs,
            actor=user.principal.name,
            now=now,
            owner_id=user.principal.staff_id,
        ),
    )
    return _back(number)


@router.post("/tickets/{number}/assign", dependencies=AGENT)
def assign(
    number: TicketNumber,
    user: PostedDep,
    session: SessionDep,
    knobs: KnobsDep,
    now: Now,
    assignee: FormField = "",
) -> Response:
    """Give the ticket to a staff member, to oneself (`me`) or to nobody (empty), as POST
    /tickets/{ref}/assign does."""
    if assignee == "me":
        chosen: int | None = user.principal.staff_id
    elif assignee == "":
        chosen = None
    elif (
        assignee.isascii()
        and assignee.isdigit()
        and len(assignee) <= len(str(MAX_ID))  # int() of thousands of digits raises
        and 0 < int(assignee) <= MAX_ID
    ):
        chosen = int(assignee)
    else:
        raise Refused(422, words(user.language)["invalid_assignee"], language=user.language)
    data = model_of(AssignIn, {"assignee_id": chosen}, language=user.language)
    refusing(
        user,
        lambda: owners.assign(
            queue.ticket_id_of(number, session=session),
            data.assignee_id,
            session=session,
            knobs=knobs,
            actor=user.principal.name,
            actor_staff_id=user.principal.staff_id,
            now=now,
        ),
    )
    return _back(number)


@router.post("/tickets/{number}/status", dependencies=AGENT)
def change_status(
    number: TicketNumber,
    user: PostedDep,
    session: SessionDep,
    knobs: KnobsDep,
    now: Now,
    status: FormField = "",
    note: FormField = "",
) -> Response:
    """Work on it, wait on a provider (R10), close, or reopen, as POST /tickets/{ref}/status."""
    data = model_of(StatusIn, {"status": status, "note": note}, language=user.language)
    refusing(
        user,
        lambda: lifecycle.change_status(
            queue.ticket_id_of(number, session=session),
            data,
            session=session,
            knobs=knobs,
            actor=user.principal.name,
            now=now,
        ),
    )
    return _back(number)


@router.post("/tickets/{number}/time-entries", dependencies=AGENT)
def record_time(
    number: TicketNumber,
    user: PostedDep,
    session: SessionDep,
    now: Now,
    minutes: FormField = "",
    note: FormField = "",
    billable: FormField = "",
) -> Response:
    """Minutes of work, billable by default when the ticket is (R2, R13), as POST
    /tickets/{ref}/time-entries does."""
    choice = {"": None, "yes": True, "no": False}.get(billable, billable)
    data = model_of(
        TimeEntryCreate,
        {"minutes": minutes, "note": note, "billable": choice},
        language=user.language,
    )
    refusing(
        user,
        lambda: time_entries.add(
            queue.ticket_of(number, session=session),
            data,
            session=session,
            actor=user.principal.name,
            now=now,
        ),
    )
    return _back(number)


@router.post("/tickets/{number}/merge", dependencies=AGENT)
def merge(
    number: TicketNumber,
    user: PostedDep,
    session: SessionDep,
    knobs: KnobsDep,
    now: Now,
    into: FormField = "",
    force: FormField = "",
) -> Response:
    """Merge this duplicate into another request (by number), as POST /tickets/{ref}/merge;
    then the survivor's page."""
    data = model_of(MergeIn, {"into": into.strip(), "force": ticked(force)}, language=user.language)
    survivor = refusing(
        user,
        lambda: merging.merge(
            queue.ticket_id_of(number, session=session),
            queue.ticket_id_of(data.into, session=session),
            force=data.force,
            session=session,
            knobs=knobs,
            actor=user.principal.name,
            now=now,
        ),
    )
    return _back(survivor.number)


@router.get("/attachments/{attachment_id}")
def download(
    attachment_id: Annotated[int, Path(ge=1, le=MAX_ID)], user: SignedInDep, session: SessionDep
) -> Response:
    """A file of the conversation, as GET /attachments/{id}: checked against its SHA-256,
    always a download, never rendered."""
    stored = refusing(user, lambda: attachments.open_attachment(attachment_id, session=session))
    return Response(
        stored.data,
        media_type=attachments.served_type(stored.content_type),
        headers=attachments.download_headers(stored),
    )
