"""Consent to billable work (P4; R2, R4, R5, R13): asked in the receipt, given once on the status
page with its form token, required to take charge and to bill unless staff say otherwise."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
from sqlmodel import Session, select

from app.db import get_engine
from app.models.outbox import Outbox
from tests.conftest import Api
from tests.routers.test_status_page import status_url
from tests.routers.test_tickets import new_ticket, rossi  # noqa: F401
from tests.runners.test_worker import written

STRANGER = {"from_email": "chiunque@altrove.example", "subject": "Sito giù"}  # R2: no contract


def asked(api: Api, from_email: str = STRANGER["from_email"], subject: str = "Sito giù") -> dict:
    """A request from the website's form (R6), which sends its receipt: the ticket."""
    form = {"name": "Mario", "email": from_email, "subject": subject, "message": "Non va."}
    sent = api.anonymous.post("/api/v1/contact", json=form)
    assert sent.status_code == 201, sent.text
    ticket: dict = api.viewer.get(f"/api/v1/tickets/{sent.json()['ticket_number']}").json()
    return ticket


def emails(db: str, ticket_id: int) -> list[tuple[str, dict[str, str]]]:
    """The ticket's emails (kind, as the worker writes them), oldest first."""
    with Session(get_engine(db)) as session:
        rows = session.exec(
            select(Outbox).where(Outbox.ticket_id == ticket_id).order_by(Outbox.id)
        ).all()
    return [(row.kind, written(row)) for row in rows if row.channel == "email"]


def form_of(page: httpx.Response) -> dict[str, str]:
    """The consent form's hidden fields, as a browser would post them."""
    fields = dict(re.findall(r'name="(form_token|version|lang)" value="([^"]*)"', page.text))
    assert set(fields) == {"form_token", "version", "lang"}, page.text
    return fields


def agree(api: Api, url: str, **fields: str) -> httpx.Response:
    return api.anonymous.post(f"{url}/consent", data=fields)


def test_the_receipt_explains_the_rates_and_asks_to_agree_on_the_status_page(api, db):
    ticket = asked(api)
    assert (ticket["billable"], ticket["consent"]) == (True, "pending")

    ((kind, receipt),) = emails(db, ticket["id"])
    assert kind == "customer.receipt"
    text = receipt["text"]
    assert "non risulta un contratto di assistenza annuale attivo" in text  # why (R2)
    assert "60,00\xa0€ all'ora, minimo 30 minuti per richiesta, a scatti di 15 minuti" in text
    assert "confermare l'intervento alle tariffe indicate" in text
    assert status_url(db, ticket["id"]) in text


def test_an_english_customer_reads_the_rates_in_english(api, db):
    api.admin.post(
        "/api/v1/customers",
        json={"name": "Smith", "email_domains": ["smith.example"], "language": "en"},
    )
    ticket = asked(api, "jo@smith.example", "URGENTE down")
    ((_, receipt),) = emails(db, ticket["id"])
    assert "we find no active annual support contract" in receipt["text"]
    assert "€60.00 per hour" in receipt["text"]
    page = api.anonymous.get(status_url(db, ticket["id"]))
    assert "I agree" in page.text and "Confermo" not in page.text


def test_a_covered_request_needs_no_consent_and_its_page_has_no_button(api, rossi, db):  # noqa: F811
    ticket = asked(api, "mario@rossi.it")
    assert (ticket["billable"], ticket["consent"]) == (False, "not_needed")
    ((_, receipt),) = emails(db, ticket["id"])
    assert "tariffe indicate" not in receipt["text"]
    assert "<form" not in api.anonymous.get(status_url(db, ticket["id"])).text
    taken = api.agent.post(f"/api/v1/tickets/{ticket['id']}/take-charge", json={})
    assert taken.status_code == 200, taken.text


def test_the_button_records_consent_once_with_the_link_address_and_text(api, db):
    ticket = asked(api)
    url = status_url(db, ticket["id"])
    page = api.anonymous.get(url)
    assert "Confermo l&#39;intervento alle tariffe indicate" in page.text
    assert "form-action 'self'" in page.headers["content-security-policy"]
    fields = form_of(page)

    answered = agree(api, url, **fields, decision="given")
    assert answered.status_code == 303 and answered.headers["location"] == f"{url}?lang=it"
    record = api.viewer.get(f"/api/v1/tickets/{ticket['id']}/consent").json()
    assert record["state"] == "given" and record["via"] == "status_page"
    assert record["client_address"] == "127.0.0.1"
    assert isinstance(record["status_link_id"], int)
    assert url.rsplit("/", 1)[1] not in str(record)  # the link's id, never its token
    assert "60,00" in record["rate_text"] and len(record["rate_version"]) == 16
    assert api.viewer.get(f"/api/v1/tickets/{ticket['id']}").json()["consent"] == "given"

    # A second click (or a decline after it) changes nothing: the same record stands.
    again = agree(api, url, **fields, decision="declined")
    assert again.status_code == 303
    assert api.viewer.get(f"/api/v1/tickets/{ticket['id']}/consent").json() == record
    shown = api.anonymous.get(url).text
    assert "Conferma già data" in shown and "<form" not in shown
    events = api.viewer.get(f"/api/v1/tickets/{ticket['id']}/events").json()["items"]
    assert [e["kind"] for e in events].count("consent_given") == 1


def test_the_customer_may_decline(api, db):
    ticket = asked(api)
    url = status_url(db, ticket["id"])
    fields = form_of(api.anonymous.get(url, params={"lang": "en"}))
    assert agree(api, url, **fields, decision="declined").status_code == 303
    consent = api.viewer.get(f"/api/v1/tickets/{ticket['id']}/consent").json()
    assert consent["state"] == "declined" and "Customer-support rates" in consent["rate_text"]
    assert "You chose not to agree" in api.anonymous.get(url, params={"lang": "en"}).text


def test_no_consent_without_the_pages_form_token(api, db):
    ticket = asked(api)
    other = asked(api, "altro@altrove.example")
    url, other_url = status_url(db, ticket["id"]), status_url(db, other["id"])
    fields = form_of(api.anonymous.get(url))
    forged = [
        {"decision": "given"},  # no token at all
        {**fields, "form_token": "0" * 64},
        {**fields, "form_token": fields["form_token"].upper()},
        {**form_of(api.anonymous.get(other_url)), "decision": "given"},  # another page's
        {**fields, "form_token": "<script>alert(1)</script>\r\nX: y"},
    ]
    for data in forged:
        refused = api.anonymous.post(f"{url}/consent", data=data)
        assert refused.status_code == 403, data
        assert "Conferma non registrata" in refused.text and "<script>" not in refused.text
    # The version is part of the token: rates the customer was not shown cannot be agreed to.
    changed = api.anonymous.post(f"{url}/consent", data={**fields, "version": "f" * 16})
    assert changed.status_code == 403
    odd = api.anonymous.post(f"{url}/consent", data={**fields, "decision": "yes"})
    assert odd.status_code == 422
    huge = api.anonymous.post(f"{url}/consent", data={**fields, "form_token": "a" * 10_000})
    assert huge.status_code == 422
    assert api.viewer.get(f"/api/v1/tickets/{ticket['id']}").json()["consent"] == "pending"


def test_a_revoked_or_unknown_link_cannot_consent(api, db):
    ticket = asked(api)
    url = status_url(db, ticket["id"])
    fields = form_of(api.anonymous.get(url))
    unknown = api.anonymous.post("/status/nothing-here/consent", data=fields)
    assert unknown.status_code == 404 and "Pagina non trovata" in unknown.text
    api.agent.post(f"/api/v1/tickets/{ticket['id']}/status-link/revoke")
    revoked = agree(api, url, **fields, decision="given")
    assert revoked.status_code == 404
    assert api.viewer.get(f"/api/v1/tickets/{ticket['id']}").json()["consent"] == "pending"


def test_taking_charge_without_consent_is_409_unless_staff_proceed(api, db):
    ticket = asked(api)
    base = f"/api/v1/tickets/{ticket['id']}"

    refused = api.agent.post(f"{base}/take-charge", json={})
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["consent"] == "pending"
    reply = api.agent.post(f"{base}/replies", json={"text": "Ci guardiamo.", "take_charge": True})
    assert reply.status_code == 409
    assert api.viewer.get(base).json()["status"] == "new"  # nothing happened

    taken = api.agent.post(f"{base}/take-charge", json={"proceed_without_consent": True})
    assert taken.status_code == 200 and taken.json()["status"] == "taken_in_charge"
    events = api.viewer.get(f"{base}/events").json()["items"]
    bypass = [e for e in events if e["kind"] == "consent_bypassed"]
    assert len(bypass) == 1 and bypass[0]["actor"] == "test-agent"


def test_staff_record_consent_given_by_other_means_once(api, rossi, db):  # noqa: F811
    ticket = asked(api)
    url = f"/api/v1/tickets/{ticket['number']}/consent"
    note = {"note": "Confermato per email del 7/12"}
    assert api.viewer.post(url, json=note).status_code == 403
    assert api.agent.post(url, json={}).status_code == 422  # a note is required

    recorded = api.agent.post(url, json=note)
    assert recorded.status_code == 201, recorded.text
    body = recorded.json()
    assert (body["state"], body["via"], body["actor"]) == ("given", "staff", "test-agent")
    assert body["note"] == note["note"] and body["status_link_id"] is None
    again = api.agent.post(url, json={"decision": "declined", "note": "ripensamento"})
    assert again.status_code == 409 and again.json()["consent"] == "given"
    assert api.agent.post(f"/api/v1/tickets/{ticket['id']}/take-charge", json={}).is_success

    covered = new_ticket(api)
    refused = api.agent.post(f"/api/v1/tickets/{covered['id']}/consent", json=note)
    assert refused.status_code == 409  # nothing billable, nothing to agree to
    assert api.viewer.get(f"/api/v1/tickets/{covered['id']}/consent").json() == {
        "state": "not_needed",
        "decided_at": None,
        "via": None,
        "status_link_id": None,
        "client_address": None,
        "rate_text": None,
        "rate_version": None,
        "actor": None,
        "note": None,
        "billing_reasons": [],
    }


def test_triage_that_makes_work_billable_asks_for_consent_and_the_queue_shows_it(
    api,
    rossi,  # noqa: F811
    db,
):
    ticket = asked(api, "mario@rossi.it", "URGENTE il sito")
    covered = new_ticket(api)
    assert ticket["consent"] == "not_needed"
    # R13: priority handling at the customer's request, urgency rejected: a surcharge.
    triaged = api.agent.patch(
        f"/api/v1/tickets/{ticket['id']}", json={"urgency": "rejected", "priority_handling": True}
    )
    assert triaged.json()["consent"] == "pending", triaged.text
    kinds = [kind for kind, _ in emails(db, ticket["id"])]
    assert kinds == ["customer.receipt", "customer.consent_requested"]
    letter = emails(db, ticket["id"])[1][1]["text"]
    assert "maggiorazione per la priorità: 50% del tempo addebitato" in letter
    assert status_url(db, ticket["id"]) in letter

    pending = api.viewer.get("/api/v1/tickets", params={"consent": "pending"}).json()["items"]
    assert [t["id"] for t in pending] == [ticket["id"]]
    not_needed = api.viewer.get("/api/v1/tickets", params={"consent": "not_needed"}).json()
    assert [t["id"] for t in not_needed["items"]] == [covered["id"]]
    assert api.viewer.get("/api/v1/tickets", params={"consent": "maybe"}).status_code == 422

    # Triage back to covered: nothing to agree to any more.
    back = api.agent.patch(f"/api/v1/tickets/{ticket['id']}", json={"priority_handling": False})
    assert back.json()["consent"] == "not_needed"


def test_billing_shows_consent_and_refuses_an_unconsented_line_without_force(api, db):
    ticket = asked(api)
    agreed = asked(api, "ok@altrove.example")
    api.agent.post(f"/api/v1/tickets/{agreed['id']}/consent", json={"note": "firmato"})
    # Received now: this month's report, a month of Rome's (UTC's is the one before from 23:00
    # or 22:00 on its last day).
    received = datetime.fromisoformat(ticket["received_at"]).astimezone(ZoneInfo("Europe/Rome"))
    month = {"month": f"{received:%Y-%m}"}
    report = api.viewer.get("/api/v1/reports/billing", params=month).json()
    consent = {line["ticket_id"]: line["consent"] for line in report["lines"]}
    assert consent == {ticket["id"]: "pending", agreed["id"]: "given"}
    csv = api.viewer.get("/api/v1/reports/billing", params={**month, "format": "csv"})
    assert ",consent," in csv.text.splitlines()[0]

    item = f"{ticket['id']}:no_contract"
    mark = {"item_ids": [item, f"{agreed['id']}:no_contract"], "invoice_ref": "F-9"}
    refused = api.admin.post("/api/v1/billing/mark-billed", json=mark)
    assert refused.status_code == 409 and refused.json()["without_consent"] == [item]
    assert all(
        line["state"] == "open"
        for line in api.viewer.get("/api/v1/reports/billing", params=month).json()["lines"]
    )
    forced = api.admin.post("/api/v1/billing/mark-billed", json={**mark, "force": True})
    assert forced.status_code == 200, forced.text
    events = api.viewer.get(f"/api/v1/tickets/{ticket['id']}/events").json()["items"]
    assert [e["kind"] for e in events].count("billed_without_consent") == 1


def test_a_reason_added_after_consent_is_asked_about_again(api, db):
    """Consent covers the reasons it was given for (P4): the customer agreed to support rates
    without a contract (R2); triage then adds a priority surcharge (R13), which the customer
    never saw, so the ticket is pending again, the customer is asked, and work waits for it."""
    ticket = asked(api, subject="URGENTE il sito")
    url = status_url(db, ticket["id"])
    first = form_of(api.anonymous.get(url))
    assert agree(api, url, **first, decision="given").status_code == 303

    triaged = api.agent.patch(
        f"/api/v1/tickets/{ticket['id']}", json={"urgency": "rejected", "priority_handling": True}
    )
    assert triaged.json()["consent"] == "pending", triaged.text
    kinds = [kind for kind, _ in emails(db, ticket["id"])]
    assert kinds == ["customer.receipt", "customer.consent_requested"]
    refused = api.agent.post(f"/api/v1/tickets/{ticket['id']}/take-charge", json={})
    assert refused.status_code == 409 and refused.json()["consent"] == "pending"

    # The old page's form answered the old rates: it is refused, the new one records.
    assert agree(api, url, **first, decision="given").status_code == 409
    page = api.anonymous.get(url)
    assert "maggiorazione per la priorità" in page.text
    assert agree(api, url, **form_of(page), decision="given").status_code == 303
    assert api.viewer.get(f"/api/v1/tickets/{ticket['id']}").json()["consent"] == "given"
    events = api.viewer.get(f"/api/v1/tickets/{ticket['id']}/events").json()["items"]
    assert [e["kind"] for e in events].count("consent_given") == 2
    taken = api.agent.post(f"/api/v1/tickets/{ticket['id']}/take-charge", json={})
    assert taken.status_code == 200, taken.text
