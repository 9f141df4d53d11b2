"""Mail-provider webhooks (R6): authenticated, idempotent, 2xx only once stored. HTTP only.

A delivery that authenticates and fits the size limit is always stored (P1): as a ticket, or,
when it cannot be one, quarantined raw (app.services.intake.quarantine). Only what is not a delivery
at all (a failed signature or login, a body over the limit or of the wrong type) is a 4xx.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from app import metrics
from app.deps import Now, SettingsDep, committed_unit, principal_for
from app.enums import Role
from app.errors import (
    BadRequest,
    DomainError,
    Forbidden,
    NotAcceptable,
    Unauthorized,
    UnsupportedMediaType,
)
from app.models.inbound import InboundResult
from app.models.message import MAX_TOKEN_CHARS
from app.routers._responses import problems
from app.services.intake import receiving
from app.services.intake.parsing import (
    InboundEmail,
    MalformedEmail,
    check_basic_auth,
    from_mailgun,
    verify_mailgun_signature,
)
from app.services.intake.parsing.deliveries import RAW_MIME, read_delivery
from app.services.intake.parsing.forms import parse_form
from app.services.knobs import Knobs
from app.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(prefix="/inbound/email", tags=["inbound"])
RESPONSES = problems(400, 401, 403, 406, 413, 415, 422, 503)


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
    principal = await principal_for(request, header[7:].strip())
    if not principal.can(Role.AGENT):
        raise Forbidden("Posting raw MIME needs the agent role.")


# A payload this small, with this few "--" (so few MIME parts: each costs the parser about a
# third of a millisecond), is read on the event loop (well under a millisecond as mail goes,
# 25 ms at worst); others go to a worker thread, so that they do not hold up other requests.
INLINE_PARSE_BYTES = 64 * 1024
INLINE_PARSE_DASHES = 64
FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})


@dataclass(frozen=True)
class Delivery:
    """An authenticated delivery: its request body as received, and how to read it."""

    provider: str
    body: bytes
    content_type: str
    read: Callable[[], InboundEmail]
    token: str | None = None  # Mailgun's single-use token


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _require(request: Request, accepted: frozenset[str], provider: str) -> None:
    """Not a delivery at all: a body of a type this route never reads (415, nothing kept)."""
    media_type = _media_type(request)
    if media_type not in accepted:
        raise UnsupportedMediaType(
            f"The {provider} webhook takes {' or '.join(sorted(accepted))}, "
            f"not {media_type or 'a body without Content-Type'}."
        )


async def mailgun_delivery(request: Request, settings: SettingsDep) -> Delivery:
    """A Mailgun forward(): HMAC-SHA256 of timestamp+token with the signing key, fresh."""
    key = settings.mailgun_signing_key
    if key is None or not key.get_secret_value():
        raise Unauthorized(
            "Mailgun webhooks are not configured on this server (SPORTELLO_MAILGUN_SIGNING_KEY)."
        )
    _require(request, FORM_TYPES, "Mailgun")
    body, content_type = await request.body(), request.headers.get("content-type", "")
    try:  # the signature is in the form: a form that cannot be read cannot be checked
        fields, files = parse_form(body, content_type)
    except MalformedEmail as exc:
        raise BadRequest(f"Not a form we can read: {exc}") from exc
    timestamp, token, signature = (
        fields.get(k, b"").decode("latin-1") for k in ("timestamp", "token", "signature")
    )
    if not (timestamp and token and signature):
        raise Unauthorized("The Mailgun signature (timestamp, token, signature) is missing.")
    # Never stored, whatever the signature, so the provider must not retry: too long, or
    # not printable ASCII (Mailgun's are hex; a NUL, say, could not be stored as text).
    if len(token) > MAX_TOKEN_CHARS:
        raise NotAcceptable(f"The Mailgun token is longer than {MAX_TOKEN_CHARS} characters.")
    if not token.isascii() or not token.isprintable():
        raise NotAcceptable("The Mailgun token has characters other than printable ASCII.")
    if not verify_mailgun_signature(
        signing_key=key.get_secret_value(),
        timestamp=timestamp,
        token=token,
        signature=signature,
        now=time.time(),
    ):
        raise Forbidden("The Mailgun signature is wrong or too old.")
    return Delivery("mailgun", body, content_type, lambda: from_mailgun(fields, files), token)


async def sendgrid_delivery(request: Request, _: BasicAuth) -> Delivery:
    """SendGrid Inbound Parse, default or raw mode."""
    _require(request, FORM_TYPES, "SendGrid")
    return await _delivery("sendgrid", request)


async def postmark_delivery(request: Request, _: BasicAuth) -> Delivery:
    """Postmark's inbound JSON."""
    _require(request, frozenset({"application/json"}), "Postmark")
    return await _delivery("postmark", request)


async def mime_delivery(request: Request, _: Annotated[None, Depends(basic_or_agent)]) -> Delivery:
    """A raw RFC 5322 message (`message/rfc822`): whatever its bytes, they are the message."""
    body = await request.body()
    if not body.strip():
        raise BadRequest("The body is empty: there is no message to store.")
    return Delivery("mime", body, RAW_MIME, lambda: read_delivery("mime", body, RAW_MIME))


async def _delivery(provider: str, request: Request) -> Delivery:
    body, content_type = await request.body(), request.headers.get("content-type", "")
    if not body.strip():
        raise BadRequest("The body is empty: there is no delivery to store.")
    return Delivery(
        provider, body, content_type, lambda: read_delivery(provider, body, content_type)
    )


async def store(delivery: Delivery, *, request: Request, now: datetime) -> InboundResult:
    """Store the delivery as a ticket, or quarantined raw when it cannot be one (P1), in a unit
    of work begun once the payload is read and committed before the answer; 503 when nothing
    could be stored because the database is away (the provider retries).

    A plain call, not a dependency: the app's knobs and settings are read here, as
    `committed_unit` reads its engine (each dependency layer costs a request a few
    microseconds of FastAPI's bookkeeping, for nothing this route needs)."""
    knobs: Knobs = request.app.state.knobs
    settings: Settings = request.app.state.settings
    read = await _read(delivery)
    as_received = receiving.Delivery(
        delivery.provider, delivery.body, delivery.content_type, delivery.token
    )
    try:
        received = await committed_unit(
            request,
            lambda session: receiving.receive(
                as_received,
                read,
                session=session,
                knobs=knobs,
                now=now,
                max_file_bytes=settings.max_file_bytes,
            ),
        )
    except DomainError:  # a replayed token, an outage
        metrics.count_delivery(delivery.provider, "rejected")
        raise
    outcome = "quarantined" if received.reason is not None else "stored"
    metrics.count_delivery(delivery.provider, "duplicate" if received.duplicate else outcome)
    return InboundResult(
        ticket_id=received.ticket_id,
        ticket_number=received.ticket_number,
        duplicate=received.duplicate,
        quarantined=received.quarantine_id is not None and received.ticket_id is None,
        quarantine_id=received.quarantine_id,
    )


async def _read(delivery: Delivery) -> InboundEmail | Exception:
    """The delivery read, or what reading it raised (P1: the delivery is kept either way)."""
    try:
        body = delivery.body
        if len(body) <= INLINE_PARSE_BYTES and body.count(b"--") <= INLINE_PARSE_DASHES:
            return delivery.read()
        return await run_in_threadpool(delivery.read)
    except Exception as exc:
        if not isinstance(exc, MalformedEmail):
            log.exception("reading a %s delivery failed", delivery.provider)
        return exc


def _body(*media_types: str) -> dict[str, Any]:
    """The body a provider posts, for the OpenAPI document (the route reads it by hand): its
    fields are the provider's, documented by the provider."""
    content = {media_type: {"schema": {"type": "object"}} for media_type in media_types}
    return {"requestBody": {"content": content, "required": True}}


@router.post(
    "/mailgun",
    response_model=InboundResult,
    status_code=200,
    responses=RESPONSES,
    openapi_extra=_body("application/x-www-form-urlencoded", "multipart/form-data"),
)
async def mailgun(
    delivery: Annotated[Delivery, Depends(mailgun_delivery)], request: Request, now: Now
) -> InboundResult:
    """Mailgun route forward() (parsed fields or `body-mime`); signed, single-use tokens."""
    return await store(delivery, request=request, now=now)


@router.post(
    "/sendgrid",
    response_model=InboundResult,
    status_code=200,
    responses=RESPONSES,
    openapi_extra=_body("multipart/form-data"),
)
async def sendgrid(
    delivery: Annotated[Delivery, Depends(sendgrid_delivery)], request: Request, now: Now
) -> InboundResult:
    """SendGrid Inbound Parse (default or raw); basic auth."""
    return await store(delivery, request=request, now=now)


@router.post(
    "/postmark",
    response_model=InboundResult,
    status_code=200,
    responses=RESPONSES,
    openapi_extra=_body("application/json"),
)
async def postmark(
    delivery: Annotated[Delivery, Depends(postmark_delivery)], request: Request, now: Now
) -> InboundResult:
    """Postmark inbound webhook JSON; basic auth."""
    return await store(delivery, request=request, now=now)


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
    delivery: Annotated[Delivery, Depends(mime_delivery)], request: Request, now: Now
) -> InboundResult:
    """A raw RFC 5322 message from any relay; basic auth or an agent token."""
    return await store(delivery, request=request, now=now)
