"""Liveness and readiness probes."""

from fastapi import APIRouter
from sqlalchemy import text

from app.deps import EngineDep
from app.errors import ServiceUnavailable
from app.models.common import Schema
from app.routers._responses import problems

router = APIRouter(tags=["health"])


class Health(Schema):
    status: str
    """`ok` when the process (liveness) or the database (readiness) answers."""


@router.get("/healthz", response_model=Health, status_code=200)
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, status_code=200, responses=problems(503))
def readyz(engine: EngineDep) -> Health:
    """The database answers."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        raise ServiceUnavailable(
            "The database does not answer.", headers={"Retry-After": "5"}
        ) from exc
    return Health(status="ready")
