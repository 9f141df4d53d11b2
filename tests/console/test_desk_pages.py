"""The console's pages around the desk over real HTTP: customers and contracts, the month's
statement and billing, the outbox, quarantined mail, mailboxes and staff; each action through
the API's own service and role, refusals as pages, a customer's text shown as text."""

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from app.enums import OutboxState, Role
from app.models.outbox import Outbox
from app.services.console.desk_views import Formats, contacts_input, euro_input
from app.services.console.words import WORDS
from tests.conftest import Api
from tests.console.test_console import Desk, add_member
from tests.routers.test_billing import billable  # noqa: F401
from tests.routers.test_inbound import post_mime
from tests.routers.test_quarantine import no_sender
from tests.routers.test_reports import october  # noqa: F401
from tests.routers.test_tickets import new_ticket, rossi  # noqa: F401

HOSTILE = '<img src=x onerror="alert(1)">Rossi & "Figli"'


def signed_in(desk: Callable[..., Desk], db: str, email: str, role: Role, **kw: Any) -> Desk:
    add_member(db, email, role=role, **kw)
    member = desk()
    assert member.sign_in(email).status_code == 303
    return member


@pytest.fixture
def admin(desk, db) -> Desk:
    return signed_in(desk, db, "ada@agency.example", Role.ADMIN)


def post(member: Desk, path: str, **data: Any) -> httpx.Response:
    return member.client.post(path, data={"csrf": member.csrf(), **data})


def test_desk_words_exist_in_both_languages() -> None:
    def keys(tree: dict[str, Any], prefix: str = "") -> set[str]:
        found = set()
        for key, value in tree.items():
            found.add(f"{prefix}{key}")
            if isinstance(value, dict):
                found |= keys(value, f"{prefix}{key}.")
        return found

    assert keys(WORDS["it"]["desk"]) == keys(WORDS["en"]["desk"])


@pytest.mark.parametrize(
    ("typed", "sent"),
    [("1.200,50", "1200.50"), ("1200,5", "1200.5"), ("€ 1200.50", "1200.50"), ("800", "800")],
)
def test_an_amount_is_read_as_the_desk_types_it(typed: str, sent: str) -> None:
    assert euro_input(typed) == sent


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("mario@gmail.com Mario Rossi", {"email": "mario@gmail.com", "name": "Mario Rossi"}),
        ('"Mario Rossi" <mario@gmail.com>', {"email": "mario@gmail.com", "name": "Mario Rossi"}),
        ("Mario <b>R</b> <m@x.it>", {"email": "m@x.it", "name": "Mario <b>R</b>"}),
        ("<mario@gmail.com>", {"email": "mario@gmail.com", "name": ""}),
        ("mario@gmail.com", {"email": "mario@gmail.com", "name": ""}),
    ],
)
def test_a_contact_is_read_address_first_or_as_a_mail_program_writes_it(
    typed: str, read: dict[str, str]
) -> None:
    assert contacts_input(f"\n  {typed}  \n\n") == [read]


def test_amounts_and_dates_are_written_as_italians_write_them() -> None:
    from datetime import UTC, date, datetime
    from decimal import Decimal

    italian = Formats("it")
    assert italian.euro(Decimal("1200.00")) == "1.200,00\xa0€"
    assert italian.day(date(2026, 12, 2)) == "2 dic 2026"
    assert italian.when(datetime(2026, 7, 1, 13, 0, tzinfo=UTC)) == "1 lug 2026, 15:00"  # CEST
    assert Formats("en").euro(Decimal("1200.00")) == "€1,200.00"


def test_an_admin_records_a_customer_then_its_contract_edits_and_renews_it(
    api: Api,
    db,
    desk,
    admin: Desk,
) -> None:
    created = post(
        admin,
        "/console/customers",
        name=HOSTILE,
        language="it",
        domains="rossi.it\n\nrossi.com",
        contacts="mario@gmail.com Mario <b>Rossi</b>",
    )
    assert created.status_code == 303, created.text
    path = created.headers["location"]
    customer_id = int(path.rsplit("/", 1)[1])
    api_view = api.viewer.get(f"/api/v1/customers/{customer_id}").json()
    assert api_view["name"] == HOSTILE
    assert api_view["email_domains"] == ["rossi.com", "rossi.it"]
    assert api_view["contacts"] == [{"email": "mario@gmail.com", "name": "Mario <b>Rossi</b>"}]

    page = admin.client.get(path)
    assert page.status_code == 200
    assert "<img src=x" not in page.text and "&lt;img src=x onerror=" in page.text
    assert "<b>Rossi</b>" not in page.text

    contract = post(
        admin,
        "/console/contracts",
        customer_id=str(customer_id),
        code="R-2026",
        starts_on="2026-01-01",
        annual_fee="1.200,00",
        proposal_ref="PROP-1",
        coverage=["website", "email"],
        take_charge_hours="4",
    )
    assert contract.status_code == 303, contract.text
    contract_path = contract.headers["location"]
    contract_id = int(contract_path.rsplit("/", 1)[1])
    read = api.viewer.get(f"/api/v1/contracts/{contract_id}").json()
    assert (read["annual_fee"], read["ends_on"], read["coverage"]) == (
        "1200.00",
        "2026-12-31",
        ["website", "email"],
    )
    page = admin.client.get(contract_path)
    assert "1.200,00\xa0€" in page.text and "31 dic 2026" in page.text
    assert f'href="/console/contracts/{contract_id}/review"' in page.text

    edited = post(
        admin,
        contract_path,
        code="R-2026",
        starts_on="2026-01-01",
        ends_on="2026-12-31",
        annual_fee="1300",
        proposal_ref="PROP-1b",
        coverage=["website", "hosting"],
        calendar_id=str(read["calendar_id"]),
        take_charge_hours="6",
    )
    assert edited.status_code == 303, edited.text
    read = api.viewer.get(f"/api/v1/contracts/{contract_id}").json()
    assert (read["annual_fee"], read["proposal_ref"], read["take_charge_hours"]) == (
        "1300.00",
        "PROP-1b",
        6,
    )
    assert read["coverage"] == ["website", "hosting"]

    renewed = post(admin, f"{contract_path}/renew", annual_fee="1.400,00", proposal_ref="PROP-2027")
    assert renewed.status_code == 303, renewed.text
    next_year = api.viewer.get(
        f"/api/v1/contracts/{renewed.headers['location'].rsplit('/', 1)[1]}"
    ).json()
    assert (next_year["code"], next_year["starts_on"], next_year["annual_fee"]) == (
        "R-2027",
        "2027-01-01",
        "1400.00",
    )
    again = post(admin, f"{contract_path}/renew", annual_fee="1400", proposal_ref="PROP-2027")
    assert again.status_code == 409 and "Modulo" not in again.text
    assert 'id="renew"' not in admin.client.get(contract_path).text  # renewed: no form

    review = admin.client.get(f"{contract_path}/review")
    assert review.status_code == 200 and "R-2026" in review.text
    assert "&lt;img src=x" in review.text and "<img src=x" not in review.text

    listed = admin.client.get("/console/contracts")
    assert "R-2026" in listed.text and "R-2027" in listed.text


@pytest.mark.parametrize(
    ("path", "data", "status", "said"),
    [
        ("/console/customers", {"name": "", "language": "it"}, 422, "campi: nome."),
        ("/console/customers", {"name": "X", "domains": "not a domain"}, 422, "domini email"),
        ("/console/customers/999999", {"name": "X"}, 404, "999999"),
        ("/console/contracts", {"code": "C", "starts_on": "2026-01-01"}, 422, "cliente"),
        ("/console/contracts/999999/renew", {"annual_fee": "1", "proposal_ref": "P"}, 404, ""),
        ("/console/contracts/1/renew", {"annual_fee": "mille", "proposal_ref": "P"}, 422, "canone"),
        ("/console/billing/mark-billed", {"invoice_ref": "F1"}, 422, "righe da fatturare"),
        ("/console/billing/mark-billed", {"item": "1:x", "invoice_ref": "F"}, 422, "righe"),
        ("/console/outbox/999999/retry", {}, 404, "999999"),
        ("/console/quarantine/999999/retry", {}, 404, ""),
        ("/console/quarantine/999999/delete", {}, 404, ""),
        ("/console/staff", {"name": "N", "email": "no-address", "role": "agent"}, 422, "email"),
        (
            "/console/staff",
            {"name": "N", "email": "n@agency.example", "role": "boss"},
            422,
            "ruolo",
        ),
        ("/console/staff/999999/deactivate", {}, 404, ""),
        ("/console/tokens", {"staff_id": "999999"}, 422, "999999"),
        ("/console/tokens/999999/revoke", {}, 404, ""),
    ],
)
def test_a_refused_action_is_a_page_with_its_status(
    admin: Desk, path: str, data: dict[str, str], status: int, said: str
) -> None:
    answer = post(admin, path, **data)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert 'id="error"' in answer.text and said in answer.text


def test_a_viewer_reads_customers_and_reports_but_not_the_desks_back_office(
    api: Api,
    db,
    desk,
    rossi,  # noqa: F811
) -> None:
    vera = signed_in(desk, db, "vera@agency.example", Role.VIEWER, language="en")
    for path in ("/console/customers", "/console/contracts", "/console/statement"):
        page = vera.client.get(path)
        assert page.status_code == 200, path
        posted_to = re.findall(r'<form[^>]*method="post"[^>]*action="([^"]+)"', page.text)
        assert posted_to == ["/console/language", "/console/sign-out"], path
    bar = vera.client.get("/console/customers").text
    assert '<a href="/console/customers" aria-current="page">Customers</a>' in bar
    assert 'href="/console/billing"' in bar and 'href="/console/outbox"' not in bar
    for path in ("/console/outbox", "/console/quarantine", "/console/mailboxes", "/console/staff"):
        refused = vera.client.get(path)
        assert refused.status_code == 403, path
        assert "Your role (viewer) does not allow this action." in refused.text


def test_the_statement_and_its_printable_page(api: Api, db, desk, admin: Desk, rossi) -> None:  # noqa: F811
    new_ticket(api)
    page = admin.client.get("/console/statement", params={"month": "2026-11"})
    assert page.status_code == 200
    assert "R-2026" in page.text and "Rendiconto SLA · novembre 2026" in page.text
    printable = admin.client.get("/console/statement/print", params={"month": "2026-11"})
    assert printable.status_code == 200 and "R-2026" in printable.text
    assert "frame-ancestors 'none'" in printable.headers["content-security-policy"]
    invalid = admin.client.get("/console/statement", params={"month": "2026-13"})
    assert invalid.status_code == 422 and invalid.headers["content-type"].startswith("text/html")
    assert "Controlla questi campi: month." in invalid.text
    api_invalid = api.viewer.get("/api/v1/reports/sla", params={"month": "2026-13"})
    assert api_invalid.headers["content-type"] == "application/problem+json"


def test_billing_marks_lines_billed_only_with_consent_unless_forced(
    api: Api,
    db,
    desk,
    admin: Desk,
    billable,  # noqa: F811
) -> None:
    page = admin.client.get("/console/billing", params={"month": "2026-10"})
    assert page.status_code == 200
    items = re.findall(r'name="item" value="([^"]+)"', page.text)
    assert len(items) == 3, page.text
    assert "€" in page.text and "dato" in page.text  # consent given by email

    # A line its customer has not agreed to: 409 unless forced (P4), as in the API.
    ticket_id = billable["N"]
    with Session(_engine(db)) as session:
        from app.enums import Consent
        from app.models.ticket import Ticket

        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.consent = Consent.PENDING
        session.add(ticket)
        session.commit()
    unagreed = next(item for item in items if item.startswith(f"{ticket_id}:"))
    refused = post(
        admin,
        "/console/billing/mark-billed",
        item=[unagreed],
        invoice_ref="2026/1",
        month="2026-10",
    )
    assert refused.status_code == 409 and "force" in refused.text
    forced = post(
        admin,
        "/console/billing/mark-billed",
        item=[unagreed],
        invoice_ref="2026/1",
        force="1",
        month="2026-10",
    )
    assert (forced.status_code, forced.headers["location"]) == (
        303,
        "/console/billing?month=2026-10",
    )
    rest = [item for item in items if item != unagreed]
    billed = post(admin, "/console/billing/mark-billed", item=rest, invoice_ref="2026/2")
    assert billed.status_code == 303
    report = api.viewer.get("/api/v1/reports/billing", params={"month": "2026-10"}).json()
    assert {line["state"] for line in report["lines"]} == {"billed"}
    twice = post(admin, "/console/billing/mark-billed", item=rest[:1], invoice_ref="2026/3")
    assert twice.status_code == 409
    page = admin.client.get("/console/billing", params={"month": "2026-10"})
    assert 'name="item"' not in page.text and "2026/2" in page.text

    agent = signed_in(desk, db, "gino@agency.example", Role.AGENT)
    assert post(agent, "/console/billing/mark-billed", item=rest[:1]).status_code == 403
    read_only = agent.client.get("/console/billing", params={"month": "2026-10"})
    assert read_only.status_code == 200 and "2026/2" in read_only.text
    assert 'id="mark-billed"' not in read_only.text


def _engine(db: str):
    from app.db import get_engine

    return get_engine(db)


def test_a_failed_email_is_retried_by_an_admin_only(api: Api, db, desk, admin: Desk, rossi) -> None:  # noqa: F811
    ticket = new_ticket(api, subject=HOSTILE)
    api.agent.post(f"/api/v1/tickets/{ticket['id']}/take-charge", json={})  # R11: an email
    with Session(_engine(db)) as session:
        row = session.exec(select(Outbox).where(Outbox.channel == "email")).first()
        assert row is not None
        row.state, row.last_error = OutboxState.FAILED, "550 <script>no</script>"
        session.add(row)
        session.commit()
        row_id = row.id
    agent = signed_in(desk, db, "gino@agency.example", Role.AGENT)
    page = agent.client.get("/console/outbox")
    assert page.status_code == 200 and "550 &lt;script&gt;" in page.text
    assert f"/console/outbox/{row_id}/retry" not in page.text  # an agent reads, an admin retries
    assert post(agent, f"/console/outbox/{row_id}/retry").status_code == 403
    page = admin.client.get("/console/outbox")
    assert f"/console/outbox/{row_id}/retry" in page.text
    retried = post(admin, f"/console/outbox/{row_id}/retry")
    assert (retried.status_code, retried.headers["location"]) == (303, "/console/outbox")
    state = api.agent.get("/api/v1/outbox").json()["items"]
    assert next(r for r in state if r["id"] == row_id)["state"] == "pending"
    assert post(admin, f"/console/outbox/{row_id}/retry").status_code == 409


def test_quarantined_mail_is_released_by_an_agent_and_discarded_by_an_admin(
    api: Api,
    db,
    desk,
    admin: Desk,
) -> None:
    first = post_mime(api, no_sender()).json()["quarantine_id"]
    second = post_mime(api, no_sender()).json()["quarantine_id"]
    agent = signed_in(desk, db, "gino@agency.example", Role.AGENT)
    page = agent.client.get("/console/quarantine")
    assert page.status_code == 200 and "URGENTE sito fermo" in page.text
    assert f"/console/quarantine/{first}/delete" not in page.text
    raw = agent.client.get(f"/console/quarantine/{first}/raw")
    assert raw.status_code == 200 and b"URGENTE sito fermo" in raw.content
    assert raw.headers["content-disposition"] == f'attachment; filename="quarantine-{first}.eml"'
    assert raw.headers["content-type"] == "application/octet-stream"
    unreadable = post(agent, f"/console/quarantine/{first}/retry")
    assert unreadable.status_code == 422  # no sender in it, none given
    released = post(agent, f"/console/quarantine/{first}/retry", from_email="mario@rossi.it")
    assert released.status_code == 303, released.text
    item = api.agent.get(f"/api/v1/quarantine/{first}").json()
    assert item["state"] == "released" and item["ticket_number"]
    assert post(agent, f"/console/quarantine/{second}/delete").status_code == 403
    assert post(admin, f"/console/quarantine/{second}/delete").status_code == 303
    assert api.agent.get(f"/api/v1/quarantine/{second}").status_code == 404


def test_mailboxes_health_is_read_by_an_admin(api: Api, db, desk, admin: Desk) -> None:
    created = api.admin.post(
        "/api/v1/mailboxes",
        json={
            "name": "assistenza <b>",
            "host": "imap.agency.example",
            "port": 993,
            "username": "assistenza@agency.example",
            "password": "secret-password",
        },
    )
    if created.status_code == 422 and "seal" in created.text.lower():
        pytest.skip("no sealing key in this configuration")
    assert created.status_code == 201, created.text
    page = admin.client.get("/console/mailboxes")
    assert page.status_code == 200
    assert "assistenza &lt;b&gt;" in page.text and "da leggere" in page.text
    assert "secret-password" not in page.text


def test_staff_and_tokens_an_admin_adds_a_member_issues_a_token_once_and_revokes(
    api: Api,
    db,
    desk,
    admin: Desk,
) -> None:
    added = post(
        admin,
        "/console/staff",
        name="Gino <script>",
        email="gino@agency.example",
        role="agent",
        language="en",
    )
    assert added.status_code == 303, added.text
    member = next(
        m
        for m in api.admin.get("/api/v1/staff").json()["items"]
        if m["email"] == "gino@agency.example"
    )
    assert (member["role"], member["language"], member["active"]) == ("agent", "en", True)
    page = admin.client.get("/console/staff")
    assert "Gino &lt;script&gt;" in page.text

    issued = post(admin, "/console/tokens", staff_id=str(member["id"]))
    assert issued.status_code == 201
    assert issued.headers["cache-control"] == "no-store"
    secret = re.search(r'id="secret">([^<]+)<', issued.text)
    assert secret
    token = secret.group(1)
    me = httpx.get(
        admin.base_url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert me["role"] == "agent"
    assert token not in admin.client.get("/console/staff").text  # shown once

    token_id = next(
        t["id"]
        for t in api.admin.get("/api/v1/tokens").json()["items"]
        if t["staff_id"] == member["id"]
    )
    assert post(admin, f"/console/tokens/{token_id}/revoke").status_code == 303
    revoked = httpx.get(admin.base_url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert revoked.status_code == 401

    feed = post(admin, "/console/tokens", feed_name="Calendario <Marco>")
    assert feed.status_code == 201 and "Calendario &lt;Marco&gt;" in feed.text
    feed_token = re.search(r'id="secret">([^<]+)<', feed.text)
    assert feed_token
    deadlines = httpx.get(
        admin.base_url + "/api/v1/feeds/deadlines.ics", params={"token": feed_token.group(1)}
    )
    assert deadlines.status_code == 200, deadlines.text
    assert post(admin, "/console/tokens", feed_name="x", staff_id="1").status_code == 422

    assert post(admin, f"/console/staff/{member['id']}/deactivate").status_code == 303
    assert api.admin.get(f"/api/v1/staff/{member['id']}").json()["active"] is False
    listed = admin.client.get("/console/staff").text
    assert f'action="/console/staff/{member["id"]}/reactivate"' in listed
    assert post(admin, f"/console/staff/{member['id']}/reactivate").status_code == 303
    assert api.admin.get(f"/api/v1/staff/{member['id']}").json()["active"] is True
    assert post(admin, f"/console/staff/{member['id']}/promote").status_code == 422
    duplicate = post(
        admin, "/console/staff", name="Other", email="gino@agency.example", role="agent"
    )
    assert duplicate.status_code == 409
