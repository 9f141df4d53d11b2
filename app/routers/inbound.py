"""Mail-provider webhooks (R6): authenticated, idempotent, 2xx only once stored. HTTP only."""

import base64
import binascii
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from app.db import unit_of_work
from app.deps import KnobsDep, Now, SettingsDep, in_group_commit, in_transaction
from app.errors import BadRequest, Forbidden, ServiceUnavailable, Unauthorized
from app.models.inbound import InboundResult
from app.routers._responses import problems
from app.services import ingest
from app.services.auth import authenticate
from app.services.inbound import (
    InboundEmail,
    MalformedEmail,
    UploadedFile,
    from_mailgun,
    from_mime,
    from_postmark,
    from_sendgrid,
    verify_mailgun_signature,
)
from app.services.inbound.forms import parse_form
from app.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(prefix="/inbound/email", tags=["inbound"])
RESPONSES = problems(400, 401, 403, 413, 422, 503)
_basic = HTTPBasic(auto_error=False, description="SPORTELLO_INBOUND_USERNAME / _PASSWORD")


def _check_basic(credentials: HTTPBasicCredentials | None, settings: Settings) -> None:
    if settings.inbound_username is None or settings.inbound_password is None:
        raise Unauthorized(
            "Inbound basic auth is not configured on this server "
            "(SPORTELLO_INBOUND_USERNAME, SPORTELLO_INBOUND_PASSWORD)."
        )
    if credentials is None:
        raise Unauthorized(
            "This webhook needs HTTP basic auth.",
            headers={"WWW-Authenticate": 'Basic realm="sportello-inbound"'},
        )
    user_ok = hmac.compare_digest(credentials.username.encode(), settings.inbound_username.encode())
    password_ok = hmac.compare_digest(
        credentials.password.encode(), settings.inbound_password.get_secret_value().encode()
    )
    if not (user_ok and password_ok):
        raise Forbidden("Wrong inbound webhook credentials.")


async def basic_auth(
    settings: SettingsDep, credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)]
) -> None:
    """SendGrid and Postmark sign nothing: they post with basic auth in the URL."""
    _check_basic(credentials, settings)


def basic_or_agent(request: Request, settings: SettingsDep) -> None:
    """A raw-MIME relay: basic auth, or a bearer token with the agent role."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        with unit_of_work(request.app.state.engine, read_only=True) as session:
            principal = authenticate(
                header[7:].strip(), session=session, admin_token=settings.admin_token
            )
        if not principal.can("agent"):
            raise Forbidden("Posting raw MIME needs the agent role.")
        return
    credentials = None
    if header.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise Unauthorized("Malformed basic auth header.") from exc
        credentials = HTTPBasicCredentials(username=user, password=password)
    _check_basic(credentials, settings)


# Up to this size a payload is parsed on the event loop (well under a millisecond); larger
# ones go to a worker thread so that they do not hold up other requests.
INLINE_PARSE_BYTES = 256 * 1024


async def _parse(function: Callable[..., InboundEmail], *args: object, size: int) -> InboundEmail:
    try:
        if size <= INLINE_PARSE_BYTES:
            return function(*args)
        return await run_in_threadpool(function, *args)
    except MalformedEmail as exc:
        raise BadRequest(f"Not an email we can read: {exc}") from exc


def _size(request: Request) -> int:
    length = request.headers.get("content-length", "")
    return int(length) if length.isdigit() else INLINE_PARSE_BYTES + 1


async def _form(request: Request) -> tuple[dict[str, bytes], list[UploadedFile]]:
    try:
        return parse_form(await request.body(), request.headers.get("content-type", ""))
    except MalformedEmail as exc:
        raise BadRequest(f"Not a form we can read: {exc}") from exc


async def mailgun_email(request: Request, settings: SettingsDep) -> tuple[InboundEmail, str]:
    """A Mailgun forward(): HMAC-SHA256 of timestamp+token with the signing key, fresh."""
    key = settings.mailgun_signing_key
    if key is None or not key.get_secret_value():
        raise Unauthorized(
            "Mailgun webhooks are not configured on this server (SPORTELLO_MAILGUN_SIGNING_KEY)."
        )
    fields, files = await _form(request)
    timestamp, token, signature = (
        fields.get(k, b"").decode("latin-1") for k in ("timestamp", "token", "signature")
    )
    if not (timestamp and token and signature):
        raise Unauthorized("The Mailgun signature (timestamp, token, signature) is missing.")
    if not verify_mailgun_signature(
        signing_key=key.get_secret_value(),
        timestamp=timestamp,
        token=token,
        signature=signature,
        now=time.time(),
    ):
        raise Forbidden("The Mailgun signature is wrong or too old.")
    return await _parse(from_mailgun, fields, files, size=_size(request)), token


async def sendgrid_email(request: Request, _: Annotated[None, Depends(basic_auth)]) -> InboundEmail:
    """SendGrid Inbound Parse, default or raw mode."""
    fields, files = await _form(request)
    return await _parse(from_sendgrid, fields, files, size=_size(request))


async def postmark_email(request: Request, _: Annotated[None, Depends(basic_auth)]) -> InboundEmail:
    """Postmark's inbound JSON."""
    try:
        payload = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("The Postmark payload is not JSON.") from exc
    return await _parse(from_postmark, payload, size=_size(request))


async def mime_email(request: Request, _: Annotated[None, Depends(basic_or_agent)]) -> InboundEmail:
    """A raw RFC 5322 message (`message/rfc822`)."""
    raw = await request.body()
    return await _parse(from_mime, raw, size=len(raw))


# Up to this size a message is committed in a batch with others (see app.group_commit).
GROUP_COMMIT_MAX_BYTES = 256 * 1024


def _stored_bytes(email: InboundEmail) -> int:
    return (
        len(email.text)
        + len(email.html or "")
        + sum(attachment.size for attachment in email.attachments)
    )


StoreEmail = Callable[[InboundEmail, str | None], Awaitable[InboundResult]]


async def email_store(
    request: Request, knobs: KnobsDep, now: Now, settings: SettingsDep
) -> StoreEmail:
    """How this request stores its email: 2xx only once committed; 503 when nothing could be
    (the provider retries)."""

    async def store(email: InboundEmail, token: str | None) -> InboundResult:
        def work(session: Session) -> ingest.IngestResult:
            return ingest.ingest_email(
                email,
                session=session,
                knobs=knobs,
                now=now,
                max_file_bytes=settings.max_file_bytes,
                replay_token=token,
            )

        try:
            if _stored_bytes(email) <= GROUP_COMMIT_MAX_BYTES:
                result = await in_group_commit(request, work)
            else:  # a batch would wait for its slowest unit: big messages commit on their own
                result = await in_transaction(request, work, conflict_retries=1)
        except DBAPIError as exc:
            # Whatever the database said, nothing was stored: the provider must retry.
            log.error("inbound %s message not stored: %s", email.provider, type(exc).__name__)
            raise ServiceUnavailable(
                "The message could not be stored; nothing was kept. Retry later.",
                headers={"Retry-After": "30"},
            ) from exc
        return InboundResult(
            ticket_id=result.ticket_id,
            ticket_number=result.ticket_number,
            duplicate=result.duplicate,
        )

    return store


StoreDep = Annotated[StoreEmail, Depends(email_store)]


@router.post("/mailgun", response_model=InboundResult, status_code=200, responses=RESPONSES)
async def mailgun(
    delivery: Annotated[tuple[InboundEmail, str], Depends(mailgun_email)], store: StoreDep
) -> InboundResult:
    """Mailgun route forward() (parsed fields or `body-mime`); signed, single-use tokens."""
    email, token = delivery
    return await store(email, token)


@router.post("/sendgrid", response_model=InboundResult, status_code=200, responses=RESPONSES)
async def sendgrid(
    email: Annotated[InboundEmail, Depends(sendgrid_email)], store: StoreDep
) -> InboundResult:
    """SendGrid Inbound Parse (default or raw); basic auth."""
    return await store(email, None)


@router.post("/postmark", response_model=InboundResult, status_code=200, responses=RESPONSES)
async def postmark(
    email: Annotated[InboundEmail, Depends(postmark_email)], store: StoreDep
) -> InboundResult:
    """Postmark inbound webhook JSON; basic auth."""
    return await store(email, None)


@router.post(
    "/mime",
    response_model=InboundResult,
    status_code=200,
    responses=RESPONSES,
    openapi_extra={
        "requestBody": {
            "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
            "required": True,
        }
    },
)
async def mime(
    email: Annotated[InboundEmail, Depends(mime_email)], store: StoreDep
) -> InboundResult:
    """A raw RFC 5322 message from any relay; basic auth or an agent token."""
    return await store(email, None)
