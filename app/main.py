"""The FastAPI application: middleware, routers, error handlers."""

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app import sealing
from app.console import desk_pages as console_desk
from app.console import guard as console_guard
from app.console import routes as console
from app.db import POOL_SIZE, WORKER_THREADS, get_engine, is_sqlite
from app.deps import get_principal
from app.errors import install_database_error_handler, install_error_handlers
from app.middleware import AccessLog, BodyLimits, Bugs, SecurityHeaders
from app.rendering import page_policy
from app.routers import (
    attachments,
    calendars,
    consent,
    contact,
    contracts,
    conversation,
    customers,
    docs,
    feeds,
    health,
    inbound,
    mailboxes,
    metrics,
    outbox,
    pages,
    privacy,
    quarantine,
    reports,
    sla,
    staff,
    status_page,
    tickets,
    time_entries,
    webhooks,
)
from app.runners.mailbox_poller import MailPoller
from app.runners.outbox_worker import Worker
from app.services.knobs import knobs_from
from app.settings import Settings, get_settings

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
# Routes reachable without a bearer token: each has its own check (or none, by design).
PUBLIC_PREFIXES = (f"{API_PREFIX}/contact", f"{API_PREFIX}/inbound/", f"{API_PREFIX}/feeds/")
# Where mail and the website deliver: bodies up to the message limit, refusals logged as warnings.
LARGE_BODY_PREFIXES = (f"{API_PREFIX}/contact", f"{API_PREFIX}/inbound/")
FILE_BODY_SUFFIXES = ("/notes", "/replies")
# The cyclic garbage collector's thresholds (Python's own are 700, 10, 10): the many objects of
# a large answer (a conversation of 1,000 messages) no longer set off a collection of the whole
# heap every few dozen such requests, each a pause of ~100 ms (docs/adr/0007-gc-thresholds.md).
GC_THRESHOLDS = (10_000, 10, 100)


def _carries_files(path: str) -> bool:
    """A reply or a note with files: as large as an email may be."""
    return path.startswith(f"{API_PREFIX}/tickets/") and path.endswith(FILE_BODY_SUFFIXES)


def _operation_id(route: APIRoute) -> str:
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name.rstrip('_')}"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the outbox worker and the mailbox poller beside the API, unless SPORTELLO_WORKER
    is false."""
    settings: Settings = app.state.settings
    # Endpoints run on this many threads (anyio's default is 40): see app.db.WORKER_THREADS.
    threads = WORKER_THREADS[app.state.engine.dialect.name]
    anyio.to_thread.current_default_thread_limiter().total_tokens = threads
    gc.set_threshold(*GC_THRESHOLDS)
    sealing.check_at_start(app.state.engine)  # a wrong key stops the start, not a request
    if not settings.worker:
        yield
        return
    turn = app.state.sqlite_writer if is_sqlite(app.state.engine) else None
    worker = Worker.for_settings(app.state.engine, settings, turn=turn)
    poller = MailPoller(app.state.engine, settings=settings, knobs=app.state.knobs, turn=turn)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(worker.run(stop)), asyncio.create_task(poller.run(stop))]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for these settings (tests pass their own)."""
    settings = settings or get_settings()

    app = FastAPI(
        lifespan=lifespan,
        title="Sportello",
        version="0.1.0",
        summary="SLA-aware technical-support desk.",
        description="Tickets from email and the website form, take-charge deadlines on "
        "business-hours calendars, customer notifications and billing. The guide to this API "
        "is `docs/api.md` and the rules R1-R17 cited here are in `docs/rules.md`, both in "
        "Sportello's repository.",
        generate_unique_id_function=_operation_id,
        # One schema per model, not an -Input and an -Output twin: a generated client gets
        # one class for each.
        separate_input_output_schemas=False,
        docs_url=None,  # served by routers/docs.py with packaged assets, no CDN
        redoc_url=None,
    )
    app.state.settings = settings
    sealing.configure(sealing.keys_from(settings))  # the process's keys (GDPR art. 32)
    app.state.knobs = knobs_from(settings)
    app.state.engine = get_engine(settings.database_url)
    app.state.sqlite_writer = asyncio.Lock()  # see app.deps.request_unit_of_work
    app.state.session_slots = asyncio.Semaphore(POOL_SIZE)  # the same (PostgreSQL)
    install_error_handlers(app)
    install_database_error_handler(app)
    app.add_exception_handler(contact.FormPageError, contact.form_error_page)
    _add_middleware(app, settings)
    _add_routes(app)
    if settings.console:  # off: /console/ is a 404 like any unknown path
        console_guard.install(app)
        app.include_router(console.router)
        app.include_router(console_desk.router)
    return app


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    """The answer to a bug, body limits, CORS for the contact form, security headers, the
    access log, proxies; the last added is the outermost."""

    def limit_for(path: str) -> int:
        if path.startswith(LARGE_BODY_PREFIXES) or _carries_files(path):
            return settings.max_message_bytes
        return settings.max_json_bytes

    app.add_middleware(Bugs)
    app.add_middleware(
        BodyLimits, limit_for=limit_for, read_timeout=settings.body_read_timeout_seconds
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["POST", "GET"],
            allow_headers=["Content-Type"],
            max_age=600,
        )
    app.add_middleware(SecurityHeaders, policy=page_policy())
    app.add_middleware(AccessLog, watched=LARGE_BODY_PREFIXES)
    if settings.forwarded_allow_ips:
        # Outermost: behind these proxies the client is the address they forward (the
        # contact form's rate limit counts it), whichever server runs the app.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)


def _add_routes(app: FastAPI) -> None:
    """Pages and probes at the root; the API under its prefix, public routes first."""
    app.mount(docs.ASSETS_URL, StaticFiles(directory=docs.ASSETS), name="docs-assets")
    app.include_router(docs.router)
    app.include_router(health.router)
    app.include_router(metrics.router)  # its own guard: a token or an address allowlist
    app.include_router(status_page.router)  # the customer's page: its token is its check
    app.include_router(pages.router)  # what the customer's pages load: style, logo
    # Public: each checks its caller itself (provider signatures, basic auth) or is open by
    # design and rate limited (the website's contact form).
    public = APIRouter(prefix=API_PREFIX)
    public.include_router(inbound.router)
    public.include_router(contact.router)
    public.include_router(feeds.router)  # its token is in the URL (calendar apps)
    # First: routes are matched in order, and webhooks are the busiest (no path overlaps).
    app.include_router(public)
    # Every internal route needs a token; a router's own `require(role)` narrows it further.
    internal = APIRouter(prefix=API_PREFIX, dependencies=[Depends(get_principal)])
    for module in (
        tickets,  # first: the work queue and the ticket page are the most read
        conversation,
        consent,
        customers,
        calendars,
        contracts,
        attachments,
        time_entries,
        sla,
        outbox,
        quarantine,
        reports,
        mailboxes,
        staff,
        webhooks,
        privacy,
    ):
        internal.include_router(module.router)
    app.include_router(internal)


app = create_app()
