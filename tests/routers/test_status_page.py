"""The customer's status page: reached by the link in the emails, nothing internal in it."""

import re

from sqlmodel import Session, select

from app.db import get_engine
from app.models.outbox import Outbox
from tests.routers.test_tickets import new_ticket, rossi  # noqa: F401
from tests.runners.test_worker import written

INTERNAL = ("Verifichiamo il server", "test-agent", "customer_id", "contract_id", "sla_policy")


def status_url(db: str, ticket_id: int) -> str:
    """The link in the ticket's customer emails, as the worker writes them from their facts."""
    with Session(get_engine(db)) as session:
        rows = session.exec(
            select(Outbox).where(Outbox.ticket_id == ticket_id).order_by(Outbox.id)
        ).all()
    links = {re.search(r"/status/[\w-]+", written(row)["text"]).group(0) for row in rows}  # type: ignore[union-attr]
    assert len(links) == 1, links  # every email carries the same link
    return links.pop()


def test_the_status_page_shows_the_ticket_and_nothing_internal(api, rossi, db):  # noqa: F811
    ticket = new_ticket(api, received_at="2026-11-27T17:30:00+01:00")
    api.agent.post(
        f"/api/v1/tickets/{ticket['id']}/take-charge",
        json={"estimated_resolution_at": "2026-12-03T17:00:00+01:00", "note": INTERNAL[0]},
    )
    url = status_url(db, ticket["id"])

    page = api.anonymous.get(url)

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    text = page.text
    assert ticket["number"] in text and "presa in carico" in text
    assert "martedì 1 dicembre 2026, 15:30" in text  # the deadline
    assert "ricevuta ven 27/11 17:30; 30 min ven 27; sab-dom chiuso" in text  # and why
    assert "giovedì 3 dicembre 2026, 17:00" in text  # the estimate
    assert all(word not in text for word in INTERNAL)
    english = api.anonymous.get(url, params={"lang": "en"}).text
    assert "Tuesday 1 December 2026, 15:30" in english and "How we count it" in english


def test_a_tampered_revoked_or_unknown_link_is_the_404_page(api, rossi, db):  # noqa: F811
    ticket = new_ticket(api)
    api.agent.post(f"/api/v1/tickets/{ticket['id']}/take-charge", json={})
    url = status_url(db, ticket["id"])
    tampered = url[:-1] + ("A" if url[-1] != "A" else "B")

    for link in (tampered, "/status/nothing-here"):
        page = api.anonymous.get(link)
        assert page.status_code == 404 and "Pagina non trovata" in page.text
        assert ticket["number"] not in page.text
    # A token we could not have made is never looked up (a NUL was a 500 on PostgreSQL).
    for link in ("/status/abc%00def", "/status/abc%00def/files/1", url + "%00"):
        assert api.anonymous.get(link).status_code == 404, link
    revoked = api.agent.post(f"/api/v1/tickets/{ticket['id']}/status-link/revoke")
    assert revoked.status_code == 200 and revoked.json() == {"revoked": 1}
    assert api.anonymous.get(url).status_code == 404
