"""Mailgun's webhook signature and HTTP Basic credentials, checked without a clock."""

import base64
import hashlib
import hmac

import pytest

from app.services.intake.parsing import check_basic_auth, verify_mailgun_signature

from . import MAILGUN_TEST_KEY, provider_fixture

KEY = MAILGUN_TEST_KEY
TIMESTAMP = "1795446000"
TOKEN = "06c96bafc3f42a66b9edd546347a2fe18dc23461fe80dc52f0"


def sign(timestamp: str, token: str, key: str = KEY) -> str:
    return hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def verify(**overrides: object) -> bool:
    arguments: dict = {
        "signing_key": KEY,
        "timestamp": TIMESTAMP,
        "token": TOKEN,
        "signature": sign(TIMESTAMP, TOKEN),
        "now": float(TIMESTAMP) + 10,
    }
    return verify_mailgun_signature(**{**arguments, **overrides})


def test_fixture_payloads_carry_valid_signatures() -> None:
    for name in ("mailgun_forward.json", "mailgun_mime.json"):
        fields, _ = provider_fixture(name)
        assert verify_mailgun_signature(
            signing_key=KEY,
            timestamp=fields["timestamp"],
            token=fields["token"],
            signature=fields["signature"],
            now=int(fields["timestamp"]) + 1,
        )


def test_valid_signature() -> None:
    assert verify()
    assert verify(signature=sign(TIMESTAMP, TOKEN).upper())


@pytest.mark.parametrize(
    "overrides",
    [
        {"signing_key": "another-key"},
        {"token": TOKEN + "x"},
        {"signature": sign(TIMESTAMP, TOKEN)[:-1] + "0"},
        {"signature": "è" * 64},
        {"signature": ""},
        {"signing_key": ""},
        {"timestamp": "not-a-number", "signature": sign("not-a-number", TOKEN)},
        {"timestamp": "1e9", "signature": sign("1e9", TOKEN)},
        {"timestamp": "-5", "signature": sign("-5", TOKEN)},
        {"now": float(TIMESTAMP) + 301},
        {"now": float(TIMESTAMP) - 301},
    ],
)
def test_invalid_or_stale_signature(overrides: dict) -> None:
    assert not verify(**overrides)


def test_max_age_is_configurable() -> None:
    assert verify(now=float(TIMESTAMP) + 3600, max_age_seconds=3600)
    assert not verify(now=float(TIMESTAMP) + 3601, max_age_seconds=3600)


def basic(credentials: bytes) -> str:
    return "Basic " + base64.b64encode(credentials).decode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (basic(b"mailhook:s3cret:with:colons"), True),
        ("basic " + base64.b64encode(b"mailhook:s3cret:with:colons").decode(), True),
        (basic(b"mailhook:wrong"), False),
        (basic(b"other:s3cret:with:colons"), False),
        (basic(b"mailhook"), False),
        (basic(b""), False),
        ("Bearer abc", False),
        ("Basic not-base64!!", False),
        ("Basic ", False),
        ("Basic èè", False),
        ("", False),
        (None, False),
    ],
)
def test_check_basic_auth(header: str | None, expected: bool) -> None:
    assert check_basic_auth(header, username="mailhook", password="s3cret:with:colons") is expected


def test_basic_auth_with_unicode_credentials() -> None:
    header = basic("città:pàss".encode())

    assert check_basic_auth(header, username="città", password="pàss")


def test_empty_expected_credentials_never_match() -> None:
    assert not check_basic_auth(basic(b":"), username="", password="")
