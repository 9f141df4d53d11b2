"""The website's CONTACT form (R6): public, spam-resistant, JSON or a plain HTML post."""

import html
import json
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.deps import KnobsDep, Now, SessionDep, SettingsDep
from app.errors import BadRequest
from app.models.inbound import ContactIn, ContactResult
from app.routers._responses import LOCATION, problems
from app.services import contact as service
from app.services.inbound import MalformedEmail, UploadedFile
from app.services.inbound.forms import parse_form

router = APIRouter(prefix="/contact", tags=["contact"])


class Submission:
    """A parsed contact-form request and how its sender wants the answer."""

    def __init__(
        self, form: ContactIn, files: list[UploadedFile], wants_html: bool, client: str
    ) -> None:
        self.form, self.files, self.wants_html, self.client = form, files, wants_html, client


async def read_submission(request: Request) -> Submission:
    """Parse JSON, urlencoded or multipart, and note the sender's address (rate limit)."""
    content_type = request.headers.get("content-type", "")
    body = await request.body()
    files: list[UploadedFile] = []
    try:
        if content_type.split(";")[0].strip().lower() == "application/json":
            raw = json.loads(body)
            if not isinstance(raw, dict):
                raise BadRequest("The JSON body must be an object.")
            values = raw
            wants_html = False
        else:
            fields, files = parse_form(body, content_type)
            values = {k: v.decode("utf-8", "replace") for k, v in fields.items()}
            wants_html = "text/html" in request.headers.get("accept", "")
        form = ContactIn.model_validate(values)
    except (ValueError, RecursionError, MalformedEmail) as exc:  # RecursionError: deep JSON
        if isinstance(exc, ValidationError):
            raise RequestValidationError(exc.errors(include_url=False)) from exc
        raise BadRequest("Send the form as JSON, urlencoded or multipart/form-data.") from exc
    # Behind a trusted proxy (SPORTELLO_FORWARDED_ALLOW_IPS) this is the address it forwarded.
    client = request.client.host if request.client else "unknown"
    return Submission(form, files, wants_html, client[:64])


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
    submission: Annotated[Submission, Depends(read_submission)],
    session: SessionDep,
    knobs: KnobsDep,
    now: Now,
    settings: SettingsDep,
    response: Response,
) -> ContactResult | Response:
    """Send a support request from the website (R6); its take-charge deadline comes back."""
    service.count_hit(
        submission.client,
        session=session,
        now=now,
        limit=settings.contact_rate_limit,
        window_seconds=settings.contact_rate_window_seconds,
    )
    result = service.submit(
        submission.form,
        submission.files,
        session=session,
        knobs=knobs,
        now=now,
        max_file_bytes=settings.max_file_bytes,
    )
    if submission.wants_html:
        target = settings.contact_thanks_url or (
            "/api/v1/contact/thanks?" + urlencode({"n": result.ticket_number})
        )
        return RedirectResponse(target, status_code=303)
    # The ticket, for staff (the API needs a token); the caller has its number.
    response.headers["Location"] = f"/api/v1/tickets/{result.ticket_number}"
    return result


PAGE = """<!doctype html>
<html lang="it"><head><meta charset="utf-8"><title>Richiesta ricevuta</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;
line-height:1.5}}</style></head>
<body><h1>Richiesta ricevuta</h1>
<p>Grazie: la tua richiesta di assistenza è stata registrata{number_it}.
Ti scriveremo per email quando sarà presa in carico.</p>
<p lang="en">Thank you: your support request has been recorded{number_en}.
We will email you when it is taken in charge.</p></body></html>"""


@router.get(
    "/thanks",
    response_class=HTMLResponse,
    status_code=200,
    responses={200: {"content": {"text/html": {}}}, **problems(422)},
)
def thanks(
    n: Annotated[str | None, Query(max_length=32, description="The ticket number to show.")] = None,
) -> HTMLResponse:
    """The built-in confirmation page after a plain HTML form post (Italian and English)."""
    number = html.escape(n or "")
    return HTMLResponse(
        PAGE.format(
            number_it=f" con il numero <strong>{number}</strong>" if number else "",
            number_en=f" as <strong>{number}</strong>" if number else "",
        )
    )
