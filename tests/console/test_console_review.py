"""Odd and hostile input against the staff console over real HTTP, on SQLite and PostgreSQL:
whatever is posted, the answer is a page (401, 403, 422), never a server error; and what a
customer sends can never become a script the console's policy (`script-src 'self'`) would run."""

import pytest

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
