"""Calendars are data (R8); `default` exists from the start."""

import pytest


def test_default_calendar_exists_from_the_start(api):
    """R8: Monday to Friday 15:00-18:00, Europe/Rome, Italian holidays."""
    items = api.viewer.get("/api/v1/calendars").json()["items"]
    default = next(c for c in items if c["name"] == "default")
    assert default["timezone"] == "Europe/Rome"
    assert default["holiday_country"] == "IT"
    assert default["weekly"] == {
        d: [["15:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")
    }


def test_create_calendar_with_several_intervals_and_24_00(api):
    response = api.admin.post(
        "/api/v1/calendars",
        json={
            "name": "on-call",
            "timezone": "Europe/Rome",
            "weekly": {d: [["00:00", "08:00"], ["22:00", "24:00"]] for d in ("sat", "sun")},
            "holiday_country": "IT",
            "holiday_subdivision": "MI",
            "closures": ["2026-08-14"],
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["weekly"]["sat"] == [["00:00", "08:00"], ["22:00", "24:00"]]
    assert body["closures"] == ["2026-08-14"]
    assert api.viewer.get(f"/api/v1/calendars/{body['id']}").json() == body
    again = api.admin.post(
        "/api/v1/calendars", json={"name": "on-call", "weekly": {"sat": [["09:00", "12:00"]]}}
    )
    assert again.status_code == 409


def test_a_calendar_without_holidays_stays_open_on_them(api):
    """R8: holiday_country null means no public holidays; it was stored as IT, so a 24/7
    calendar closed on 8 December (found when a test ran past midnight in Rome)."""
    response = api.admin.post(
        "/api/v1/calendars",
        json={
            "name": "h24",
            "holiday_country": None,
            "weekly": {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
        },
    )
    assert response.status_code == 201, response.text
    calendar = response.json()
    assert calendar["holiday_country"] is None
    assert api.viewer.get(f"/api/v1/calendars/{calendar['id']}").json() == calendar
    deadline = api.viewer.get(
        f"/api/v1/calendars/{calendar['id']}/deadline",
        params={"start": "2026-12-07T22:00:00+01:00", "hours": 4},
    ).json()
    assert deadline["due_at"] == "2026-12-08T01:00:00Z"  # 02:00 on the Immacolata, open
    omitted = api.admin.post(
        "/api/v1/calendars", json={"name": "italia", "weekly": {"mon": [["15:00", "18:00"]]}}
    ).json()
    assert omitted["holiday_country"] == "IT"


@pytest.mark.parametrize("weekly", [{}, {"mon": [], "sat": []}])
def test_a_calendar_never_open_is_refused(api, weekly):
    """Found by schemathesis: a calendar with no hours made every deadline on it a 500 (R8)."""
    response = api.admin.post("/api/v1/calendars", json={"name": "mai", "weekly": weekly})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "weekly"
    assert "open for at least one interval" in response.json()["errors"][0]["message"]


def test_closures_for_part_of_a_day_with_labels_shape_the_deadline(api):
    """R8: 24 December closed from 13:00, a meeting 15:00-16:30; whole days stay ISO dates."""
    response = api.admin.post(
        "/api/v1/calendars",
        json={
            "name": "dicembre",
            "weekly": {d: [["15:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
            "closures": [
                {"date": "2026-12-24", "start": "13:00", "label": "Vigilia"},
                "2026-08-14",
                {"date": "2026-12-16", "start": "15:00", "end": "16:30", "label": "Riunione"},
                {"date": "2026-12-31", "label": "Ponte"},
            ],
        },
    )
    assert response.status_code == 201, response.text
    calendar = response.json()
    assert calendar["closures"] == [
        "2026-08-14",
        {"date": "2026-12-16", "start": "15:00", "end": "16:30", "label": "Riunione"},
        {"date": "2026-12-24", "start": "13:00", "end": "24:00", "label": "Vigilia"},
        {"date": "2026-12-31", "start": "00:00", "end": "24:00", "label": "Ponte"},
    ]
    assert api.viewer.get(f"/api/v1/calendars/{calendar['id']}").json() == calendar

    url = f"/api/v1/calendars/{calendar['id']}/deadline"
    meeting = api.viewer.get(
        url, params={"start": "2026-12-15T17:00:00+01:00", "hours": 4, "explain": "true"}
    ).json()
    assert meeting["due_at"] == "2026-12-17T15:30:00Z"  # 16:30 in Rome
    assert meeting["explanation"]["closed"] == [
        {
            "day": "2026-12-16",
            "start": "2026-12-16T14:00:00Z",
            "end": "2026-12-16T15:30:00Z",
            "label": "Riunione",
        }
    ]
    assert "1 h 30 min mer 16 (chiuso 15:00-16:30 Riunione)" in meeting["explanation"]["summary"]

    christmas = api.viewer.get(
        url, params={"start": "2026-12-23T17:00:00+01:00", "hours": 4, "explain": "true"}
    ).json()
    assert christmas["due_at"] == "2026-12-28T17:00:00Z"
    skipped = [(d["day"], d["reason"], d["name"]) for d in christmas["explanation"]["skipped"]]
    assert skipped[0] == ("2026-12-24", "closure", "Vigilia")


@pytest.mark.parametrize(
    ("closure", "field"),
    [
        ({"date": "2026-12-24", "start": "18:00", "end": "13:00"}, "closures.0"),
        ({"date": "2026-12-24", "start": "24:00"}, "closures.0.start"),
        ({"date": "2026-12-24", "end": "25:00"}, "closures.0.end"),
        ({"date": "2026-12-24", "label": "x" * 201}, "closures.0.label"),
        ({"date": "2026-12-24", "colour": "red"}, "closures.0.colour"),
        ({"start": "13:00"}, "closures.0.date"),
    ],
)
def test_a_bad_closure_names_the_field_at_fault(api, closure, field):
    weekly = {"mon": [["15:00", "18:00"]]}
    response = api.admin.post(
        "/api/v1/calendars", json={"name": "c", "weekly": weekly, "closures": [closure]}
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timezone": "Europe/Milano"}, "timezone"),
        ({"timezone": "Europe"}, "timezone"),  # a folder of the time zone database: was a 500
        ({"weekly": {"mon": [["18:00", "15:00"]]}}, "weekly"),
        ({"weekly": {"mon": [["15:00", "18:00"], ["17:00", "19:00"]]}}, "weekly"),
        ({"weekly": {"mon": [["24:00", "24:00"]]}}, "weekly"),
        ({"weekly": {"mon": [["9:00", "12:00"]]}}, "weekly"),
        ({"weekly": {"funday": [["09:00", "12:00"]]}}, "weekly.funday.[key]"),
        ({"holiday_country": "XX"}, ""),
        ({"holiday_subdivision": "ZZ"}, ""),
        ({"closures": ["2026-02-30"]}, "closures.0.date"),
    ],
)
def test_calendar_validation_names_the_problem(api, change, field):
    payload = {"name": "c", "timezone": "Europe/Rome", "weekly": {"mon": [["15:00", "18:00"]]}}
    payload.update(change)
    response = api.admin.post("/api/v1/calendars", json=payload)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    if field:
        assert errors[0]["field"] == field
    else:
        message = errors[0]["message"]
        assert str(next(iter(change.values()))) in message


def test_the_deadline_explains_itself_on_request(api):
    """Thu 24 Dec 17:00 + 4 h: why Monday 28 December at 18:00."""
    default = api.viewer.get("/api/v1/calendars").json()["items"][0]
    params = {"start": "2026-12-24T17:00:00+01:00", "hours": 4}
    url = f"/api/v1/calendars/{default['id']}/deadline"
    plain = api.viewer.get(url, params=params).json()
    explained = api.viewer.get(url, params={**params, "explain": "true"}).json()

    assert plain["explanation"] is None
    assert explained["due_at"] == plain["due_at"] == "2026-12-28T17:00:00Z"
    explanation = explained["explanation"]
    assert [(s["day"], s["seconds"]) for s in explanation["segments"]] == [
        ("2026-12-24", 3600),
        ("2026-12-28", 10800),
    ]
    assert [(d["day"], d["reason"], d["name"]) for d in explanation["skipped"]] == [
        ("2026-12-25", "holiday", "Natale"),
        ("2026-12-26", "holiday", "Santo Stefano"),
        ("2026-12-27", "weekend", None),
    ]
    assert explanation["summary"].endswith("3 h lun 28 -> lun 28/12 18:00")
    assert explanation["summary_en"].startswith("received Thu 24/12 17:00; 1 h Thu 24")
