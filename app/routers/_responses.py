"""Responses declared on routes (errors, so the OpenAPI document lists them; 201's Location)."""

from typing import Annotated, Any

from fastapi import Depends, Request, Response

from app.models.common import Schema


class Problem(Schema):
    """RFC 9457 problem details."""

    type: str
    """A URI naming the kind of problem, e.g. https://sportello.dev/problems/validation-error."""
    title: str
    """The kind of problem in words."""
    status: int
    """The HTTP status."""
    detail: str
    """What went wrong with this request, and what to do."""
    instance: str | None = None
    """The path that answered."""
    errors: list[dict[str, Any]] | None = None
    """For invalid input: one entry per bad field (`field`, `message`, `type`, `location`)."""


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for these error statuses."""
    return {s: {"model": Problem, "content": {"application/problem+json": {}}} for s in statuses}


AUTH = (401, 403)
READ = problems(*AUTH, 404, 422)
# 400: a body that is not JSON at all (or nested too deep), before any field is looked at.
WRITE = problems(400, *AUTH, 404, 409, 413, 422)


class Created:
    """Sets a 201's `Location` to the new resource: the collection's path and its id."""

    def __init__(self, request: Request, response: Response) -> None:
        self.collection, self.response = request.url.path.rstrip("/"), response

    def at(self, resource_id: int | str | None) -> None:
        self.response.headers["Location"] = f"{self.collection}/{resource_id}"


CreatedDep = Annotated[Created, Depends()]
LOCATION = {"Location": {"description": "The new resource.", "schema": {"type": "string"}}}
CREATE = {**WRITE, 201: {"description": "Created; `Location` names it.", "headers": LOCATION}}


def stored_file(description: str) -> dict[int | str, dict[str, Any]]:
    """A 200 that is a stored file: its bytes with the type it was stored with (a browser would
    run HTML, SVG, XML or script, so those go out as application/octet-stream)."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {200: {"description": description, "content": {"*/*": binary}}}


def serialised(content: bytes) -> Response:
    """A 200 whose JSON the service already wrote with the route's response_model: FastAPI
    neither validates it again nor serialises it twice (nor hops to a thread to do so); the
    route's response_model still documents it."""
    return Response(content, media_type="application/json")
