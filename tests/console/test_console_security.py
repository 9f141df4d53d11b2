"""Every route of the staff console, taken from the app itself, against the console's guards:
no session, a viewer, a missing or forged CSRF token, a closed or timed-out session, and too
many sign-in attempts. A route added later without a line in ROUTES fails the first test."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.deps import get_now
from app.enums import Role
from app.services.console import sign_in
from tests.conftest import LiveServer
from tests.console.test_console import Desk, add_member


@dataclass(frozen=True)
class Sample:
    """How to try one console route: a concrete path, and who may use it."""

    path: str
    role: Role | None
    """The least role that may read the page or post the form (the API route's); None: any
    staff member signed in (sign-out), or no one yet (the sign-in pages and forms)."""
    before_session: bool = False
    """A sign-in page or form: used before any session (its CSRF token is a cookie of its own)."""


LINK = "x" * 43
# Every console route (method, path as the router declares it): how to try it, who may use it.
ROUTES: dict[tuple[str, str], Sample] = {
    ("GET", "/console/sign-in"): Sample("/console/sign-in", None, before_session=True),
    ("POST", "/console/sign-in"): Sample("/console/sign-in", None, before_session=True),
    ("GET", "/console/link/{token}"): Sample(f"/console/link/{LINK}", None, before_session=True),
    ("POST", "/console/link"): Sample("/console/link", None, before_session=True),
    ("POST", "/console/sign-out"): Sample("/console/sign-out", None),
    ("GET", "/console/"): Sample("/console/?view=mine", Role.VIEWER),
    ("GET", "/console/tickets/{number}"): Sample("/console/tickets/2026-000001", Role.VIEWER),
    ("POST", "/console/language"): Sample("/console/language", None),
    **{
        ("POST", f"/console/tickets/{{number}}/{action}"): Sample(
            f"/console/tickets/2026-000001/{action}", Role.AGENT
        )
        for action in (
            "take-charge",
            "replies",
            "notes",
            "assign",
            "status",
            "time-entries",
            "merge",
        )
    },
    ("GET", "/console/attachments/{attachment_id}"): Sample("/console/attachments/1", Role.VIEWER),
    ("GET", "/console/customers"): Sample("/console/customers", Role.VIEWER),
    ("POST", "/console/customers"): Sample("/console/customers", Role.ADMIN),
    ("GET", "/console/customers/{customer_id}"): Sample("/console/customers/1", Role.VIEWER),
    ("POST", "/console/customers/{customer_id}"): Sample("/console/customers/1", Role.ADMIN),
    ("GET", "/console/contracts"): Sample("/console/contracts?watch=ending", Role.VIEWER),
    ("POST", "/console/contracts"): Sample("/console/contracts", Role.ADMIN),
    ("GET", "/console/contracts/{contract_id}"): Sample("/console/contracts/1", Role.VIEWER),
    ("POST", "/console/contracts/{contract_id}"): Sample("/console/contracts/1", Role.ADMIN),
    ("POST", "/console/contracts/{contract_id}/renew"): Sample(
        "/console/contracts/1/renew", Role.ADMIN
    ),
    ("GET", "/console/contracts/{contract_id}/review"): Sample(
        "/console/contracts/1/review", Role.VIEWER
    ),
    ("GET", "/console/statement"): Sample("/console/statement?month=2026-11", Role.VIEWER),
    ("GET", "/console/statement/print"): Sample("/console/statement/print", Role.VIEWER),
    ("GET", "/console/billing"): Sample("/console/billing?month=2026-11", Role.VIEWER),
    ("POST", "/console/billing/mark-billed"): Sample("/console/billing/mark-billed", Role.ADMIN),
    ("GET", "/console/outbox"): Sample("/console/outbox?state=failed", Role.AGENT),
    ("POST", "/console/outbox/{outbox_id}/retry"): Sample("/console/outbox/1/retry", Role.ADMIN),
    ("GET", "/console/quarantine"): Sample("/console/quarantine", Role.AGENT),
    ("GET", "/console/quarantine/{item_id}/raw"): Sample("/console/quarantine/1/raw", Role.AGENT),
    ("POST", "/console/quarantine/{item_id}/retry"): Sample(
        "/console/quarantine/1/retry", Role.AGENT
    ),
    ("POST", "/console/quarantine/{item_id}/delete"): Sample(
        "/console/quarantine/1/delete", Role.ADMIN
    ),
    ("GET", "/console/mailboxes"): Sample("/console/mailboxes", Role.ADMIN),
    ("GET", "/console/staff"): Sample("/console/staff", Role.ADMIN),
    ("POST", "/console/staff"): Sample("/console/staff", Role.ADMIN),
    ("POST", "/console/staff/{staff_id}/{change}"): Sample(
        "/console/staff/1/deactivate", Role.ADMIN
    ),
    ("POST", "/console/tokens"): Sample("/console/tokens", Role.ADMIN),
    ("POST", "/console/tokens/{token_id}/revoke"): Sample("/console/tokens/1/revoke", Role.ADMIN),
}


def console_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app serves under /console, as its routers declare them."""
    try:
        from fastapi.routing import iter_route_contexts  # included routers, resolved

        routes: list[Any] = list(iter_route_contexts(app.routes))
    except ImportError:  # FastAPI before 0.160: the app's routes are the routes themselves
        routes = list(app.routes)
    return {
        (method, route.path)
        for route in routes
        if str(getattr(route, "path", "")).startswith("/console")
        for method in set(getattr(route, "methods", None) or ()) - {"HEAD"}
    }


def samples(method: str, *, before_session: bool = False) -> list[Sample]:
    return [
        sample
        for (verb, _), sample in ROUTES.items()
        if verb == method and sample.before_session == before_session
    ]


@pytest.fixture
def signed_in(db: str, desk) -> Iterator[dict[Role, Desk]]:
    """A desk signed in for each role."""
    desks = {}
    for role in (Role.VIEWER, Role.AGENT, Role.ADMIN):
        add_member(db, f"{role}@agency.example", role=role)
        desks[role] = desk()
        assert desks[role].sign_in(f"{role}@agency.example").status_code == 303
    yield desks


def test_every_console_route_has_a_line_in_the_table(live_server: LiveServer) -> None:
    served = console_routes(live_server.app)
    assert served, "no console route found"
    missing = sorted(served - ROUTES.keys())
    assert not missing, f"console routes without a sample in ROUTES: {missing}"
    assert not ROUTES.keys() - served, (
        f"ROUTES names routes that are gone: {ROUTES.keys() - served}"
    )


def test_without_a_session_every_page_sends_to_sign_in_and_every_form_is_refused(desk) -> None:
    anonymous = desk()
    for sample in samples("GET"):
        answer = anonymous.client.get(sample.path)
        assert (answer.status_code, answer.headers.get("location")) == (303, "/console/sign-in"), (
            sample.path
        )
    for sample in samples("POST"):
        answer = anonymous.client.post(sample.path, data={"csrf": "x" * 64})
        assert (answer.status_code, answer.headers.get("location")) == (303, "/console/sign-in"), (
            sample.path
        )
    # The sign-in pages are open; their forms want the token their page set as a cookie.
    for sample in samples("GET", before_session=True):
        assert anonymous.client.get(sample.path).status_code == 200, sample.path
    for sample in samples("POST", before_session=True):
        fresh = httpx.post(anonymous.base_url + sample.path, data={"csrf": "x" * 43})
        assert fresh.status_code == 403, sample.path
    forged = httpx.get(anonymous.base_url + "/console/", cookies={"sportello_console": "x" * 43})
    assert forged.status_code == 303


def test_each_role_reads_only_its_pages_and_a_viewer_posts_nothing(
    signed_in: dict[Role, Desk],
) -> None:
    ranks = {Role.VIEWER: 0, Role.AGENT: 1, Role.ADMIN: 2}
    for role, member in signed_in.items():
        for sample in samples("GET"):
            answer = member.client.get(sample.path)
            if sample.role is not None and ranks[role] < ranks[sample.role]:
                assert answer.status_code == 403, (role, sample.path)
                assert f"({role})" in answer.text
            else:
                assert answer.status_code in (200, 404), (role, sample.path, answer.text)
    viewer = signed_in[Role.VIEWER]
    csrf = viewer.csrf()
    for sample in samples("POST"):
        if sample.role is None:
            continue  # signing out and choosing a language are for everyone
        answer = viewer.client.post(sample.path, data={"csrf": csrf})
        assert answer.status_code == 403, sample.path
        assert "Il tuo ruolo (viewer) non consente questa azione." in answer.text
    agent = signed_in[Role.AGENT]
    csrf = agent.csrf()
    for sample in samples("POST"):
        if sample.role == Role.ADMIN:
            assert agent.client.post(sample.path, data={"csrf": csrf}).status_code == 403


def test_a_form_without_its_csrf_token_or_with_another_is_refused(
    signed_in: dict[Role, Desk],
) -> None:
    admin, other = signed_in[Role.ADMIN], signed_in[Role.AGENT]
    for sample in samples("POST"):
        for data in ({}, {"csrf": ""}, {"csrf": "0" * 64}, {"csrf": other.csrf()}):
            answer = admin.client.post(sample.path, data=data)
            assert answer.status_code == 403, (sample.path, data)
            assert "Modulo scaduto" in answer.text
    assert admin.client.get("/console/").status_code == 200  # still signed in


def test_a_form_posted_from_another_site_is_refused_even_with_its_token(
    signed_in: dict[Role, Desk], desk
) -> None:
    """A browser names the page a form came from (Origin): another site's form is refused,
    whatever token it carries (a sibling subdomain can plant the sign-in form's cookie)."""
    admin = signed_in[Role.ADMIN]
    csrf = admin.csrf()
    for origin in (
        "https://evil.example",
        "null",
        admin.base_url.replace("127.0.0.1", "localhost"),
    ):
        for sample in samples("POST"):
            answer = admin.client.post(sample.path, data={"csrf": csrf}, headers={"Origin": origin})
            assert answer.status_code == 403, (origin, sample.path)
            assert "Modulo scaduto" in answer.text
        stranger = desk()
        token = stranger.form_token()
        signing = stranger.client.post(
            "/console/sign-in",
            data={"email": "x@agency.example", "password": "x", "csrf": token},
            headers={"Origin": origin},
        )
        assert signing.status_code == 403, origin
    # The console's own pages post with its own origin, as a browser sends it.
    own = admin.client.post(
        "/console/language",
        data={"csrf": csrf, "language": "en"},
        headers={"Origin": admin.base_url},
    )
    assert own.status_code == 303


def test_after_sign_out_the_old_cookie_opens_nothing(signed_in: dict[Role, Desk]) -> None:
    admin = signed_in[Role.ADMIN]
    cookie, csrf = admin.client.cookies["sportello_console"], admin.csrf()
    assert admin.client.post("/console/sign-out", data={"csrf": csrf}).status_code == 303
    replay = httpx.Client(base_url=admin.base_url, cookies={"sportello_console": cookie})
    with replay:
        for sample in samples("GET"):
            assert replay.get(sample.path).status_code == 303, sample.path
        for sample in samples("POST"):
            answer = replay.post(sample.path, data={"csrf": csrf})
            assert answer.headers.get("location") == "/console/sign-in", sample.path


def test_a_timed_out_session_is_gone_idle_or_absolute(db: str, serve) -> None:
    server = serve(console_idle_minutes=30, console_session_hours=2)
    start = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    clock = [start]
    server.app.dependency_overrides[get_now] = lambda: clock[0]
    add_member(db, "ada@agency.example", role=Role.ADMIN)
    ada = Desk(server.base_url)
    with ada.client:
        # Idle: 30 minutes without a request; going back in time does not bring it back.
        ada.sign_in("ada@agency.example")
        clock[0] = start + timedelta(minutes=30)
        assert ada.client.get("/console/customers").status_code == 303
        ada.client.cookies.clear()
        ada.sign_in("ada@agency.example")
        cookie = ada.client.cookies["sportello_console"]
        clock[0] += timedelta(minutes=31)
        csrf = sign_in.csrf_token(cookie)
        assert ada.client.post("/console/tokens/1/revoke", data={"csrf": csrf}).status_code == 303
        clock[0] -= timedelta(minutes=30)
        replay = httpx.get(server.base_url + "/console/", cookies={"sportello_console": cookie})
        assert replay.status_code == 303  # deleted, not merely expired

        # Absolute: used every 20 minutes, it still ends 2 hours after sign-in.
        ada.client.cookies.clear()
        signed_at = clock[0]
        ada.sign_in("ada@agency.example")
        cookie = ada.client.cookies["sportello_console"]
        while clock[0] + timedelta(minutes=20) < signed_at + timedelta(hours=2):
            clock[0] += timedelta(minutes=20)
            assert ada.client.get("/console/staff").status_code == 200
        clock[0] = signed_at + timedelta(hours=2)
        assert ada.client.get("/console/staff").status_code == 303
        clock[0] = signed_at + timedelta(minutes=1)
        replay = httpx.get(server.base_url + "/console/", cookies={"sportello_console": cookie})
        assert replay.status_code == 303


def _from(server: LiveServer, address: str) -> Desk:
    """A desk whose requests come from another loopback address."""
    member = Desk(server.base_url)
    member.client.close()
    member.client = httpx.Client(
        base_url=server.base_url,
        timeout=30,
        transport=httpx.HTTPTransport(local_address=address),
    )
    return member


def test_sign_in_is_limited_per_address_and_per_account(db: str, serve) -> None:
    server = serve(console_sign_in_limit=3, console_sign_in_window_seconds=300)
    for name in ("anna", "bruno", "carla", "dario", "elsa"):
        add_member(db, f"{name}@agency.example")

    # Per address: three accounts tried from 127.0.0.2, then even a right password is refused
    # from there, while another address signs the same account in.
    guesser = _from(server, "127.0.0.2")
    for name in ("anna", "bruno", "carla"):
        assert guesser.sign_in(f"{name}@agency.example", "wrong password!").status_code == 401
    refused = guesser.sign_in("dario@agency.example")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert _from(server, "127.0.0.3").sign_in("dario@agency.example").status_code == 303

    # Per account: one account tried from three addresses, then refused from a fourth.
    for number in (4, 5, 6):
        wrong = _from(server, f"127.0.0.{number}").sign_in("elsa@agency.example", "not it!!")
        assert wrong.status_code == 401
    locked = _from(server, "127.0.0.7").sign_in("elsa@agency.example")
    assert locked.status_code == 429 and "Troppi tentativi" in locked.text
