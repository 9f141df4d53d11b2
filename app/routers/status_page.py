"""The customer's status page: public, reached by the link in every customer email."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from app.deps import KnobsDep, Now, SessionDep, SettingsDep, committed_unit
from app.enums import Consent
from app.errors import Conflict, Forbidden, NotFound
from app.models.common import ResourceId
from app.models.consent import ConsentDecision
from app.rendering import page_policy, render_page
from app.routers._responses import problems, stored_file
from app.services.intake import contact_form
from app.services.tickets import attachments, consent, status_page
from app.settings import Settings

router = APIRouter(tags=["status"])
BINARY = {"type": "string", "format": "binary"}


async def counted(request: Request, settings: SettingsDep, now: Now) -> None:
    """Rate limit per client address, shared by every API process (as the contact form)."""
    client = "status:" + (request.client.host if request.client else "unknown")
    await committed_unit(
        request,
        lambda session: contact_form.count_hit(
            client[:64],
            session=session,
            now=now,
            limit=settings.status_rate_limit,
            window_seconds=settings.contact_rate_window_seconds,
        ),
    )


@router.get(
    "/status/{token}",
    response_class=HTMLResponse,
    status_code=200,
    responses={
        200: {"content": {"text/html": {}}},
        404: {"description": "An unknown or revoked link.", "content": {"text/html": {}}},
        **problems(422, 429),
    },
    dependencies=[Depends(counted)],
)
def page(
    token: Annotated[str, Path(max_length=64, description="The token from the customer's email.")],
    session: SessionDep,
    settings: SettingsDep,
    knobs: KnobsDep,
    lang: Annotated[
        str | None, Query(pattern="^(it|en)$", description="it or en; default: the customer's.")
    ] = None,
) -> HTMLResponse:
    """One ticket for its customer: number, status, deadline and why, estimate, history."""
    try:
        facts = status_page.page_facts(token, session=session, language=lang)
        facts["consent"] = consent.page_form(
            token,
            session=session,
            rates=knobs.rates,
            secret=form_secret(settings),
            language=facts["language"],
        )
    except NotFound:
        return HTMLResponse(render_page("pages/not_found.html", settings), status_code=404)
    return HTMLResponse(
        render_page("pages/status.html", settings, **facts),
        headers={
            "Cache-Control": "no-store",  # no-referrer, like every page: app.middleware
            # Its consent button posts to us, and nowhere else (no script either).
            "Content-Security-Policy": page_policy(forms=True),
        },
    )


def form_secret(settings: Settings) -> bytes | None:
    """The key of the page's form tokens (SPORTELLO_FORM_SECRET), if set."""
    secret = settings.form_secret
    return secret.get_secret_value().encode() if secret is not None else None


@router.post(
    "/status/{token}/consent",
    response_class=RedirectResponse,
    status_code=303,
    responses={
        303: {"description": "Recorded (or given already): back to the status page."},
        403: {"description": "Not posted from the page: no valid form token."},
        404: {"description": "An unknown or revoked link.", "content": {"text/html": {}}},
        409: {"description": "Nothing billable, or the rates changed: reload the page."},
        **problems(422, 429),
    },
    dependencies=[Depends(counted)],
)
def answer_consent(
    token: Annotated[str, Path(max_length=64, description="The token from the customer's email.")],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    knobs: KnobsDep,
    now: Now,
    form_token: Annotated[
        str, Form(max_length=128, description="The page's form token (an answer without: 403).")
    ] = "",
    version: Annotated[
        str, Form(max_length=32, description="The version of the rate text the page showed.")
    ] = "",
    decision: Annotated[
        ConsentDecision, Form(description="given (the button's), or declined.")
    ] = Consent.GIVEN,
    lang: Annotated[
        str | None, Form(pattern="^(it|en)$", description="The page's language, to go back to.")
    ] = None,
) -> Response:
    """The customer agrees (or not) to billable work at the rates shown, with the page's one
    button (a plain form, no script); recorded once, then back to the page (303)."""
    try:
        consent.answer_on_page(
            token,
            decision=decision,
            given_token=form_token,
            version=version,
            language=lang,
            client=request.client.host if request.client else None,
            session=session,
            rates=knobs.rates,
            secret=form_secret(settings),
            now=now,
        )
    except NotFound:
        return HTMLResponse(render_page("pages/not_found.html", settings), status_code=404)
    except (Forbidden, Conflict) as refused:
        return HTMLResponse(
            render_page(
                "pages/consent_refused.html",
                settings,
                token=token,
                forged=isinstance(refused, Forbidden),
            ),
            status_code=refused.status,
            headers={"Cache-Control": "no-store"},
        )
    return RedirectResponse(f"/status/{token}" + (f"?lang={lang}" if lang else ""), status_code=303)


@router.get(
    "/status/{token}/files/{attachment_id}",
    response_class=Response,
    status_code=200,
    responses={
        **stored_file("The file's bytes, as a download (never rendered inline)."),
        404: {"description": "No such file in this ticket's public conversation."},
        **problems(422, 429, 503),
    },
    dependencies=[Depends(counted)],
)
def file(
    token: Annotated[str, Path(max_length=64, description="The token from the customer's email.")],
    attachment_id: ResourceId,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """A file of the ticket's public conversation (the customer's or our reply's), as a
    download; never a note's."""
    try:
        stored = status_page.public_file(token, attachment_id, session=session)
    except NotFound:
        return HTMLResponse(render_page("pages/not_found.html", settings), status_code=404)
    return Response(
        stored.data,
        media_type=attachments.served_type(stored.content_type),
        headers=attachments.download_headers(stored),
    )
