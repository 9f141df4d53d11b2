"""Every 4xx on an inbound route is logged at WARNING with its reason (issue 26, item 5; P1):
a relay takes a refusal as final, so an operator must see that a customer's mail was refused
and why. Never the body, never a full address."""

import logging

import httpx
import pytest

from tests.routers.test_inbound import BASIC, mailgun_fields, signed

SECRET_BODY = "CORPO-RISERVATO-7f3a"


@pytest.fixture
def refusals(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="sportello.access")

    def lines(path: str) -> list[logging.LogRecord]:
        return [
            r
            for r in caplog.records
            if r.name == "sportello.access" and path in r.getMessage() and "refused" in r.msg
        ]

    return lines


def only_warning(records: list[logging.LogRecord], status: int, reason: str) -> str:
    (record,) = records
    message = record.getMessage()
    assert record.levelno == logging.WARNING, message
    assert f" {status} " in message and reason in message, message
    assert SECRET_BODY not in message and "mario@rossi.it" not in message
    return message


def test_webhook_refusals_are_warnings_with_their_reason(api, refusals):
    fields = signed(mailgun_fields(body=SECRET_BODY))
    fields["signature"] = "0" * 64
    assert api.anonymous.post("/api/v1/inbound/email/mailgun", data=fields).status_code == 403
    only_warning(refusals("/mailgun"), 403, "signature is wrong or too old")

    wrong = api.anonymous.post(
        "/api/v1/inbound/email/postmark",
        json={"From": "mario@rossi.it", "TextBody": SECRET_BODY},
        auth=("inbound", "wrong"),
    )
    assert wrong.status_code == 401
    only_warning(refusals("/postmark"), 401, "Wrong inbound webhook credentials")

    typed = api.anonymous.post(
        "/api/v1/inbound/email/sendgrid", json={"text": SECRET_BODY}, auth=BASIC
    )
    assert typed.status_code == 415
    only_warning(refusals("/sendgrid"), 415, "takes application/x-www-form-urlencoded")


def test_a_body_over_the_limit_is_a_warning(serve, refusals):
    server = serve(max_message_bytes=1000)
    response = httpx.post(
        server.base_url + "/api/v1/inbound/email/mime",
        content=b"From: mario@rossi.it\r\n\r\n" + SECRET_BODY.encode() * 100,
        auth=BASIC,
        headers={"Content-Type": "message/rfc822"},
    )
    assert response.status_code == 413
    only_warning(refusals("/mime"), 413, "larger than the limit of 1000 bytes")


def test_contact_form_refusals_are_warnings_json_or_html(api, refusals):
    invalid = api.anonymous.post(
        "/api/v1/contact",
        json={"name": "Mario", "email": "mario@rossi.it", "subject": "", "message": SECRET_BODY},
    )
    assert invalid.status_code == 422
    only_warning(refusals("/contact"), 422, "Invalid input: subject")

    page = api.anonymous.post(
        "/api/v1/contact",
        data={"name": "Mario", "email": "not-an-address", "subject": "x", "message": SECRET_BODY},
        headers={"Accept": "text/html"},
    )
    assert page.status_code == 422
    assert only_warning(refusals("/contact")[1:], 422, "Some fields need correcting: email")


def test_what_is_stored_is_not_a_warning(api, refusals, caplog):
    response = api.anonymous.post("/api/v1/inbound/email/mailgun", data=signed(mailgun_fields()))
    assert response.status_code == 200
    assert refusals("/mailgun") == []
    assert any(
        r.levelno == logging.INFO and "/mailgun 200" in r.getMessage()
        for r in caplog.records
        if r.name == "sportello.access"
    )
