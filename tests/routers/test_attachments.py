"""Attachments of a conversation: listed on each message, downloaded with their bytes intact,
never rendered inline (an HTML or SVG file cannot run script on our origin)."""

import hashlib
import uuid
from email.message import EmailMessage

import pytest
from sqlalchemy import text
from sqlmodel import Session

from app.db import get_engine
from tests.routers.test_inbound import BASIC, rossi  # noqa: F401  (fixture)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
HTML = b"<html><body><script>document.title='pwned'</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def email_with_files(files: list[tuple[str, str, bytes]]) -> bytes:
    message = EmailMessage()
    message["From"] = "Mario Rossi <mario@rossi.it>"
    message["To"] = "assistenza@agency.example"
    message["Subject"] = "Errore in pagina"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@rossi.it>"
    message.set_content("Vedete la schermata.")
    for filename, content_type, data in files:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def received(api, files) -> dict:
    response = api.anonymous.post(
        "/api/v1/inbound/email/mime",
        content=email_with_files(files),
        auth=BASIC,
        headers={"Content-Type": "message/rfc822"},
    )
    assert response.status_code == 200, response.text
    ticket_id = response.json()["ticket_id"]
    messages = api.viewer.get(f"/api/v1/tickets/{ticket_id}/messages").json()["items"]
    return messages[0]


@pytest.fixture
def files(api, rossi):  # noqa: F811
    message = received(
        api,
        [
            ("schermata.png", "image/png", PNG),
            ("pagina.html", "text/html", HTML),
            ("logo.svg", "image/svg+xml", SVG),
        ],
    )
    return {a["filename"]: a for a in message["attachments"]}


def test_each_message_lists_its_attachments(files):
    assert list(files) == ["schermata.png", "pagina.html", "logo.svg"]
    png = files["schermata.png"]
    assert png["content_type"] == "image/png"
    assert png["size"] == len(PNG)
    assert png["sha256"] == hashlib.sha256(PNG).hexdigest()


def test_a_viewer_downloads_the_bytes_intact_as_an_attachment(api, files):
    png = files["schermata.png"]
    response = api.viewer.get(f"/api/v1/attachments/{png['id']}")
    assert response.status_code == 200
    assert response.content == PNG
    assert hashlib.sha256(response.content).hexdigest() == png["sha256"]
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert 'filename="schermata.png"' in response.headers["content-disposition"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"


def test_the_documented_download_admits_the_stored_type(api):
    """The bytes go out with their stored type (image/png above), so the contract documents
    any type, not application/octet-stream alone (found by schemathesis on PostgreSQL)."""
    paths = api.anonymous.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/attachments/{attachment_id}", "/status/{token}/files/{attachment_id}"):
        assert list(paths[path]["get"]["responses"]["200"]["content"]) == ["*/*"], path


def test_html_and_svg_are_never_served_as_documents(api, files):
    for name, data in (("pagina.html", HTML), ("logo.svg", SVG)):
        response = api.viewer.get(f"/api/v1/attachments/{files[name]['id']}")
        assert response.status_code == 200
        assert response.content == data
        assert response.headers["content-type"] == "application/octet-stream"
        assert response.headers["content-disposition"].startswith("attachment;")
        assert "sandbox" in response.headers["content-security-policy"]
        assert "script-src" not in response.headers["content-security-policy"]


def test_no_token_is_401_and_an_unknown_attachment_404(api, files):
    png = files["schermata.png"]
    assert api.anonymous.get(f"/api/v1/attachments/{png['id']}").status_code == 401
    assert api.viewer.get("/api/v1/attachments/2147483647").status_code == 404
    assert api.viewer.get("/api/v1/attachments/2147483648").status_code == 422


def rename(db: str, attachment_id: int, filename: str) -> None:
    with Session(get_engine(db)) as session:
        session.execute(
            text("UPDATE attachment SET filename = :f WHERE id = :i"),
            {"f": filename, "i": attachment_id},
        )
        session.commit()


@pytest.mark.parametrize(
    ("stored", "fallback", "encoded"),
    [
        ('a"b.pdf', 'filename="ab.pdf"', "filename*=UTF-8''ab.pdf"),
        (
            "x.pdf\r\nSet-Cookie: a=1",
            'filename="x.pdfSet-Cookie: a=1"',
            "filename*=UTF-8''x.pdfSet-Cookie%3A%20a%3D1",
        ),
        ("fattura è.pdf", 'filename="fattura _.pdf"', "filename*=UTF-8''fattura%20%C3%A8.pdf"),
        ("a\\b;c=d.pdf", 'filename="ab;c=d.pdf"', "filename*=UTF-8''ab%3Bc%3Dd.pdf"),
        ("\x01\x07\x7f", 'filename="attachment"', "filename*=UTF-8''attachment"),
    ],
)
def test_hostile_file_names_stay_inside_one_header(api, files, db, stored, fallback, encoded):
    """RFC 6266: a quoted ASCII fallback and the exact name percent-encoded; no control
    character, quote or backslash reaches the header, so no header can be added."""
    png = files["schermata.png"]
    rename(db, png["id"], stored)
    response = api.viewer.get(f"/api/v1/attachments/{png['id']}")
    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    assert disposition == f"attachment; {fallback}; {encoded}"
    assert "set-cookie" not in response.headers


def test_a_damaged_copy_is_never_served(api, files, db):
    png = files["schermata.png"]
    with Session(get_engine(db)) as session:
        session.execute(
            text("UPDATE attachment SET sha256 = :h WHERE id = :i"),
            {"h": "0" * 64, "i": png["id"]},
        )
        session.commit()
    response = api.viewer.get(f"/api/v1/attachments/{png['id']}")
    assert response.status_code == 503
    assert PNG not in response.content
