"""Odd and hostile input against the staff console over real HTTP, on SQLite and PostgreSQL:
whatever is posted, the answer is a page (401, 403, 422), never a server error; and what a
customer sends can never become a script the console's policy (`script-src 'self'`) would run."""

import logging

import pytest

from app.enums import Role
from app.services.tickets.attachments import served_type
from tests.conftest import Api
from tests.console.test_console import Desk, add_member, desk  # noqa: F401
from tests.console.test_ticket_actions import marco, post, refused  # noqa: F401
from tests.routers.test_tickets import new_ticket, rossi  # noqa: F401


def test_a_nul_byte_in_the_sign_in_address_is_a_wrong_address_not_a_server_error(
    db: str,
    desk,  # noqa: F811
) -> None:
    """PostgreSQL refuses NUL in text: such an address names no one, as an unknown one."""
    add_member(db, "anna@agency.example")
    member: Desk = desk()
    answer = member.sign_in("anna@agency.example\x00")
    assert answer.status_code == 401, answer.text
    assert member.sign_in("anna@agency.example").status_code == 303


def test_assigning_to_a_number_too_long_to_be_an_id_is_a_422_page(
    api: Api,
    rossi,  # noqa: F811
    marco: Desk,  # noqa: F811
) -> None:
    number = new_ticket(api)["number"]
    refused(post(marco, number, "assign", {"assignee": "9" * 5000}), 422)


@pytest.mark.parametrize("ends_on", ["9999-12-31", "9999-06-30"])
def test_renewing_a_contract_that_ends_in_the_last_year_there_is_a_422_page(
    api: Api,
    rossi,  # noqa: F811
    db: str,
    desk,  # noqa: F811
    ends_on: str,
) -> None:
    """R1: its next year cannot be written as a date; the console (and the API) say so."""
    add_member(db, "ada@agency.example", role=Role.ADMIN)
    admin: Desk = desk()
    admin.sign_in("ada@agency.example")
    contract = rossi["contract"]
    path = f"/console/contracts/{contract['id']}"
    changed = admin.client.post(
        path,
        data={
            "csrf": admin.csrf(),
            "code": "R-2026",
            "starts_on": "2026-01-01",
            "ends_on": ends_on,
            "annual_fee": "1200",
            "coverage": "website",
        },
    )
    assert changed.status_code == 303, changed.text
    answer = admin.client.post(
        f"{path}/renew", data={"csrf": admin.csrf(), "annual_fee": "1200", "proposal_ref": "P"}
    )
    refused(answer, 422, ends_on)
    assert (
        api.admin.post(
            f"/api/v1/contracts/{contract['id']}/renew", json={"annual_fee": "1200"}
        ).status_code
        == 422
    )


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-javascript",
        "text/x-javascript",
        "application/x-ecmascript",
        "text/x-ecmascript",
        "text/jscript",
        "text/livescript",
        "text/javascript1.5",
        "TEXT/JavaScript; charset=utf-8",
    ],
)
def test_an_attachment_of_any_javascript_type_downloads_as_plain_bytes(content_type: str) -> None:
    """The console allows scripts from its own origin: a file of a type a browser would run
    as a script (any JavaScript MIME type, WHATWG MIME Sniffing) is served as bytes."""
    assert served_type(content_type) == "application/octet-stream"


def test_a_one_time_sign_in_link_never_reaches_the_access_log(
    db: str,
    desk,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The link signs its staff member in: whoever reads the log could use it first."""
    token = "k" * 43
    caplog.set_level(logging.INFO, logger="sportello.access")
    member: Desk = desk()
    assert member.client.get(f"/console/link/{token}").status_code == 200
    logged = [record.getMessage() for record in caplog.records]
    assert any("/console/link/" in line for line in logged), logged
    assert not any(token in line for line in logged), logged


def test_a_contract_begun_in_year_one_is_a_422_review_not_a_server_error(
    api: Api,
    rossi,  # noqa: F811
    db: str,
    desk,  # noqa: F811
) -> None:
    """Midnight of 1 January of year 1 in Rome is in year 0 in UTC: no date says it."""
    contract = rossi["contract"]
    changed = api.admin.patch(
        f"/api/v1/contracts/{contract['id']}",
        json={"starts_on": "0001-01-01", "ends_on": "0001-12-31"},
    )
    assert changed.status_code == 200, changed.text
    add_member(db, "vera@agency.example", role=Role.VIEWER)
    viewer: Desk = desk()
    viewer.sign_in("vera@agency.example")
    answer = viewer.client.get(f"/console/contracts/{contract['id']}/review")
    refused(answer, 422, "0001-01-01")
    assert api.viewer.get(f"/api/v1/contracts/{contract['id']}/review").status_code == 422
