"""Error responses declared on routes, so the OpenAPI document lists them."""

from typing import Any

from pydantic import BaseModel


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for these error statuses."""
    return {s: {"model": Problem, "content": {"application/problem+json": {}}} for s in statuses}


AUTH = (401, 403)
READ = problems(*AUTH, 404)
WRITE = problems(*AUTH, 404, 409, 413, 422)
