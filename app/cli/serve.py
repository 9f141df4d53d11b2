"""Running Sportello: migrate the database, serve the API, run the worker, print the OpenAPI
document."""

import asyncio
import atexit
import json
import os
import shutil
import signal
import tempfile
from typing import Annotated

import typer

from app import logs, migrations, sealing
from app.cli.common import check_keys, fail, group, log, safe_url, setup_logging, use_keys
from app.db import get_engine
from app.errors import is_outage
from app.settings import get_settings

commands = group()


@commands.command()
def migrate() -> None:
    """Bring the database schema up to date (sealing stored secrets with the keys)."""
    setup_logging()
    use_keys(make=True)
    url = get_settings().database_url
    log.info("migrating %s", safe_url(url))
    try:
        migrations.upgrade(url)
    except sealing.KeyProblem as exc:
        fail(str(exc))
    except Exception as exc:
        if not is_outage(exc):
            raise
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        fail(f"the database {safe_url(url)} cannot be reached: {reason}")


@commands.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    run_migrations: Annotated[
        bool,
        typer.Option(
            "--migrate/--no-migrate",
            help="Migrate first; --no-migrate where `sportello migrate` runs as its own step.",
        ),
    ] = True,
) -> None:
    """Migrate, then serve the API."""
    import uvicorn

    if run_migrations:
        migrate()
    else:
        setup_logging()
        use_keys(make=True)
    check_keys()
    target: object = "app.main:app"  # each worker process imports it
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker process counts in files here; a scrape adds them all up (app.metrics).
        directory = tempfile.mkdtemp(prefix="sportello-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
    if workers == 1:
        from app.main import app

        target = app
    log.info("serving on http://%s:%d", host, port)
    uvicorn.run(
        target,  # type: ignore[arg-type]
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,
        log_config=logs.config(get_settings().log_level, get_settings().log_format),
        access_log=False,
    )


@commands.command()
def worker() -> None:
    """Run the outbox worker and the mailbox poller alone (run `sportello migrate` first);
    stop them with SIGTERM or Ctrl-C.

    Several workers, and API processes with SPORTELLO_WORKER=false, can share one PostgreSQL:
    each row is sent by one worker, each mailbox read by one poller at a time.
    """
    from app.runners.mailbox_poller import MailPoller
    from app.runners.outbox_worker import Worker
    from app.services.knobs import knobs_from

    setup_logging()
    use_keys()
    check_keys()
    settings = get_settings()
    engine = get_engine(settings.database_url)
    worker = Worker.for_settings(engine, settings)
    poller = MailPoller(engine, settings=settings, knobs=knobs_from(settings))

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await asyncio.gather(worker.run(stop), poller.run(stop))

    asyncio.run(run())


@commands.command()
def openapi() -> None:
    """Print the OpenAPI document as JSON (`make client` generates a Python client from it)."""
    from app.main import create_app

    typer.echo(json.dumps(create_app(get_settings()).openapi(), indent=2, ensure_ascii=False))
