"""Malformed MIME through the HTTP endpoint is always stored, as a ticket or quarantined (P1),
never a 5xx (hypothesis)."""

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.routers.test_inbound import BASIC

HEADER_NAMES = [
    "From",
    "To",
    "Subject",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Auto-Submitted",
    "Date",
    "Content-Disposition",
    "MIME-Version",
    "Return-Path",
]
CHARSETS = ["utf-8", "iso-8859-1", "x-unknown", "utf-16", "", "windows-1252\x00"]

header_value = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            "multipart/mixed; boundary=",
            'multipart/alternative; boundary="b"',
            "text/plain; charset=",
            "base64",
            "quoted-printable",
            "<>",
            "=?utf-8?B?",
            "=?x-bad?Q?=FF=FE?=",
            "message/rfc822",
        ]
    ),
    st.builds(lambda c: f'text/plain; charset="{c}"', st.sampled_from(CHARSETS)),
)
header = st.tuples(st.sampled_from(HEADER_NAMES), header_value)
body = st.one_of(
    st.binary(max_size=400),
    st.builds(
        lambda parts: b"\r\n".join(parts),
        st.lists(
            st.sampled_from(
                [b"--b", b"--b--", b"Content-Type: text/html", b"", b"=?=", b"SGVsbG8", b"\xff\xfe"]
            ),
            max_size=20,
        ),
    ),
)


def _message(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    lines = [f"{name}: {value}".encode("utf-8", "surrogateescape") for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + payload


@settings(
    max_examples=int(os.environ.get("INBOUND_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(headers=st.lists(header, max_size=12), payload=body)
def test_malformed_mime_never_gets_a_5xx(api, headers, payload):
    raw = _message(headers, payload)
    response = api.anonymous.post(
        "/api/v1/inbound/email/mime",
        content=raw,
        auth=BASIC,
        headers={"Content-Type": "message/rfc822"},
    )
    # P1: whatever the bytes, they are stored, as a ticket or quarantined; only no bytes at all
    # is no delivery.
    assert response.status_code == (200 if raw.strip() else 400), (raw, response.text)
    if response.status_code == 200:
        answer = response.json()
        assert (answer["ticket_id"] is None) == answer["quarantined"], answer
