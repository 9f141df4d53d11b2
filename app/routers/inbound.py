"""Mail-provider webhooks (R6): authenticated, idempotent, 2xx only once stored. HTTP only."""

import json
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from app import metrics
from app.deps import KnobsDep, Now, SettingsDep, WriterDep, authenticate_bearer
from app.enums import Role
from app.errors import BadRequest, DomainError, Forbidden, NotAcceptable, Unauthorized
from app.models.inbound import InboundResult
from app.models.message import MAX_TOKEN_CHARS
from app.routers._responses import problems
from app.services import ingest
from app.services.inbound import (
    InboundEmail,
    MalformedEmail,
    UploadedFile,
    check_basic_auth,
    from_mailgun,
    from_mime,
    from_postmark,
    from_sendgrid,
    verify_mailgun_signature,
)
from app.services.inbound.forms import parse_form

router = APIRouter(prefix="/inbound/email", tags=["inbound"])
RESPONSES = problems(400, 401, 403, 406, 413, 422, 503)


BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="sportello-inbound"'}


async def basic_auth(request: Request, settings: SettingsDep) -> None:
    """SendGrid and Postmark sign nothing: they post with basic auth in the URL."""
    username, password = settings.inbound_username, settings.inbound_password
    if username is None or password is None:
        raise Unauthorized(
            "Inbound basic auth is not configured on this server "
            "(SPORTELLO_INBOUND_USERNAME, SPORTELLO_INBOUND_PASSWORD)."
        )
    header = request.headers.get("authorization")
    if header is None or not header.lower().startswith("basic "):
        raise Unauthorized("This webhook needs HTTP basic auth.", headers=BASIC_CHALLENGE)
    if not check_basic_auth(header, username=username, password=password.get_secret_value()):
        # RFC 9110: wrong credentials are a 401 with the challenge, so the sender may retry.
        raise Unauthorized("Wrong inbound webhook credentials.", headers=BASIC_CHALLENGE)


BasicAuth = Annotated[None, Depends(basic_auth)]


async def basic_or_agent(request: Request, settings: SettingsDep) -> None:
    """A raw-MIME relay: basic auth, or a bearer token with the agent role."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        await basic_auth(request, settings)
        return
    principal = await run_in_threadpool(authenticate_bearer, request, header[7:].strip())
    if not principal.can(Role.AGENT):
        raise Forbidden("Posting raw MIME needs the agent role.")


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
    if len(token) > MAX_TOKEN_CHARS:  # never stored, whatever the signature: do not retry
        raise NotAcceptable(f"The Mailgun token is longer than {MAX_TOKEN_CHARS} characters.")
    if not verify_mailgun_signature(
        signing_key=key.get_secret_value(),
        timestamp=timestamp,
        token=token,
        signature=signature,
        now=time.time(),
    ):
        raise Forbidden("The Mailgun signature is wrong or too old.")
    return await _parse(from_mailgun, fields, files, size=_size(request)), token


async def sendgrid_email(request: Request, _: BasicAuth) -> InboundEmail:
    """SendGrid Inbound Parse, default or raw mode."""
    fields, files = await _form(request)
    return await _parse(from_sendgrid, fields, files, size=_size(request))


async def postmark_email(request: Request, _: BasicAuth) -> InboundEmail:
    """Postmark's inbound JSON."""
    try:
        payload = json.loads(await request.body())
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deep
        raise BadRequest("The Postmark payload is not JSON.") from exc
    return await _parse(from_postmark, payload, size=_size(request))


async def mime_email(request: Request, _: Annotated[None, Depends(basic_or_agent)]) -> InboundEmail:
    """A raw RFC 5322 message (`message/rfc822`)."""
    raw = await request.body()
    return await _parse(from_mime, raw, size=len(raw))


StoreEmail = Callable[[InboundEmail, str | None], Awaitable[ingest.IngestResult]]


async def email_store(
    write: WriterDep, knobs: KnobsDep, now: Now, settings: SettingsDep
) -> StoreEmail:
    """How this request stores its email (with its single-use token, if signed): committed
    before the answer; 503 when nothing could be stored, so the provider retries."""

    async def store(email: InboundEmail, token: str | None) -> ingest.IngestResult:
        try:
            result = await write(
                ingest.storing(
                    email,
                    knobs=knobs,
                    now=now,
                    max_file_bytes=settings.max_file_bytes,
                    replay_token=token,
                )
            )
        except DomainError:  # a replayed token, an attachment over the limit
            metrics.count_delivery(email.provider, "rejected")
            raise
        metrics.count_delivery(email.provider, "duplicate" if result.duplicate else "stored")
        return result

    return store


StoreDep = Annotated[StoreEmail, Depends(email_store)]


@router.post("/mailgun", response_model=InboundResult, status_code=200, responses=RESPONSES)
async def mailgun(
    delivery: Annotated[tuple[InboundEmail, str], Depends(mailgun_email)], store: StoreDep
) -> ingest.IngestResult:
    """Mailgun route forward() (parsed fields or `body-mime`); signed, single-use tokens."""
    email, token = delivery
    return await store(email, token)


@router.post("/sendgrid", response_model=InboundResult, status_code=200, responses=RESPONSES)
async def sendgrid(
    email: Annotated[InboundEmail, Depends(sendgrid_email)], store: StoreDep
) -> ingest.IngestResult:
    """SendGrid Inbound Parse (default or raw); basic auth."""
    return await store(email, None)


@router.post("/postmark", response_model=InboundResult, status_code=200, responses=RESPONSES)
async def postmark(
    email: Annotated[InboundEmail, Depends(postmark_email)], store: StoreDep
) -> ingest.IngestResult:
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
) -> ingest.IngestResult:
    """A raw RFC 5322 message from any relay; basic auth or an agent token."""
    return await store(email, None)
