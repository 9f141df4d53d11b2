"""Every error is RFC 9457 problem+json, never a stack trace (API.md conventions)."""

import pytest

from app.services.directory import customers
from tests.failing_inserts import failing_inserts


def _problem(response, status):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    assert "Traceback" not in response.text
    return body


def test_unknown_path_is_404_problem(api):
    _problem(api.admin.get("/api/v1/nothing-here"), 404)


def test_unknown_id_is_404_problem(api):
    body = _problem(api.admin.get("/api/v1/customers/999999"), 404)
    assert "999999" in body["detail"]


def test_out_of_range_id_is_422(api):
    body = _problem(api.admin.get("/api/v1/customers/99999999999"), 422)
    assert body["errors"][0]["field"] == "customer_id"


def test_wrong_method_is_405_problem(api):
    _problem(api.admin.delete("/api/v1/calendars"), 405)


DEEP_JSON = b"[" * 10_000 + b"]" * 10_000


@pytest.mark.parametrize(
    "body",
    [b'{"name": ', b'{"name": "\xff"}', b'{"name": "a", "n": ' + b"9" * 5000 + b"}", DEEP_JSON],
)
def test_malformed_json_is_400_problem(api, body):
    """Cut short, not UTF-8, a number past the decoder's digits, nested past its recursion:
    the same problem, not FastAPI's own words."""
    response = api.admin.post(
        "/api/v1/customers", content=body, headers={"Content-Type": "application/json"}
    )
    problem = _problem(response, 400)
    assert problem["type"].endswith("/malformed-json")
    assert problem["detail"] == "The request body is not valid JSON."


def test_validation_error_names_each_field(api):
    body = _problem(
        api.admin.post(
            "/api/v1/customers", json={"name": "", "language": "fr", "email_domains": ["x"]}
        ),
        422,
    )
    fields = {e["field"] for e in body["errors"]}
    assert {"name", "language", "email_domains"} <= fields


def test_unknown_fields_are_refused(api):
    body = _problem(api.admin.post("/api/v1/customers", json={"name": "A", "nmae": "B"}), 422)
    assert body["errors"][0]["field"] == "nmae"


def test_oversized_json_body_is_413_and_nothing_stored(api, serve):
    server = serve(max_json_bytes=2048)
    import httpx

    client = httpx.Client(base_url=server.base_url, headers=dict(api.admin.headers))
    big = {"name": "A" * 100, "contacts": [{"email": f"p{i}@a.it"} for i in range(200)]}
    _problem(client.post("/api/v1/customers", json=big), 413)

    # Streamed without a Content-Length, the limit holds too.
    def chunks():
        yield b'{"name": "' + b"A" * 4000 + b'"}'

    _problem(
        client.post(
            "/api/v1/customers", content=chunks(), headers={"Content-Type": "application/json"}
        ),
        413,
    )
    assert api.admin.get("/api/v1/customers").json()["total"] == 0
    client.close()


def test_database_outage_is_503_problem(serve):
    import httpx

    server = serve(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = httpx.get(server.base_url + "/readyz")
    _problem(response, 503)
    assert int(response.headers["retry-after"]) > 0  # a balancer knows when to look again


def test_every_response_forbids_type_sniffing(api):
    for response in (
        api.anonymous.get("/healthz"),
        api.anonymous.get("/api/v1/contact/thanks"),
        api.viewer.get("/api/v1/tickets"),
        api.anonymous.get("/api/v1/nothing-here"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"


def test_json_nested_too_deep_is_400_everywhere(api):
    """A body that would exhaust the parser's recursion is bad input, not a crash; from Postmark
    (basic auth passed) it is a delivery all the same: kept raw in the quarantine (P1)."""
    from tests.conftest import INBOUND_PASSWORD, INBOUND_USER

    json_type = {"Content-Type": "application/json"}
    contact = api.anonymous.post("/api/v1/contact", content=DEEP_JSON, headers=json_type)
    postmark = api.anonymous.post(
        "/api/v1/inbound/email/postmark",
        content=DEEP_JSON,
        headers=json_type,
        auth=(INBOUND_USER, INBOUND_PASSWORD),
    )
    internal = api.admin.post("/api/v1/customers", content=DEEP_JSON, headers=json_type)

    for response in (contact, internal):
        _problem(response, 400)
    assert postmark.status_code == 200 and postmark.json()["quarantined"] is True


def test_a_client_that_hangs_up_mid_body_is_one_info_line(api, caplog):
    """Anyone can hang up: that is no error of ours, and must not flood the error log."""
    import logging
    import socket
    import time
    from urllib.parse import urlsplit

    caplog.set_level(logging.INFO)
    address = urlsplit(api.base_url)
    with socket.create_connection((address.hostname, address.port)) as connection:
        connection.sendall(
            b"POST /api/v1/contact HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"name": "half'
        )
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(
        "disconnected" in r.getMessage() for r in caplog.records
    ):
        time.sleep(0.05)

    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    gone = [r for r in caplog.records if "disconnected" in r.getMessage()]
    assert len(gone) == 1 and gone[0].levelno == logging.INFO and gone[0].exc_info is None


def test_a_body_that_trickles_in_is_cut_off_with_408(serve):
    """A client that starts a body and never finishes it cannot hold a connection for ever."""
    import socket
    import time
    from urllib.parse import urlsplit

    server = serve(body_read_timeout_seconds=0.5)
    address = urlsplit(server.base_url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(
            b"POST /api/v1/contact HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"name": "slow'
        )
        started = time.monotonic()
        for _ in range(3):  # a byte now and then is not enough to keep it going
            time.sleep(0.2)
            connection.sendall(b"w")
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = connection.recv(4096)
            if not chunk:
                break
            answer += chunk
        waited = time.monotonic() - started

    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"connection: close" in answer.lower()
    assert waited >= 0.4  # cut off by the body's total time, not by a per-byte timeout


def test_every_201_names_what_it_created_in_location(api):
    customer = api.admin.post("/api/v1/customers", json={"name": "Rossi"})
    calendar = api.admin.post(
        "/api/v1/calendars",
        json={"name": "estate", "timezone": "Europe/Rome", "weekly": {"mon": [["09:00", "12:00"]]}},
    )
    contract = api.admin.post(
        "/api/v1/contracts",
        json={
            "customer_id": customer.json()["id"],
            "code": "R-1",
            "starts_on": "2026-01-01",
            "annual_fee": "1.00",
        },
    )
    ticket = api.agent.post(
        "/api/v1/tickets",
        json={"channel": "email", "from_email": "a@b.it", "subject": "s", "body": "b"},
    )
    for response, path in (
        (customer, "customers"),
        (calendar, "calendars"),
        (contract, "contracts"),
        (ticket, "tickets"),
    ):
        assert response.status_code == 201, response.text
        location = response.headers["location"]
        assert location == f"/api/v1/{path}/{response.json()['id']}"
        assert api.admin.get(location).json()["id"] == response.json()["id"]

    contact = api.anonymous.post(
        "/api/v1/contact",
        json={"name": "Anna", "email": "anna@b.it", "subject": "s", "message": "m"},
    )
    assert contact.status_code == 201
    assert contact.headers["location"] == f"/api/v1/tickets/{contact.json()['ticket_number']}"
    assert api.viewer.get(contact.headers["location"]).status_code == 200


def test_a_database_error_that_is_no_outage_is_a_logged_500_naming_the_request(api, db, caplog):
    """Issue 27: a statement the database refuses is a bug, not an outage: a 500 whose body
    names the request id of the log line that holds the traceback, never a 503 to retry."""
    with failing_inserts(db, "customer", error="refused by a trigger"):
        response = api.admin.post("/api/v1/customers", json={"name": "Rossi"})
    body = _problem(response, 500)
    assert "retry-after" not in response.headers
    assert body["request_id"] == response.headers["x-request-id"]
    logged = [
        r for r in caplog.records if "unhandled error on POST /api/v1/customers" in r.getMessage()
    ]
    assert len(logged) == 1 and logged[0].exc_info is not None


def test_a_bug_is_a_500_naming_the_request_with_one_traceback(api, monkeypatch, caplog):
    """Any other exception (a bug) is answered inside the middleware: the answer names the
    request id of its one logged traceback and has the security headers. It was answered
    outside them, under no request id, and logged twice."""

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(customers, "create_customer", broken)
    response = api.admin.post(
        "/api/v1/customers", json={"name": "Rossi"}, headers={"X-Request-Id": "bug-report-1"}
    )
    body = _problem(response, 500)
    assert body["request_id"] == response.headers["x-request-id"] == "bug-report-1"
    assert response.headers["x-content-type-options"] == "nosniff"
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert len(tracebacks) == 1, [r.getMessage() for r in tracebacks]
    assert tracebacks[0].getMessage() == "unhandled error on POST /api/v1/customers"
