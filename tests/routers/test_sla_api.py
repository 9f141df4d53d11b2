"""The engine through the API: calendar deadlines and SLA previews (R2, R8, R9, R12, R15, R16)."""

import pytest

ROME = "+01:00"


@pytest.fixture
def default_id(api):
    return next(
        c["id"]
        for c in api.viewer.get("/api/v1/calendars").json()["items"]
        if c["name"] == "default"
    )


@pytest.mark.parametrize(
    ("start", "clock", "due"),
    [
        # SPEC.md's worked deadlines (R8, R9), answered in UTC.
        ("2026-11-23T16:00:00+01:00", "2026-11-23T15:00:00Z", "2026-11-24T16:00:00Z"),
        ("2026-11-27T17:30:00+01:00", "2026-11-27T16:30:00Z", "2026-12-01T14:30:00Z"),
        ("2026-11-28T10:00:00+01:00", "2026-11-30T14:00:00Z", "2026-12-01T15:00:00Z"),
        ("2026-12-24T17:00:00+01:00", "2026-12-24T16:00:00Z", "2026-12-28T17:00:00Z"),
    ],
)
def test_worked_deadlines_through_the_api(api, default_id, start, clock, due):
    response = api.viewer.get(
        f"/api/v1/calendars/{default_id}/deadline", params={"start": start, "hours": 4}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["clock_started_at"].replace("+00:00", "Z") == clock
    assert body["due_at"].replace("+00:00", "Z") == due


def test_deadline_with_fractional_hours_and_a_custom_calendar(api):
    calendar = api.admin.post(
        "/api/v1/calendars",
        json={
            "name": "ny-24-7",
            "timezone": "America/New_York",
            "holiday_country": None,
            "weekly": {
                d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
            },
        },
    ).json()
    # Across the spring-forward night the clock counts real elapsed time.
    response = api.viewer.get(
        f"/api/v1/calendars/{calendar['id']}/deadline",
        params={"start": "2026-03-08T00:30:00-05:00", "hours": "2.5"},
    )
    assert response.json()["due_at"].replace("+00:00", "Z") == "2026-03-08T08:00:00Z"


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2026-11-23T16:00:00", "hours": 4},
        {"start": "yesterday", "hours": 4},
        {"start": "2026-11-23T16:00:00+01:00", "hours": 0},
        {"start": "2026-11-23T16:00:00+01:00", "hours": "four"},
        {"hours": 4},
    ],
)
def test_bad_deadline_queries_are_422(api, default_id, params):
    response = api.viewer.get(f"/api/v1/calendars/{default_id}/deadline", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] in {"start", "hours"}


def test_deadline_on_unknown_calendar_is_404(api):
    response = api.viewer.get(
        "/api/v1/calendars/4242/deadline", params={"start": "2026-11-23T16:00:00+01:00", "hours": 4}
    )
    assert response.status_code == 404


@pytest.fixture
def customers(api):
    """Rossi with a plain contract; Bianchi with an on-call agreement (R16)."""
    every_day = api.admin.post(
        "/api/v1/calendars",
        json={
            "name": "every-day",
            "weekly": {
                d: [["08:00", "22:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
            },
        },
    )
    rossi = api.admin.post(
        "/api/v1/customers", json={"name": "Rossi", "email_domains": ["rossi.it"]}
    ).json()
    bianchi = api.admin.post(
        "/api/v1/customers", json={"name": "Bianchi", "email_domains": ["bianchi.it"]}
    ).json()
    api.admin.post(
        "/api/v1/contracts",
        json={
            "customer_id": rossi["id"],
            "code": "R",
            "starts_on": "2026-01-01",
            "annual_fee": "1",
        },
    )
    api.admin.post(
        "/api/v1/contracts",
        json={
            "customer_id": bianchi["id"],
            "code": "B",
            "starts_on": "2026-01-01",
            "annual_fee": "1",
            "on_call": {"calendar_id": every_day.json()["id"], "take_charge_hours": 2},
        },
    )
    return {"rossi": rossi["id"], "bianchi": bianchi["id"]}


def preview(api, **fields):
    payload = {
        "received_at": f"2026-11-28T10:00:00{ROME}",
        "from_email": "a@rossi.it",
        "subject": "URGENTE sito giù",
        "channel": "email",
    }
    payload.update(fields)
    response = api.viewer.post("/api/v1/sla/preview", json=payload)
    assert response.status_code == 200, response.text
    return response.json()


def test_preview_urgent_email_saturday_with_on_call_agreement(api, customers):
    """R15, R16: on-call calendar (08-22 every day) and its 2 h target."""
    body = preview(api, from_email="x@bianchi.it")
    assert body["customer_id"] == customers["bianchi"]
    assert body["policy"] == "on_call"
    assert body["on_call_alert"] is True
    assert body["clock_started_at"].replace("+00:00", "Z") == "2026-11-28T09:00:00Z"
    assert body["take_charge_due_at"].replace("+00:00", "Z") == "2026-11-28T11:00:00Z"


def test_preview_urgent_email_saturday_without_agreement(api, customers):
    """R15: staff alerted; R16: best effort, the clock waits for Monday 15:00."""
    body = preview(api)
    assert body["policy"] == "contract"
    assert body["on_call_alert"] is True
    assert body["take_charge_due_at"].replace("+00:00", "Z") == "2026-12-01T15:00:00Z"


def test_preview_urgent_web_form_saturday_waits(api, customers):
    """R15: the web form does not raise an on-call alert."""
    body = preview(api, from_email="x@bianchi.it", channel="web_form")
    assert body["policy"] == "contract"
    assert body["on_call_alert"] is False
    assert body["urgent"] is True


def test_preview_unknown_sender_is_support_policy(api, customers):
    """R2: no contract, billable, no commitment."""
    body = preview(api, from_email="x@nobody.example", subject="ciao")
    assert body["customer_id"] is None
    assert body["coverage"] == "no_contract"
    assert body["policy"] == "support"
    assert body["take_charge_due_at"] is None
    assert body["billing_reasons"] == ["no_contract"]


def test_support_target_is_configurable(api, customers, serve):
    """R2: the support policy's target comes from SPORTELLO_SUPPORT_TAKE_CHARGE_HOURS."""
    import httpx

    server = serve(support_take_charge_hours="8")
    response = httpx.post(
        server.base_url + "/api/v1/sla/preview",
        headers=dict(api.viewer.headers),
        json={
            "received_at": f"2026-11-23T16:00:00{ROME}",
            "from_email": "x@nobody.example",
            "channel": "email",
        },
    )
    body = response.json()
    assert body["policy"] == "support"
    assert body["target_seconds"] == 8 * 3600
    # 2 h Monday + 3 h Tuesday + 3 h Wednesday, ending at closing time (18:00 Rome).
    assert body["take_charge_due_at"].replace("+00:00", "Z") == "2026-11-25T17:00:00Z"


def test_preview_refuses_phone_and_naive_times(api, customers):
    """R7, and times without an offset are ambiguous."""
    phone = api.viewer.post(
        "/api/v1/sla/preview",
        json={
            "received_at": f"2026-11-28T10:00:00{ROME}",
            "from_email": "a@rossi.it",
            "subject": "",
            "channel": "phone",
        },
    )
    assert phone.status_code == 422
    assert "web_form" in phone.json()["errors"][0]["message"]
    naive = api.viewer.post(
        "/api/v1/sla/preview",
        json={"received_at": "2026-11-28T10:00:00", "from_email": "a@rossi.it", "channel": "email"},
    )
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["field"] == "received_at"


def test_encoded_urgente_subject_is_urgent(api, customers):
    """R12: URGENTE after RFC 2047 decoding."""
    body = preview(api, subject="=?UTF-8?B?VVJHRU5URTogc2l0byBnacO5?=", channel="web_form")
    assert body["urgent"] is True
