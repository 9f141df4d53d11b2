"""Every internal route needs a token; roles narrow what a token may do (API.md conventions)."""

import re

import pytest
from sqlmodel import select

from app.main import PUBLIC_PREFIXES, create_app
from app.models.api_token import ApiToken
from app.models.base import utcnow
from tests.conftest import make_settings

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# POSTs that compute an answer and store nothing: viewers may call them.
READ_ONLY_POSTS = {("POST", "/api/v1/sla/preview")}


def _internal_routes() -> list[tuple[str, str]]:
    app = create_app(make_settings("sqlite:///:memory:"))
    routes = []
    # Every route the app serves, however deeply routers are included: the OpenAPI document
    # lists them all (no API route is hidden from it; only /docs, /redoc and /metrics are,
    # each tested on its own).
    for path, operations in app.openapi()["paths"].items():
        if not path.startswith("/api/v1") or path.startswith(PUBLIC_PREFIXES):
            continue
        routes.extend((method.upper(), re.sub(r"\{[^}]+\}", "1", path)) for method in operations)
    return routes


INTERNAL = _internal_routes()


def test_the_walk_finds_the_internal_routes():
    assert ("POST", "/api/v1/customers") in INTERNAL
    assert ("PATCH", "/api/v1/contracts/1") in INTERNAL
    assert len(INTERNAL) >= 10


@pytest.mark.parametrize(("method", "path"), INTERNAL)
def test_every_internal_route_answers_401_without_a_token(api, method, path):
    response = api.anonymous.request(method, path, json={})
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("method", "path"), [r for r in INTERNAL if r[0] in WRITE_METHODS and r not in READ_ONLY_POSTS]
)
def test_viewer_writes_get_403(api, method, path):
    response = api.viewer.request(method, path, json={})
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(("method", "path"), sorted(READ_ONLY_POSTS))
def test_read_only_posts_are_open_to_viewers(api, method, path):
    assert (method, path) in INTERNAL
    assert api.viewer.request(method, path, json={}).status_code == 422  # past auth


def test_a_wrong_token_is_401_and_a_revoked_one_too(api, session):
    assert (
        api.anonymous.get("/api/v1/customers", headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )
    assert api.viewer.get("/api/v1/customers").status_code == 200
    token = session.exec(select(ApiToken).where(ApiToken.role == "viewer")).one()
    token.revoked_at = utcnow()
    session.add(token)
    session.commit()
    assert api.viewer.get("/api/v1/customers").status_code == 401


def test_agent_reads_but_cannot_administer(api):
    assert api.agent.get("/api/v1/contracts").status_code == 200
    assert api.agent.post("/api/v1/customers", json={"name": "X"}).status_code == 403
    assert api.admin.post("/api/v1/customers", json={"name": "X"}).status_code == 201


def test_health_needs_no_token(api):
    assert api.anonymous.get("/healthz").json() == {"status": "ok"}
    assert api.anonymous.get("/readyz").json() == {"status": "ready"}
