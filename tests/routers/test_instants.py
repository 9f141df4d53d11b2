"""Every instant the API accepts lies in the years 2000-2099: past them, a 422 naming the field,
never a 500 from a date that leaves the calendar when converted to UTC."""

import pytest

from tests.routers.test_tickets import new_ticket, rossi  # noqa: F401  (fixture)

EARLY = "0001-01-01T00:00:00+14:00"
LATE = "9999-12-31T23:59:59-14:00"


def _refused(response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [error["field"] for error in response.json()["errors"]]


@pytest.mark.parametrize("instant", [EARLY, LATE, "1999-12-31T23:00:00Z", "2100-01-01T00:00:00Z"])
def test_a_ticket_received_outside_the_years_is_refused(api, instant):
    response = api.agent.post(
        "/api/v1/tickets",
        json={"channel": "email", "from_email": "a@b.it", "received_at": instant},
    )
    _refused(response, "received_at")


@pytest.mark.parametrize("instant", [EARLY, "9999-12-31T23:59:59Z"])
def test_previews_and_deadlines_outside_the_years_are_refused(api, instant):
    preview = api.viewer.post(
        "/api/v1/sla/preview",
        json={"received_at": instant, "from_email": "a@b.it", "channel": "email"},
    )
    _refused(preview, "received_at")
    calendar = api.viewer.get("/api/v1/calendars").json()["items"][0]["id"]
    deadline = api.viewer.get(
        f"/api/v1/calendars/{calendar}/deadline", params={"start": instant, "hours": 4}
    )
    _refused(deadline, "start")


@pytest.mark.parametrize("field", ["received_from", "received_to"])
def test_queue_filters_outside_the_years_are_refused(api, field):
    _refused(api.viewer.get("/api/v1/tickets", params={field: EARLY}), field)


def test_estimates_outside_the_years_are_refused(api, rossi):  # noqa: F811
    ticket = new_ticket(api)
    take = api.agent.post(
        f"/api/v1/tickets/{ticket['id']}/take-charge", json={"estimated_resolution_at": LATE}
    )
    _refused(take, "estimated_resolution_at")
    patch = api.agent.patch(
        f"/api/v1/tickets/{ticket['id']}", json={"estimated_resolution_at": LATE}
    )
    _refused(patch, "estimated_resolution_at")


def test_the_edges_of_the_years_are_accepted(api, rossi):  # noqa: F811
    ticket = new_ticket(api, received_at="2000-01-01T00:00:00+01:00")
    assert ticket["received_at"].startswith("1999-12-31T23:00:00")  # the wall clock counts
    take = api.agent.post(
        f"/api/v1/tickets/{ticket['id']}/take-charge",
        # 1999: before Rossi's contract, billable; no consent asked here (P4).
        json={
            "estimated_resolution_at": "2099-12-31T23:59:59-14:00",
            "proceed_without_consent": True,
        },
    )
    assert take.status_code == 200, take.text


def test_a_reply_that_takes_charge_accepts_the_edges_of_the_years(api, rossi):  # noqa: F811
    """The reply's estimate was validated again once in UTC: the edge was a 500."""
    ticket = new_ticket(api, received_at="2026-12-01T10:00:00+01:00")
    reply = api.agent.post(
        f"/api/v1/tickets/{ticket['id']}/replies",
        json={
            "text": "Ci guardiamo.",
            "take_charge": True,
            "estimated_resolution_at": "2099-12-31T23:59:59-14:00",
            "proceed_without_consent": True,
        },
    )
    assert reply.status_code == 201, reply.text
    shown = api.viewer.get(f"/api/v1/tickets/{ticket['id']}").json()
    assert shown["estimated_resolution_at"] == "2100-01-01T13:59:59Z"
