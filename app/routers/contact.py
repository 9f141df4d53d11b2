"""The website's CONTACT form (R6): public, spam-resistant, JSON or a plain HTML post."""

import json
from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.deps import KnobsDep, Now, SessionDep, SettingsDep, committed_unit
from app.errors import BadRequest, DomainError
from app.logs import note_refusal
from app.models.inbound import ContactIn, ContactResult
from app.rendering import render_page
from app.routers._responses import LOCATION, problems
from app.services.intake import contact_form as service
from app.services.intake.parsing import MalformedEmail, UploadedFile
from app.services.intake.parsing.forms import FormReader

router = APIRouter(prefix="/contact", tags=["contact"])

# How the form's fields are named on the error page, and what each kind of error means.
LABELS = {
    "name": ("Nome", "Name"),
    "email": ("Email", "Email"),
    "subject": ("Oggetto", "Subject"),
    "message": ("Messaggio", "Message"),
}
MEANINGS_IT = {
    "missing": "è obbligatorio",
    "string_too_short": "è obbligatorio",
    "string_too_long": "è troppo lungo",
    "value_error": "non è valido",
}
SUMMARIES = {  # status: (Italian, English)
    400: ("Il modulo non è arrivato in una forma leggibile.", "The form did not arrive readable."),
    413: ("Il messaggio o un allegato è troppo grande.", "The message or a file is too large."),
    422: ("Alcuni campi vanno corretti:", "Some fields need correcting:"),
    429: (
        "Troppi messaggi in poco tempo da questo indirizzo: riprova tra qualche minuto.",
        "Too many messages from this address in a short time: try again in a few minutes.",
    ),
}


class FormPageError(Exception):
    """A plain HTML form that could not be recorded: answered with a readable page."""

    def __init__(
        self,
        status: int,
        *,
        errors: Sequence[Any] = (),
        detail: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status)
        self.status, self.errors, self.detail, self.headers = status, errors, detail, headers

    @classmethod
    def of(cls, exc: DomainError | StarletteHTTPException) -> "FormPageError":
        if isinstance(exc, DomainError):
            return cls(exc.status, detail=exc.detail, headers=exc.headers)
        headers = dict(exc.headers) if exc.headers else None
        return cls(exc.status_code, detail=str(exc.detail), headers=headers)


async def form_error_page(request: Request, exc: Exception) -> HTMLResponse:
    """The error page of a plain HTML form, in Italian and English, naming each bad field."""
    assert isinstance(exc, FormPageError)
    summary_it, summary_en = SUMMARIES.get(exc.status, (exc.detail, exc.detail))
    fields = ", ".join(str(e["loc"][-1]) for e in exc.errors if e.get("loc"))
    note_refusal(request.scope, exc.detail or summary_en + (f" {fields}" if fields else ""))
    errors = []
    for error in exc.errors:
        field = str(error["loc"][-1]) if error.get("loc") else ""
        label_it, label_en = LABELS.get(field, (field, field))
        errors.append(
            {
                "label_it": label_it,
                "label_en": label_en,
                "message_it": MEANINGS_IT.get(error["type"], "non è valido"),
                "message_en": error["msg"],
            }
        )
    page = render_page(
        "pages/form_error.html",
        request.app.state.settings,
        detail_it=summary_it,
        detail_en=summary_en,
        errors=errors,
    )
    return HTMLResponse(page, status_code=exc.status, headers=exc.headers)


class Submission:
    """A parsed contact-form request and how its sender wants the answer."""

    def __init__(
        self, form: ContactIn, files: list[UploadedFile], wants_html: bool, client: str
    ) -> None:
        self.form, self.files, self.wants_html, self.client = form, files, wants_html, client


async def read_submission(request: Request) -> Submission:
    """Parse JSON, urlencoded or multipart, and note the sender's address (rate limit).

    `Accept` decides the answer: a browser's plain form (Accept: text/html) gets pages, the
    thank-you page or a readable error page; anyone else gets JSON and problem details.
    """
    content_type = request.headers.get("content-type", "")
    is_json = content_type.split(";")[0].strip().lower() == "application/json"
    wants_html = not is_json and "text/html" in request.headers.get("accept", "")
    files: list[UploadedFile] = []
    try:
        if is_json:
            raw = json.loads(await request.body())
            if not isinstance(raw, dict):
                raise BadRequest("The JSON body must be an object.")
            values = raw
        else:  # read as it arrives: the body is never held whole beside its fields and files
            reader = FormReader(content_type)
            async for chunk in request.stream():
                reader.feed(chunk)
            fields, files = reader.close()
            values = {k: v.decode("utf-8", "replace") for k, v in fields.items()}
        form = ContactIn.model_validate(values)
    except ValidationError as exc:
        if wants_html:
            raise FormPageError(422, errors=exc.errors(include_url=False)) from exc
        raise RequestValidationError(exc.errors(include_url=False)) from exc
    except (ValueError, RecursionError, MalformedEmail) as exc:  # RecursionError: deep JSON
        refusal = BadRequest("Send the form as JSON, urlencoded or multipart/form-data.")
        raise (FormPageError.of(refusal) if wants_html else refusal) from exc
    except (DomainError, StarletteHTTPException) as exc:  # 413 while the body arrives
        raise (FormPageError.of(exc) if wants_html else exc) from exc
    # Behind a trusted proxy (SPORTELLO_FORWARDED_ALLOW_IPS) this is the address it forwarded.
    client = request.client.host if request.client else "unknown"
    return Submission(form, files, wants_html, client[:64])


async def counted_submission(
    submission: Annotated[Submission, Depends(read_submission)],
    request: Request,
    settings: SettingsDep,
    now: Now,
) -> Submission:
    """The submission, once counted against its sender's rate limit.

    Counted in a transaction of its own, committed before the ticket is written: a
    submission that fails later still counts, and hits from one address never wait for each
    other's tickets.
    """
    try:
        await committed_unit(
            request,
            lambda session: service.count_hit(
                submission.client,
                session=session,
                now=now,
                limit=settings.contact_rate_limit,
                window_seconds=settings.contact_rate_window_seconds,
            ),
        )
    except DomainError as exc:
        raise (FormPageError.of(exc) if submission.wants_html else exc) from exc
    return submission


@router.post(
    "",
    response_model=ContactResult,
    status_code=201,
    responses={
        201: {"description": "Recorded; `Location` names the ticket.", "headers": LOCATION},
        303: {"description": "A plain HTML form is sent to the thank-you page."},
        **problems(400, 413, 422, 429),
    },
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": ContactIn.model_json_schema()},
                "application/x-www-form-urlencoded": {"schema": ContactIn.model_json_schema()},
                "multipart/form-data": {
                    "schema": {
                        "allOf": [ContactIn.model_json_schema()],
                        "properties": {
                            "attachments": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                            }
                        },
                    }
                },
            },
            "required": True,
        }
    },
)
def submit(
    submission: Annotated[Submission, Depends(counted_submission)],
    session: SessionDep,
    knobs: KnobsDep,
    now: Now,
    settings: SettingsDep,
    response: Response,
) -> ContactResult | Response:
    """Send a support request from the website (R6); its take-charge deadline comes back.

    `Accept` decides the answer's form. JSON clients get 201 with JSON, and problem details
    for errors. A browser's plain HTML form (`Accept: text/html`, urlencoded or multipart) is
    redirected (303) to the thank-you page, or gets a readable error page in Italian and English
    naming each field to correct, with the same status (400, 413, 422, 429).
    """
    try:
        result = service.submit(
            submission.form,
            submission.files,
            session=session,
            knobs=knobs,
            now=now,
            max_file_bytes=settings.max_file_bytes,
        )
    except DomainError as exc:
        raise (FormPageError.of(exc) if submission.wants_html else exc) from exc
    if submission.wants_html:
        target = settings.contact_thanks_url or (
            "/api/v1/contact/thanks?" + urlencode({"n": result.ticket_number})
        )
        return RedirectResponse(target, status_code=303)
    # The ticket, for staff (the API needs a token); the caller has its number.
    response.headers["Location"] = f"/api/v1/tickets/{result.ticket_number}"
    return result


@router.get(
    "/thanks",
    response_class=HTMLResponse,
    status_code=200,
    responses={200: {"content": {"text/html": {}}}, **problems(422)},
)
def thanks(
    settings: SettingsDep,
    n: Annotated[str | None, Query(max_length=32, description="The ticket number to show.")] = None,
) -> HTMLResponse:
    """The built-in confirmation page after a plain HTML form post (Italian and English)."""
    return HTMLResponse(render_page("pages/thanks.html", settings, number=n or ""))
