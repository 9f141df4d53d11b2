"""Odd and hostile input against the staff console over real HTTP, on SQLite and PostgreSQL:
whatever is posted, the answer is a page (401, 403, 422), never a server error; and what a
customer sends can never become a script the console's policy (`script-src 'self'`) would run."""

from tests.console.test_console import Desk, add_member, desk  # noqa: F401


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
