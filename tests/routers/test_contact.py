"""The website's CONTACT form (R6): public, spam-resistant, JSON or plain HTML."""

import httpx
import pytest
from sqlmodel import Session, func, select

from app.db import get_engine
from app.models.message import Attachment
from app.models.ticket import Ticket

FORM = {
    "name": "Mario Rossi",
    "email": "mario@rossi.it",
    "subject": "Il modulo non invia",
    "message": "Da ieri il modulo ordini dà errore.",
}


def tickets(db) -> int:
    with Session(get_engine(db)) as session:
        return session.exec(select(func.count()).select_from(Ticket)).one()


def test_json_client_gets_201_with_the_deadline(api, db):
    response = api.anonymous.post("/api/v1/contact", json=FORM)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"ticket_number", "take_charge_due_at"}
    queue = api.viewer.get("/api/v1/tickets").json()["items"]
    assert [(t["number"], t["channel"], t["from_email"]) for t in queue] == [
        (body["ticket_number"], "web_form", "mario@rossi.it")
    ]


def test_plain_html_form_is_redirected_to_the_thank_you_page(api, db):
    response = api.anonymous.post(
        "/api/v1/contact", data=FORM, headers={"Accept": "text/html,application/xhtml+xml"}
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/api/v1/contact/thanks?n=")
    page = api.anonymous.get(location)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Richiesta ricevuta" in page.text
    assert tickets(db) == 1


def test_configured_thanks_url_is_used(serve, db):
    server = serve(contact_thanks_url="https://www.rossi.it/grazie")
    response = httpx.post(
        server.base_url + "/api/v1/contact", data=FORM, headers={"Accept": "text/html"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "https://www.rossi.it/grazie"


def test_thanks_page_escapes_its_input(api):
    page = api.anonymous.get("/api/v1/contact/thanks", params={"n": "<script>x</script>"})
    assert "<script>x" not in page.text and "&lt;script&gt;" in page.text


def test_multipart_with_files_stores_them(api, db):
    response = api.anonymous.post(
        "/api/v1/contact",
        data=FORM,
        files=[
            ("attachments", ("errore.png", b"\x89PNG fake", "image/png")),
            ("attachments", ("../log.txt", b"log", "text/plain")),
        ],
    )
    assert response.status_code == 201, response.text
    with Session(get_engine(db)) as session:
        names = sorted(session.exec(select(Attachment.filename)).all())
    assert names == ["errore.png", "log.txt"]


def test_a_file_type_that_is_not_a_type_is_stored_as_octet_stream(api, db):
    """The browser's Content-Type is outside data: a NUL in it was a 500 on PostgreSQL."""
    response = api.anonymous.post(
        "/api/v1/contact",
        data=FORM,
        files=[("attachments", ("nota.txt", b"testo", "text/pl\x00ain"))],
    )
    assert response.status_code == 201, response.text
    with Session(get_engine(db)) as session:
        types = session.exec(select(Attachment.content_type)).all()
    assert types == ["application/octet-stream"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"name": ""}, "name"),
        ({"message": ""}, "message"),
        ({"subject": "x" * 1000}, "subject"),
    ],
)
def test_validation_names_the_field(api, db, change, field):
    response = api.anonymous.post("/api/v1/contact", json={**FORM, **change})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]
    form = api.anonymous.post("/api/v1/contact", data={**FORM, **change})
    assert form.status_code == 422
    assert tickets(db) == 0


def test_missing_fields_and_bad_bodies(api, db):
    missing = api.anonymous.post("/api/v1/contact", json={"name": "x"})
    assert {e["field"] for e in missing.json()["errors"]} == {"email", "subject", "message"}
    assert (
        api.anonymous.post(
            "/api/v1/contact", content=b"{nope", headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert (
        api.anonymous.post(
            "/api/v1/contact", content=b"[1]", headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert (
        api.anonymous.post(
            "/api/v1/contact", content=b"x", headers={"Content-Type": "text/plain"}
        ).status_code
        == 400
    )


def test_honeypot_answers_like_success_and_stores_nothing(api, db):
    response = api.anonymous.post("/api/v1/contact", json={**FORM, "website": "http://spam"})
    assert response.status_code == 201
    assert response.json()["ticket_number"]
    html = api.anonymous.post(
        "/api/v1/contact", data={**FORM, "website": "x"}, headers={"Accept": "text/html"}
    )
    assert html.status_code == 303
    assert tickets(db) == 0


def test_rate_limit_per_ip_with_retry_after(serve, db):
    server = serve(contact_rate_limit=2, contact_rate_window_seconds=60)
    statuses = [
        httpx.post(server.base_url + "/api/v1/contact", json=FORM).status_code for _ in range(3)
    ]
    assert statuses == [201, 201, 429]
    limited = httpx.post(server.base_url + "/api/v1/contact", json=FORM)
    assert limited.headers["content-type"] == "application/problem+json"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert tickets(db) == 2


def test_processes_behind_one_proxy_share_one_limit_per_forwarded_client(serve, db):
    """Two API processes, one proxy in front: the limit follows the real client, not the proxy."""
    settings = {
        "contact_rate_limit": 2,
        "contact_rate_window_seconds": 60,
        "forwarded_allow_ips": "127.0.0.1",
    }
    first, second = serve(**settings), serve(**settings)

    def post(server, client_ip: str) -> int:
        forwarded = {"X-Forwarded-For": client_ip}
        url = server.base_url + "/api/v1/contact"
        return httpx.post(url, json=FORM, headers=forwarded).status_code

    assert [post(first, "203.0.113.7"), post(second, "203.0.113.7")] == [201, 201]
    assert post(first, "203.0.113.7") == 429
    assert post(second, "203.0.113.7") == 429
    assert post(second, "198.51.100.9") == 201  # another visitor is not held back
    assert tickets(db) == 3


def test_without_a_trusted_proxy_the_forwarded_header_is_ignored(serve, db):
    """Anyone can write X-Forwarded-For: from an untrusted peer it counts for nothing."""
    server = serve(contact_rate_limit=2, contact_rate_window_seconds=60)
    statuses = [
        httpx.post(
            server.base_url + "/api/v1/contact",
            json=FORM,
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
        ).status_code
        for n in range(3)
    ]
    assert statuses == [201, 201, 429]


def test_cors_only_for_configured_origins(serve, db):
    server = serve(cors_origins="https://www.rossi.it, https://rossi.it")
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    allowed = httpx.options(
        server.base_url + "/api/v1/contact", headers={"Origin": "https://www.rossi.it", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://www.rossi.it"
    refused = httpx.options(
        server.base_url + "/api/v1/contact", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in refused.headers
    post = httpx.post(
        server.base_url + "/api/v1/contact", json=FORM, headers={"Origin": "https://rossi.it"}
    )
    assert post.headers["access-control-allow-origin"] == "https://rossi.it"


def test_no_cors_by_default(api):
    response = api.anonymous.options(
        "/api/v1/contact",
        headers={"Origin": "https://www.rossi.it", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in response.headers


def test_oversized_file_is_413_and_nothing_stored(serve, db):
    server = serve(max_file_bytes=100)
    response = httpx.post(
        server.base_url + "/api/v1/contact",
        data=FORM,
        files=[("attachments", ("big.bin", b"x" * 500, "application/pdf"))],
    )
    assert response.status_code == 413
    assert tickets(db) == 0


def test_a_plain_form_that_fails_validation_gets_a_readable_page_naming_the_fields(api, db):
    """A browser deserves a page, not problem+json: which fields, in Italian and English."""
    response = api.anonymous.post(
        "/api/v1/contact",
        data={**FORM, "email": "not-an-address", "message": ""},
        headers={"Accept": "text/html,application/xhtml+xml"},
    )

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "Richiesta non inviata" in page and "Request not sent" in page
    assert "<strong>Email</strong>: non è valido" in page
    assert "<strong>Messaggio</strong>: è obbligatorio" in page
    assert "<strong>Message</strong>:" in page
    assert "<strong>Nome</strong>" not in page  # the name was fine
    assert tickets(db) == 0


def test_a_plain_form_over_the_rate_limit_gets_a_page_with_retry_after(serve, db):
    server = serve(contact_rate_limit=1, contact_rate_window_seconds=60)
    html = {"Accept": "text/html"}
    url = server.base_url + "/api/v1/contact"
    assert httpx.post(url, data=FORM, headers=html).status_code == 303
    limited = httpx.post(url, data=FORM, headers=html)

    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("text/html")
    assert "riprova tra qualche minuto" in limited.text
    assert 1 <= int(limited.headers["retry-after"]) <= 60


def test_json_clients_still_get_problem_details(api):
    response = api.anonymous.post("/api/v1/contact", json={**FORM, "email": "nope"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "email"


def test_a_form_streamed_past_the_body_limit_is_413_and_nothing_stored(serve, db):
    """No Content-Length to refuse up front: the form is parsed as it arrives, and the limit
    stops it there with the same problem as a declared one."""
    server = serve(max_message_bytes=10_000)
    boundary = b"b0undary"

    def chunks():
        yield b'--b0undary\r\nContent-Disposition: form-data; name="message"\r\n\r\n'
        for _ in range(100):
            yield b"x" * 1000

    response = httpx.post(
        server.base_url + "/api/v1/contact",
        content=chunks(),
        headers={"Content-Type": "multipart/form-data; boundary=" + boundary.decode()},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "The request body is larger than the limit of 10000 bytes."
    assert tickets(db) == 0


def test_a_multipart_form_cut_short_is_400(api, db):
    fields = "".join(
        f'--b0\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in FORM.items()
    )
    response = api.anonymous.post(
        "/api/v1/contact",
        content=fields.encode(),  # no closing --b0--: the form did not arrive whole
        headers={"Content-Type": "multipart/form-data; boundary=b0"},
    )
    assert response.status_code == 400
    assert tickets(db) == 0
