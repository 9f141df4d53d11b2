"""The console's cookies and words, without a server."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.console.guard import secure_cookies
from app.services.console.words import WORDS, business_time
from tests.conftest import make_settings


@pytest.mark.parametrize(
    ("public_url", "secure"),
    [
        ("http://127.0.0.1:8000", False),
        ("http://desk.agency.example", False),
        ("https://localhost:8443", False),
        ("https://desk.agency.example", True),
    ],
)
def test_cookies_are_secure_unless_on_http_or_loopback(public_url: str, secure: bool) -> None:
    assert secure_cookies(make_settings("sqlite://", public_url=public_url)) is secure


@given(st.integers(min_value=-3600, max_value=10**7))
def test_business_time_says_the_whole_minutes_left(seconds: int) -> None:
    said = business_time(seconds)
    match = re.fullmatch(r"(?:(\d+) h)?(?: ?(\d+) min)?", said)
    assert match and said
    hours, minutes = int(match.group(1) or 0), int(match.group(2) or 0)
    assert hours * 60 + minutes == max(seconds, 0) // 60
    assert minutes < 60


def test_both_languages_have_every_word() -> None:
    assert WORDS["it"].keys() == WORDS["en"].keys()
