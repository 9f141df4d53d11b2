"""Webhook authenticity checks, pure and constant-time (the caller passes `now`)."""

import base64
import binascii
import hmac
import re

_TIMESTAMP = re.compile(r"\d{1,12}")


def _utf8(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


def verify_mailgun_signature(
    *,
    signing_key: str,
    timestamp: str,
    token: str,
    signature: str,
    now: float,
    max_age_seconds: int = 300,
) -> bool:
    """True when `signature` is Mailgun's HMAC-SHA256 of timestamp+token and is fresh.

    Freshness is |now - timestamp| <= max_age_seconds; rejecting replayed tokens is the caller's
    job (it needs storage).
    """
    if not all(isinstance(v, str) and v for v in (signing_key, timestamp, token, signature)):
        return False
    if not _TIMESTAMP.fullmatch(timestamp) or abs(now - int(timestamp)) > max_age_seconds:
        return False
    # hmac.digest: the one-shot HMAC in C (hmac.new builds two hash objects in Python first).
    expected = hmac.digest(_utf8(signing_key), _utf8(timestamp + token), "sha256").hex()
    return hmac.compare_digest(expected.encode("ascii"), _utf8(signature.strip().lower()))


def check_basic_auth(header_value: str | None, *, username: str, password: str) -> bool:
    """True when an Authorization header carries HTTP Basic credentials equal to the expected.

    Both parts are always compared (constant time); empty expected credentials never match.
    """
    if not username or not password or not isinstance(header_value, str):
        return False
    scheme, _, encoded = header_value.strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip().encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False
    given_user, colon, given_password = decoded.partition(b":")
    user_ok = hmac.compare_digest(given_user, _utf8(username))
    password_ok = hmac.compare_digest(given_password, _utf8(password))
    return bool(colon) and user_ok and password_ok
