"""The mailboxes API (admin): a password goes in and never comes out; bad settings are 422s
naming the field; health starts as waiting."""

import pytest

BASE = {
    "name": "assistenza",
    "host": "imap.example.com",
    "username": "assistenza@example.com",
    "password": "s3cret-app-password",
}


def test_a_mailbox_is_recorded_with_defaults_and_its_password_is_never_shown(api):
    response = api.admin.post("/api/v1/mailboxes", json=BASE)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["Location"].endswith(f"/api/v1/mailboxes/{created['id']}")
    assert created["port"] == 993 and created["security"] == "implicit_tls"
    assert created["folder"] == "INBOX" and created["after_store"] == "mark_seen"
    assert created["enabled"] is True and created["poll_seconds"] == 60
    assert created["health"]["state"] == "waiting" and created["health"]["messages_stored"] == 0
    for answer in (
        response.text,
        api.admin.get(f"/api/v1/mailboxes/{created['id']}").text,
        api.admin.get("/api/v1/mailboxes").text,
    ):
        assert "s3cret" not in answer and "password" not in answer

    starttls = api.admin.post(
        "/api/v1/mailboxes", json={**BASE, "name": "other", "security": "starttls"}
    )
    assert starttls.json()["port"] == 143


def test_a_change_is_applied_and_disabling_shows_on_the_health(api):
    created = api.admin.post("/api/v1/mailboxes", json=BASE).json()
    changed = api.admin.patch(
        f"/api/v1/mailboxes/{created['id']}",
        json={"after_store": "move", "move_to": "Sportello", "enabled": False},
    )
    assert changed.status_code == 200
    assert changed.json()["move_to"] == "Sportello"
    assert changed.json()["health"]["state"] == "disabled"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"security": "plain"}, "security plain"),  # no TLS to a server elsewhere
        ({"after_store": "move"}, "move_to is required"),
        ({"port": 0}, "port"),
        ({"folder": 'IN"BOX'}, "folder"),
        ({"host": "imap example.com"}, "host"),
        ({"password": ""}, "password"),
    ],
)
def test_bad_settings_are_422_naming_what_is_wrong(api, body, field):
    response = api.admin.post("/api/v1/mailboxes", json={**BASE, **body})
    assert response.status_code == 422
    assert field in response.text


@pytest.mark.parametrize(
    "password",
    [
        "\U0001f511" * 500,  # 500 characters, 2000 bytes: sealed, beyond the column
        "è" * 251,  # 502 bytes
        "\U0001f511\r\n<script>" * 40,
    ],
)
def test_a_password_beyond_500_bytes_is_422_naming_it_never_a_500(api, password):
    """Its characters are counted in UTF-8 bytes (a key of 4 bytes each would not fit
    sealed); it is refused on creation and on change, and never echoed."""
    created = api.admin.post("/api/v1/mailboxes", json={**BASE, "password": password})
    assert created.status_code == 422, created.text
    assert [e["field"] for e in created.json()["errors"]] == ["password"]
    assert password not in created.text
    mailbox = api.admin.post("/api/v1/mailboxes", json=BASE)
    assert mailbox.status_code == 201
    url = f"/api/v1/mailboxes/{mailbox.json()['id']}"
    changed = api.admin.patch(url, json={"password": password})
    assert changed.status_code == 422
    assert [e["field"] for e in changed.json()["errors"]] == ["password"]
    fits = api.admin.patch(url, json={"password": "\U0001f511" * 125})  # exactly 500 bytes
    assert fits.status_code == 200, fits.text


def test_plain_imap_is_allowed_on_loopback_only_also_when_changed(api):
    local = api.admin.post(
        "/api/v1/mailboxes", json={**BASE, "host": "127.0.0.1", "security": "plain"}
    )
    assert local.status_code == 201
    moved = api.admin.patch(
        f"/api/v1/mailboxes/{local.json()['id']}", json={"host": "imap.example.com"}
    )
    assert moved.status_code == 422
    assert "security plain" in moved.json()["detail"]


def test_names_are_unique_ids_must_exist_and_only_an_admin_may_see_mailboxes(api):
    assert api.admin.post("/api/v1/mailboxes", json=BASE).status_code == 201
    again = api.admin.post("/api/v1/mailboxes", json=BASE)
    assert again.status_code == 409 and "assistenza" in again.json()["detail"]
    assert api.admin.get("/api/v1/mailboxes/999").status_code == 404
    assert api.agent.get("/api/v1/mailboxes").status_code == 403
    assert api.agent.post("/api/v1/mailboxes", json={**BASE, "name": "x"}).status_code == 403
    assert api.anonymous.get("/api/v1/mailboxes").status_code == 401
