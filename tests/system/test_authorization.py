"""The authorization matrix: every route the API serves against every kind of caller, from a
table written here by hand. A route the table does not name fails the test, so a new route
cannot slip in unguarded; the public routes answer a token-bearer as they answer anyone, and no
answer of any route leaks internals (tracebacks, SQL, file paths)."""

import re
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from app.db import get_engine
from app.main import create_app
from app.models.base import utcnow
from app.services.directory.auth import create_token, revoke_token
from tests.conftest import Api, make_settings

# Who may call each route: a role (and every role above it), or `public` (its own check, the
# same whatever bearer token is sent), or `feed` (the token in the URL, role feed only).
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "public",
    ("GET", "/readyz"): "public",
    ("GET", "/status/{token}"): "public",
    ("POST", "/api/v1/inbound/email/mailgun"): "public",
    ("POST", "/api/v1/inbound/email/sendgrid"): "public",
    ("POST", "/api/v1/inbound/email/postmark"): "public",
    ("POST", "/api/v1/inbound/email/mime"): "relay",  # basic auth, or an agent's token
    ("POST", "/api/v1/contact"): "public",
    ("GET", "/api/v1/contact/thanks"): "public",
    ("GET", "/api/v1/feeds/deadlines.ics"): "feed",
    ("POST", "/api/v1/customers"): "admin",
    ("GET", "/api/v1/customers"): "viewer",
    ("GET", "/api/v1/customers/{customer_id}"): "viewer",
    ("PATCH", "/api/v1/customers/{customer_id}"): "admin",
    ("POST", "/api/v1/calendars"): "admin",
    ("GET", "/api/v1/calendars"): "viewer",
    ("GET", "/api/v1/calendars/{calendar_id}"): "viewer",
    ("GET", "/api/v1/calendars/{calendar_id}/deadline"): "viewer",
    ("POST", "/api/v1/contracts"): "admin",
    ("GET", "/api/v1/contracts"): "viewer",
    ("GET", "/api/v1/contracts/{contract_id}"): "viewer",
    ("PATCH", "/api/v1/contracts/{contract_id}"): "admin",
    ("POST", "/api/v1/contracts/{contract_id}/renew"): "admin",
    ("GET", "/api/v1/contracts/{contract_id}/review"): "viewer",
    ("POST", "/api/v1/tickets"): "agent",
    ("GET", "/api/v1/tickets"): "viewer",
    ("GET", "/api/v1/tickets/{ticket_ref}"): "viewer",
    ("PATCH", "/api/v1/tickets/{ticket_ref}"): "agent",
    ("POST", "/api/v1/tickets/{ticket_ref}/take-charge"): "agent",
    ("POST", "/api/v1/tickets/{ticket_ref}/resolve"): "agent",
    ("POST", "/api/v1/tickets/{ticket_ref}/status"): "agent",
    ("POST", "/api/v1/tickets/{ticket_ref}/recompute-sla"): "agent",
    ("GET", "/api/v1/tickets/{ticket_ref}/sla"): "viewer",
    ("GET", "/api/v1/tickets/{ticket_ref}/sla/explain"): "viewer",
    ("POST", "/api/v1/tickets/{ticket_ref}/status-link/revoke"): "agent",
    ("GET", "/api/v1/tickets/{ticket_ref}/events"): "viewer",
    ("GET", "/api/v1/tickets/{ticket_ref}/messages"): "viewer",
    ("POST", "/api/v1/tickets/{ticket_ref}/time-entries"): "agent",
    ("GET", "/api/v1/tickets/{ticket_ref}/time-entries"): "viewer",
    ("GET", "/api/v1/tickets/{ticket_ref}/consent"): "viewer",
    ("POST", "/api/v1/tickets/{ticket_ref}/consent"): "agent",
    ("DELETE", "/api/v1/tickets/{ticket_ref}/time-entries/{entry_id}"): "agent",
    ("POST", "/api/v1/sla/preview"): "viewer",  # computes an answer, stores nothing
    ("GET", "/api/v1/sla/breaches"): "viewer",
    ("GET", "/api/v1/sla/at-risk"): "viewer",
    ("GET", "/api/v1/outbox"): "agent",
    ("POST", "/api/v1/outbox/{outbox_id}/retry"): "admin",
    ("GET", "/api/v1/reports/sla"): "viewer",
    ("GET", "/api/v1/reports/billing"): "viewer",
    ("POST", "/api/v1/billing/mark-billed"): "admin",
    ("POST", "/api/v1/webhooks"): "admin",
    ("GET", "/api/v1/webhooks"): "admin",
    ("GET", "/api/v1/webhooks/{webhook_id}"): "admin",
    ("PATCH", "/api/v1/webhooks/{webhook_id}"): "admin",
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): "admin",
    ("POST", "/api/v1/webhooks/{webhook_id}/rotate-secret"): "admin",
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries"): "admin",
    ("POST", "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): "admin",
    ("GET", "/api/v1/mailboxes"): "admin",
    ("POST", "/api/v1/mailboxes"): "admin",
    ("GET", "/api/v1/mailboxes/{mailbox_id}"): "admin",
    ("PATCH", "/api/v1/mailboxes/{mailbox_id}"): "admin",
    ("GET", "/api/v1/quarantine"): "agent",
    ("GET", "/api/v1/quarantine/{item_id}"): "agent",
    ("GET", "/api/v1/quarantine/{item_id}/raw"): "agent",
    ("POST", "/api/v1/quarantine/{item_id}/retry"): "agent",
    ("DELETE", "/api/v1/quarantine/{item_id}"): "admin",
    ("GET", "/status/{token}/files/{attachment_id}"): "public",
    ("POST", "/status/{token}/consent"): "public",
    ("POST", "/api/v1/tickets/{ticket_ref}/notes"): "agent",
    ("POST", "/api/v1/tickets/{ticket_ref}/replies"): "agent",
    ("POST", "/api/v1/tickets/{ticket_ref}/assign"): "agent",
    ("POST", "/api/v1/tickets/{ticket_ref}/merge"): "agent",
    ("GET", "/api/v1/attachments/{attachment_id}"): "viewer",
    ("GET", "/api/v1/me"): "viewer",
    ("POST", "/api/v1/staff"): "admin",
    ("GET", "/api/v1/staff"): "viewer",
    ("GET", "/api/v1/staff/{staff_id}"): "viewer",
    ("PATCH", "/api/v1/staff/{staff_id}"): "admin",
    ("POST", "/api/v1/tokens"): "admin",
    ("GET", "/api/v1/tokens"): "admin",
    ("POST", "/api/v1/tokens/{token_id}/revoke"): "admin",
    ("GET", "/api/v1/customers/{customer_id}/export"): "admin",
    ("GET", "/api/v1/people/export"): "admin",
    ("POST", "/api/v1/customers/{customer_id}/erase"): "admin",
    ("POST", "/api/v1/people/erase"): "admin",
}
# Routes outside the OpenAPI document, each with its own guard.
HIDDEN: dict[tuple[str, str], str] = {
    ("GET", "/docs"): "public",
    ("GET", "/redoc"): "public",
    ("GET", "/openapi.json"): "public",
    ("GET", "/metrics"): "public",  # from loopback (the address allowlist); tested on its own
}
CALLERS = ("none", "garbage", "revoked", "feed", "viewer", "agent", "admin")
RANK = {"feed": 0, "viewer": 1, "agent": 2, "admin": 3}
LEAKS = re.compile(r"Traceback|sqlalchemy|psycopg|sqlite3|/site-packages/|app/services/", re.I)


def _served() -> set[tuple[str, str]]:
    schema = create_app(make_settings("sqlite:///:memory:")).openapi()
    return {(method.upper(), path) for path, ops in schema["paths"].items() for method in ops}


def test_the_table_names_every_route_the_api_serves():
    served = _served()
    assert served - set(ROUTES) == set(), "a route with no row in the authorization table"
    assert set(ROUTES) - served == set(), "a row for a route that no longer exists"


ANY = {*range(200, 500)}  # a public route's own check decides; a bearer token changes nothing


def _expected(rule: str, caller: str) -> set[int] | None:
    """The statuses `caller` may get, or None for "past the guard" (anything but 401/403)."""
    if rule == "public":
        return ANY
    if rule == "relay":
        if caller in ("none", "garbage", "revoked"):
            return {401}  # neither basic auth nor a valid token
        return None if RANK[caller] >= RANK["agent"] else {403}
    if rule == "feed":
        return (
            {422}
            if caller == "none"
            else {401}
            if caller in ("garbage", "revoked")
            else (None if caller == "feed" else {403})
        )
    if caller in ("none", "garbage", "revoked"):
        return {401}
    return None if RANK[caller] >= RANK[rule] else {403}


@pytest.fixture
def tokens(api: Api, db: str) -> dict[str, str | None]:
    with Session(get_engine(db)) as session:
        made = {
            role: create_token(session=session, name=f"matrix-{role}", role=role, now=utcnow())
            for role in ("feed", "viewer", "agent", "admin", "revoked")
            if role != "revoked"
        }
        revoked, revoked_clear = create_token(
            session=session, name="matrix-revoked", role="admin", now=utcnow()
        )
        session.commit()
        revoke_token(revoked.id, session=session, now=utcnow())
        session.commit()
    return {
        "none": None,
        "garbage": "spt_this-is-not-a-token",
        "revoked": revoked_clear,
        **{role: clear for role, (_, clear) in made.items()},
    }


def _call(
    client: httpx.Client, method: str, path: str, rule: str, token: str | None
) -> httpx.Response:
    concrete = re.sub(r"\{[^}]+\}", "1", path)
    headers: dict[str, str] = {}
    params: dict[str, str] = {}
    if rule == "feed":
        if token:
            params["token"] = token  # calendar apps cannot send headers
    elif token:
        headers["Authorization"] = f"Bearer {token}"
    body: dict[str, Any] = {"json": {}} if method in ("POST", "PATCH") else {}
    return client.request(method, concrete, headers=headers, params=params, **body)


def test_every_route_against_every_caller(api: Api, tokens: dict[str, str | None]):
    wrong = []
    for (method, path), rule in {**ROUTES, **HIDDEN}.items():
        for caller in CALLERS:
            response = _call(api.anonymous, method, path, rule, tokens[caller])
            expected = _expected(rule, caller)
            ok = (
                response.status_code not in (401, 403)
                if expected is None
                else response.status_code in expected
            )
            if not ok or response.status_code >= 500:
                wrong.append((method, path, caller, response.status_code, expected))
            if LEAKS.search(response.text):
                wrong.append((method, path, caller, "leaks internals", response.text[:200]))
    assert wrong == []


def test_a_public_route_answers_a_token_bearer_as_it_answers_anyone(
    api: Api, tokens: dict[str, str | None]
):
    for (method, path), rule in ROUTES.items():
        if rule != "public" or path in ("/readyz",):
            continue
        answers = {
            caller: _call(api.anonymous, method, path, rule, tokens[caller]).status_code
            for caller in CALLERS
        }
        assert len(set(answers.values())) == 1, (method, path, answers)
