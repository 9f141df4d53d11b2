"""The staff console over real HTTP: sign-in, sessions, CSRF, roles, the queue's rows (every
route against the guards: test_console_security.py)."""

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import Session

from app.deps import get_now
from app.enums import Role
from app.models.staff import StaffMember
from app.services.console import sign_in
from app.services.console.words import business_time
from tests.conftest import Api, LiveServer
from tests.routers.test_tickets import new_ticket, rossi  # noqa: F401

PASSWORD = "correct horse battery staple"


def add_member(
    db: str, email: str, *, role: Role = Role.AGENT, active: bool = True, language: str = "it"
) -> None:
    """A staff member with PASSWORD."""
    from app.db import get_engine

    with Session(get_engine(db)) as session:
        person = StaffMember(
            name=email.split("@")[0].title(),
            email=email,
            role=role,
            active=active,
            language=language,
        )
        session.add(person)
        session.flush()
        sign_in.set_password(email, PASSWORD, session=session)
        session.commit()


class Desk:
    """A browser-like client: cookies kept, redirects not followed (they are asserted)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client = httpx.Client(base_url=base_url, timeout=30)

    def form_token(self, path: str = "/console/sign-in") -> str:
        page = self.client.get(path)
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found, page.text
        return found.group(1)

    def sign_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        csrf = self.form_token()
        return self.client.post(
            "/console/sign-in", data={"email": email, "password": password, "csrf": csrf}
        )

    def csrf(self) -> str:
        return self.form_token("/console/")


@pytest.fixture
def desk(live_server: LiveServer, db: str) -> Iterator[Callable[..., Desk]]:
    clients: list[Desk] = []

    def make(server: LiveServer = live_server) -> Desk:
        clients.append(Desk(server.base_url))
        return clients[-1]

    yield make
    for made in clients:
        made.client.close()


def test_sign_in_page_headers_are_strict(desk) -> None:
    page = desk().client.get("/console/sign-in")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    # Scripts: only the console's own file (its keys, the queue's refresh), never inline; it
    # asks only us.
    assert "script-src 'self';" in policy and "default-src 'none'" in policy
    assert "connect-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy and "form-action 'self'" in policy
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-store"
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # http on loopback


def test_sign_in_then_the_queue_then_sign_out(db: str, desk) -> None:
    add_member(db, "marco@agency.example")
    marco = desk()
    answer = marco.sign_in("Marco@Agency.example")
    assert (answer.status_code, answer.headers["location"]) == (303, "/console/")
    cookie = answer.headers["set-cookie"]
    assert "sportello_console=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    queue = marco.client.get("/console/")
    assert queue.status_code == 200 and "Connesso come Marco" in queue.text
    assert 'data-refresh="/console/?refresh=auto"' in queue.text  # app/static/console.js
    token = marco.client.cookies["sportello_console"]
    answer = marco.client.post("/console/sign-out", data={"csrf": marco.csrf()})
    assert (answer.status_code, answer.headers["location"]) == (303, "/console/sign-in")
    # The old cookie, replayed, names no session any more.
    replayed = httpx.get(marco.base_url + "/console/", cookies={"sportello_console": token})
    assert replayed.status_code == 303


def test_wrong_password_inactive_member_and_unknown_address_are_refused_alike(db, desk) -> None:
    add_member(db, "marco@agency.example")
    add_member(db, "gone@agency.example", active=False)
    for email, password in (
        ("marco@agency.example", "wrong horse battery staple"),
        ("gone@agency.example", PASSWORD),
        ("nobody@agency.example", PASSWORD),
    ):
        answer = desk().sign_in(email, password)
        assert answer.status_code == 401
        assert "Indirizzo o password errati" in answer.text
        assert "sportello_console=" not in answer.headers.get("set-cookie", "")


def test_a_form_without_or_with_a_wrong_csrf_token_is_refused(db, desk) -> None:
    add_member(db, "marco@agency.example")
    marco = desk()
    # The sign-in form itself.
    for data in ({}, {"csrf": "forged-token-forged-token"}):
        answer = marco.client.post(
            "/console/sign-in", data={"email": "marco@agency.example", "password": PASSWORD, **data}
        )
        assert answer.status_code == 403
    marco.sign_in("marco@agency.example")
    other = desk()
    add_member(db, "anna@agency.example")
    other.sign_in("anna@agency.example")
    for data in ({}, {"csrf": "0" * 64}, {"csrf": other.csrf()}):
        answer = marco.client.post("/console/sign-out", data=data)
        assert answer.status_code == 403
        assert "Modulo scaduto" in answer.text
    assert marco.client.get("/console/").status_code == 200  # still signed in


def test_a_viewer_signs_in_and_reads_but_cannot_act(api: Api, db, desk, rossi) -> None:  # noqa: F811
    ticket = new_ticket(api)
    add_member(db, "vera@agency.example", role=Role.VIEWER, language="en")
    vera = desk()
    vera.sign_in("vera@agency.example")
    page = vera.client.get(f"/console/tickets/{ticket['number']}")
    assert page.status_code == 200 and "take-charge" not in page.text
    answer = vera.client.post(
        f"/console/tickets/{ticket['number']}/take-charge", data={"csrf": vera.csrf()}
    )
    assert answer.status_code == 403
    assert "Your role (viewer) does not allow this action." in answer.text
    assert api.viewer.get(f"/api/v1/tickets/{ticket['id']}").json()["status"] == "new"


def test_an_agent_takes_a_request_in_charge_from_its_page(api: Api, db, desk, rossi) -> None:  # noqa: F811
    ticket = new_ticket(api)
    add_member(db, "marco@agency.example")
    marco = desk()
    marco.sign_in("marco@agency.example")
    path = f"/console/tickets/{ticket['number']}"
    answer = marco.client.post(f"{path}/take-charge", data={"csrf": marco.csrf()})
    assert (answer.status_code, answer.headers["location"]) == (303, path)
    taken = api.viewer.get(f"/api/v1/tickets/{ticket['id']}").json()
    assert taken["status"] == "taken_in_charge"
    again = marco.client.post(f"{path}/take-charge", data={"csrf": marco.csrf()})
    assert again.status_code == 409
    missing = marco.client.get("/console/tickets/2026-999999")
    assert missing.status_code == 404


def test_sign_in_is_rate_limited_per_address(db, serve) -> None:
    server = serve(console_sign_in_limit=3)
    add_member(db, "marco@agency.example")
    client = Desk(server.base_url)
    for _ in range(3):
        assert client.sign_in("marco@agency.example", "wrong horse battery").status_code == 401
    refused = client.sign_in("marco@agency.example")  # even the right password, for now
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert "Troppi tentativi" in refused.text
    client.client.close()


def test_a_session_times_out_idle_and_absolutely(db, serve) -> None:
    server = serve(console_idle_minutes=30, console_session_hours=2)
    clock = [datetime(2026, 12, 7, 9, 0, tzinfo=UTC)]
    server.app.dependency_overrides[get_now] = lambda: clock[0]
    add_member(db, "marco@agency.example")
    marco = Desk(server.base_url)
    marco.sign_in("marco@agency.example")
    for minutes in (29, 29, 29, 29):  # used every 29 minutes: never idle for 30
        clock[0] += timedelta(minutes=minutes)
        assert marco.client.get("/console/").status_code == 200
    clock[0] += timedelta(minutes=5)  # 2 h 1 min after sign-in
    assert marco.client.get("/console/").status_code == 303
    marco.sign_in("marco@agency.example")
    clock[0] += timedelta(minutes=30)
    assert marco.client.get("/console/").status_code == 303
    # A queue left open refreshes itself every minute: that is no one at the desk.
    marco.sign_in("marco@agency.example")
    page = marco.client.get("/console/", params={"view": "urgent"})
    assert 'data-refresh="/console/?view=urgent&amp;refresh=auto"' in page.text
    for _ in range(30):
        clock[0] += timedelta(minutes=1)
        refreshed = marco.client.get("/console/", params={"view": "urgent", "refresh": "auto"})
    assert refreshed.status_code == 303  # idle for 30 minutes, refreshes notwithstanding
    marco.client.close()


def test_a_one_time_link_signs_in_once(db, desk, live_server: LiveServer) -> None:
    from app.db import get_engine, unit_of_work

    add_member(db, "marco@agency.example")
    with unit_of_work(get_engine(db)) as session:
        token = sign_in.issue_link(
            "marco@agency.example", session=session, now=datetime.now(UTC), minutes=15
        )
    for attempt in range(2):
        marco = desk()
        path = f"/console/link/{token}"
        csrf = marco.form_token(path)
        answer = marco.client.post("/console/link", data={"token": token, "csrf": csrf})
        if attempt == 0:
            assert (answer.status_code, answer.headers["location"]) == (303, "/console/")
            assert marco.client.get("/console/").status_code == 200
        else:
            assert answer.status_code == 401 and "già usato" in answer.text


def test_the_console_can_be_turned_off(serve) -> None:
    server = serve(console=False)
    for path in ("/console/", "/console/sign-in"):
        assert httpx.get(server.base_url + path).status_code == 404


def test_the_queue_shows_urgent_first_with_time_left_in_english(
    api: Api,
    db,
    desk,
    rossi,  # noqa: F811
    serve,
) -> None:
    server = serve()
    server.app.dependency_overrides[get_now] = lambda: datetime(2026, 11, 23, 16, 40, tzinfo=UTC)
    calm = new_ticket(api, subject="Sito lento")
    urgent = new_ticket(api, subject="URGENTE: il sito è giù <b>ora</b>")
    add_member(db, "anna@agency.example", language="en")
    anna = desk(server)
    anna.sign_in("anna@agency.example")
    page = anna.client.get("/console/")
    assert page.text.index(urgent["number"]) < page.text.index(calm["number"])
    assert "il sito è giù &lt;b&gt;ora&lt;/b&gt;" in page.text
    assert "Signed in as Anna" in page.text and "of business time" in page.text
    found = anna.client.get("/console/", params={"q": "lento"})
    assert calm["number"] in found.text and urgent["number"] not in found.text
    only_urgent = anna.client.get("/console/", params={"view": "urgent"})
    assert urgent["number"] in only_urgent.text and calm["number"] not in only_urgent.text
    assert anna.client.get("/console/", params={"view": "nonsense"}).status_code == 422


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(0, "0 min"), (59, "0 min"), (45 * 60, "45 min"), (3 * 3600, "3 h"), (4800, "1 h 20 min")],
)
def test_business_time_is_said_as_the_desk_says_it(seconds: int, said: str) -> None:
    assert business_time(seconds) == said


def test_a_staff_members_language_set_through_the_api_is_the_consoles(api: Api, db, desk) -> None:
    add_member(db, "marco@agency.example")
    marco = desk()
    marco.sign_in("marco@agency.example")
    assert "Connesso come Marco" in marco.client.get("/console/").text
    member = next(
        m
        for m in api.admin.get("/api/v1/staff").json()["items"]
        if (m["email"] or "").startswith("marco")
    )
    assert member["language"] == "it"
    changed = api.admin.patch(f"/api/v1/staff/{member['id']}", json={"language": "en"})
    assert changed.status_code == 200 and changed.json()["language"] == "en"
    assert "Signed in as Marco" in marco.client.get("/console/").text
    refused = api.admin.patch(f"/api/v1/staff/{member['id']}", json={"language": "de"})
    assert refused.status_code == 422


@pytest.mark.parametrize(
    "email",
    ['"><script>alert(1)</script>', "marco@agency.example\r\nX-Injected: 1", "é" * 300],
)
def test_a_hostile_address_is_refused_and_shown_back_as_text(db, desk, email: str) -> None:
    add_member(db, "marco@agency.example")
    answer = desk().sign_in(email)
    assert answer.status_code == 401
    assert "<script>alert(1)" not in answer.text and "x-injected" not in answer.headers


def test_overlong_fields_are_refused_without_a_server_error(desk) -> None:
    client = desk()
    csrf = client.form_token()
    answer = client.client.post(
        "/console/sign-in", data={"email": "a" * 5000, "password": "x", "csrf": csrf}
    )
    assert answer.status_code == 422
    # Without a session even a malformed path is sent to sign in first.
    assert client.client.get("/console/tickets/not-a-number").status_code == 303
