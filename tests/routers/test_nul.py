"""One rule for NUL characters on both databases: the API refuses them with a 422 naming the
field (PostgreSQL cannot store them; SQLite would keep them verbatim). Inbound email strips
them instead, so no customer's message is lost (tests/services/intake/parsing)."""

import pytest

from tests.routers.test_tickets import new_ticket, rossi  # noqa: F401  (fixture)

NUL = "a\x00b"


def _refused(response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert field in [error["field"] for error in response.json()["errors"]]


@pytest.mark.parametrize("field", ["name", "subject", "message"])
def test_the_contact_form_refuses_nul(api, field):
    form = {"name": "Mario", "email": "mario@rossi.it", "subject": "Sito", "message": "Giù"}
    _refused(api.anonymous.post("/api/v1/contact", json={**form, field: NUL}), field)
    urlencoded = api.anonymous.post("/api/v1/contact", data={**form, field: NUL})
    _refused(urlencoded, field)


@pytest.mark.parametrize("field", ["subject", "body", "from_name"])
def test_tickets_refuse_nul(api, field):
    payload = {"channel": "email", "from_email": "a@b.it", field: NUL}
    _refused(api.agent.post("/api/v1/tickets", json=payload), field)


def test_customers_notes_resolutions_and_search_refuse_nul(api, rossi):  # noqa: F811
    _refused(api.admin.post("/api/v1/customers", json={"name": NUL}), "name")
    ticket = new_ticket(api)
    take = api.agent.post(f"/api/v1/tickets/{ticket['id']}/take-charge", json={"note": NUL})
    _refused(take, "note")
    resolve = api.agent.post(
        f"/api/v1/tickets/{ticket['id']}/resolve",
        json={"resolution": NUL, "delivery_mode": "online"},
    )
    _refused(resolve, "resolution")
    _refused(api.viewer.get("/api/v1/tickets", params={"q": NUL}), "q")
