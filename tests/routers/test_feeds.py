"""The staff's deadline feed: iCalendar, Europe/Rome, urgent first, read with a feed token."""

from datetime import datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar
from sqlmodel import Session

from app.db import get_engine
from app.models.base import utcnow
from app.services.directory.auth import create_token, revoke_token
from tests.routers.test_tickets import new_ticket, rossi  # noqa: F401

ROME = ZoneInfo("Europe/Rome")


def feed_token(db: str, role: str = "feed") -> tuple[int, str]:
    with Session(get_engine(db)) as session:
        token, clear = create_token(session=session, name="calendar", role=role, now=utcnow())
        session.commit()
        assert token.id is not None
        return token.id, clear


def test_the_feed_round_trips_with_rome_times_across_dst_urgent_first(api, rossi, db):  # noqa: F811
    summer = new_ticket(api, received_at="2026-10-23T17:00:00+02:00")  # due Mon 26 Oct 18:00 CET
    urgent = new_ticket(api, subject="URGENTE sito giù", received_at="2026-10-21T16:00:00+02:00")
    _, token = feed_token(db)

    response = api.anonymous.get("/api/v1/feeds/deadlines.ics", params={"token": token})

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    feed = Calendar.from_ical(response.content)
    assert [tz["TZID"] for tz in feed.walk("VTIMEZONE")] == ["Europe/Rome"]
    events = feed.walk("VEVENT")
    assert [str(e["SUMMARY"]) for e in events] == [
        f"URGENTE [#{urgent['number']}] presa in carico: URGENTE sito giù",
        f"[#{summer['number']}] presa in carico: Sito lento",
    ]
    starts = [e.decoded("DTSTART") for e in events]
    assert starts[1] == datetime(2026, 10, 26, 18, 0, tzinfo=ROME)  # after the clocks went back
    assert starts[1].utcoffset().total_seconds() == 3600
    assert starts[0] == datetime(2026, 10, 22, 17, 0, tzinfo=ROME)  # Wed 16:00 + 4 h, in CEST
    assert starts[0].utcoffset().total_seconds() == 7200
    assert events[1]["DTSTART"].params["TZID"] == "Europe/Rome"


def test_control_characters_in_a_subject_never_reach_the_feed(api, rossi, db):  # noqa: F811
    ticket = new_ticket(api, subject="Sito\x07 giù\x1b[2J\r\nEND:VEVENT\r\nBEGIN:VEVENT\x85!")
    _, token = feed_token(db)

    response = api.anonymous.get("/api/v1/feeds/deadlines.ics", params={"token": token})

    lines = response.content.decode().split("\r\n")
    assert [c for line in lines for c in line if c < " " or "\x7f" <= c <= "\x9f"] == []
    (event,) = Calendar.from_ical(response.content).walk("VEVENT")
    assert str(event["SUMMARY"]) == (
        f"[#{ticket['number']}] presa in carico: Sito  giù [2J END:VEVENT BEGIN:VEVENT !"
    )


def test_only_a_feed_token_opens_the_feed(api, db):
    _, viewer = feed_token(db, role="viewer")
    token_id, feed = feed_token(db)
    url = "/api/v1/feeds/deadlines.ics"

    assert api.anonymous.get(url).status_code == 422  # no token
    assert api.anonymous.get(url, params={"token": "spt_nothing"}).status_code == 401
    assert api.anonymous.get(url, params={"token": viewer}).status_code == 403
    # A feed token can read nothing else.
    assert (
        api.anonymous.get(
            "/api/v1/tickets", headers={"Authorization": f"Bearer {feed}"}
        ).status_code
        == 403
    )
    with Session(get_engine(db)) as session:
        revoke_token(token_id, session=session, now=utcnow())
        session.commit()
    assert api.anonymous.get(url, params={"token": feed}).status_code == 401
