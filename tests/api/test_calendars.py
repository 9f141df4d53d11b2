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
    again = api.admin.post("/api/v1/calendars", json={"name": "on-call", "weekly": {}})
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timezone": "Europe/Milano"}, "timezone"),
        ({"weekly": {"mon": [["18:00", "15:00"]]}}, "weekly"),
        ({"weekly": {"mon": [["15:00", "18:00"], ["17:00", "19:00"]]}}, "weekly"),
        ({"weekly": {"mon": [["24:00", "24:00"]]}}, "weekly"),
        ({"weekly": {"mon": [["9:00", "12:00"]]}}, "weekly"),
        ({"weekly": {"funday": [["09:00", "12:00"]]}}, "weekly.funday.[key]"),
        ({"holiday_country": "XX"}, ""),
        ({"holiday_subdivision": "ZZ"}, ""),
        ({"closures": ["2026-02-30"]}, "closures.0"),
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
