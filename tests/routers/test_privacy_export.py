"""Export (art. 15 and 20 GDPR, P5): a ZIP whose data.json validates against the published
schema, with the conversation's files byte for byte, named so a person can read them and safe
whatever the sender called them; internal notes only for the agency's own use."""

import base64
import io
import json
import logging
import re
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.db import get_engine
from app.services.privacy.export import zip_path
from app.services.privacy.schema import PUBLISHED, export_schema
from tests.routers import privacy_desk as desk

SCHEMA = json.loads(Path(PUBLISHED).read_text(encoding="utf-8"))
SAFE_ENTRY = re.compile(r"^tickets/[0-9]{4}-[0-9]{6,10}/attachments/[0-9]+-[^/\\\x00-\x1f]+$")


@pytest.fixture
def built(api, db) -> dict[str, Any]:
    return desk.build(api, get_engine(db))


def exported(client, url: str, **params: Any) -> tuple[dict[str, Any], zipfile.ZipFile]:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith("attachment;")
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    document = json.loads(archive.read("data.json"))
    jsonschema.validate(document, SCHEMA, format_checker=jsonschema.FormatChecker())
    return document, archive


def files_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        file
        for ticket in document["tickets"]
        for message in ticket["messages"]
        for file in message["attachments"]
    ]


def test_the_published_schema_is_the_one_the_models_write():
    # `python -m app.services.privacy.schema` writes it again.
    assert json.loads(export_schema()) == SCHEMA
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_a_customers_export_holds_its_data_and_files_but_no_internal_notes(api, built):
    document, archive = exported(api.admin, f"/api/v1/customers/{built['customer_id']}/export")

    assert document["subject"] == "customer" and document["include_internal"] is False
    assert document["customer"]["name"] == desk.CUSTOMER
    assert document["customer"]["email_domains"] == ["rossi.it"]
    assert {c["email"] for c in document["contacts"]} == {desk.MARIO, desk.GIULIA}
    assert [c["code"] for c in document["contracts"]] == ["R-2026"]
    tickets = {t["id"]: t for t in document["tickets"]}
    assert set(tickets) == {built["a"], built["b"], built["c"]}
    a = tickets[built["a"]]
    assert [m["kind"] for m in a["messages"]].count("inbound") == 1
    assert "reply" in [m["kind"] for m in a["messages"]]
    assert "note" not in [m["kind"] for m in a["messages"]]
    assert "errore 5012" in a["messages"][0]["text"]
    assert [e["kind"] for e in a["status_history"]][:1] == ["created"]
    assert all(e["data"] is None for e in a["status_history"])
    assert a["time_entries"][0]["minutes"] == 30
    b = tickets[built["b"]]
    assert b["billed_lines"][0]["invoice_ref"] == desk.INVOICE
    assert b["billed_lines"][0]["reason"] == "not_covered"
    assert [c["decision"] for c in b["consents"]] == ["given"]
    # The note's words and its file are not in the ZIP at all.
    everything = b"".join(archive.read(name) for name in archive.namelist())
    assert b"Qwerty123" not in everything and desk.NOTE_FILE not in everything


def test_every_file_is_in_the_zip_with_its_sha256_under_a_safe_name(api, built):
    document, archive = exported(api.admin, f"/api/v1/customers/{built['customer_id']}/export")

    files = files_of(document)
    assert sorted(archive.namelist()) == sorted(["data.json", *(f["path"] for f in files)])
    for file in files:
        data = archive.read(file["path"])
        assert desk.sha256(data) == file["sha256"] and len(data) == file["size"]
        assert SAFE_ENTRY.match(file["path"]), file["path"]
    by_content = {archive.read(f["path"]): f for f in files}
    assert by_content[desk.SCREENSHOT]["path"].endswith("-schermata.png")
    hostile = by_content[desk.HOSTILE_BYTES]["path"]
    assert ".." not in hostile and "<" not in hostile and "\r" not in hostile


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "/abs/olute", "C:\\win\\x.exe", "a\r\nb", "\x00", "..", "CON", "é" * 400],
)
def test_a_zip_path_never_leaves_its_folder(name):
    path = zip_path("2026-000042", 7, name)
    assert SAFE_ENTRY.match(path), path
    assert not any(part in ("", ".", "..") for part in path.split("/"))


@given(st.text(max_size=300))
def test_whatever_a_sender_calls_a_file_its_zip_path_stays_in_its_folder(name):
    path = zip_path("2026-000042", 7, name)
    assert SAFE_ENTRY.match(path), path
    assert not any(part in ("", ".", "..") for part in path.split("/"))


def test_the_agency_may_include_internal_notes(api, built):
    document, archive = exported(
        api.admin, f"/api/v1/customers/{built['customer_id']}/export", include_internal="true"
    )
    a = next(t for t in document["tickets"] if t["id"] == built["a"])
    notes = [m for m in a["messages"] if m["kind"] == "note"]
    assert len(notes) == 1 and "Qwerty123" in notes[0]["text"]
    assert archive.read(notes[0]["attachments"][0]["path"]) == desk.NOTE_FILE
    assert any(e["data"] is not None for e in a["status_history"])


def test_a_persons_export_holds_their_requests_only(api, built, caplog):
    caplog.set_level(logging.DEBUG)
    document, archive = exported(api.admin, "/api/v1/people/export", email=desk.MARIO.upper())

    # The server's log lines never carry the address (the client's own lines may).
    served = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert served and not [r for r in served if desk.MARIO in r.getMessage().lower()]

    assert document["subject"] == "person" and document["customer"] is None
    assert [c["email"] for c in document["contacts"]] == [desk.MARIO]
    assert {t["id"] for t in document["tickets"]} == {built["a"], built["b"]}
    assert desk.GIULIA.encode() not in archive.read("data.json")


def test_someone_unknown_has_an_empty_export(api, db):
    document, archive = exported(api.admin, "/api/v1/people/export", email="nobody@example.com")
    assert document["tickets"] == [] and document["contacts"] == []
    assert archive.namelist() == ["data.json"]


def test_only_an_admin_exports(api, built):
    url = f"/api/v1/customers/{built['customer_id']}/export"
    assert api.agent.get(url).status_code == 403
    assert api.viewer.get("/api/v1/people/export", params={"email": desk.MARIO}).status_code == 403
    assert api.anonymous.get(url).status_code == 401
    assert api.admin.get("/api/v1/customers/999999/export").status_code == 404
    bad = api.admin.get("/api/v1/people/export", params={"email": "not an address\r\n"})
    assert bad.status_code == 422


def test_a_tickets_consent_is_exported_as_it_was_recorded(api, built):
    """The answer to billable work (R4: email outside the contract) travels with its ticket."""
    person, _ = exported(api.admin, "/api/v1/people/export", email=desk.MARIO)
    consents = {t["id"]: t["consents"] for t in person["tickets"]}
    assert consents[built["a"]] == []  # covered work: nothing to agree to
    [given] = consents[built["b"]]
    assert (given["decision"], given["via"]) == ("given", "staff")
    assert given["note"] == f"Confermato al telefono da {desk.MARIO_NAME}."
    assert given["rate_text"] and given["rate_version"]
    assert given["reasons"] == ["not_covered"]


def test_a_persons_export_holds_their_messages_on_another_customers_ticket(api, built):
    """A reply on another customer's ticket copied to Mario is his as erasure finds it (P5):
    it is in his export under that ticket's number, the ticket itself is not."""
    other = api.admin.post(
        "/api/v1/customers", json={"name": "Neri Srl", "email_domains": ["neri.it"]}
    )
    assert other.status_code == 201, other.text
    ticket = api.agent.post(
        "/api/v1/tickets",
        json={
            "channel": "email",
            "from_email": "luca@neri.it",
            "from_name": "Luca Neri",
            "subject": "Sito lento",
            "body": "Il sito è lento da ieri.",
        },
    )
    assert ticket.status_code == 201, ticket.text
    attachment = {
        "filename": "velocità.txt",
        "content_type": "text/plain",
        "content_base64": base64.b64encode(b"tempi di risposta").decode(),
    }
    reply = api.agent.post(
        f"/api/v1/tickets/{ticket.json()['id']}/replies",
        json={"text": "Buongiorno, il sito è di nuovo veloce.", "cc": [desk.MARIO]}
        | {"allow_other_recipients": True, "attachments": [attachment]},
    )
    assert reply.status_code == 201, reply.text

    document, archive = exported(api.admin, "/api/v1/people/export", email=desk.MARIO)

    assert {t["id"] for t in document["tickets"]} == {built["a"], built["b"]}
    [message] = document["messages_elsewhere"]
    [file] = message["attachments"]
    assert file["path"].startswith(f"tickets/{ticket.json()['number']}/attachments/")
    assert archive.read(file["path"]) == b"tempi di risposta"
    assert message["ticket_number"] == ticket.json()["number"]
    assert message["kind"] == "reply" and desk.MARIO in message["to"]
    assert message["text"].startswith("Buongiorno, il sito è di nuovo veloce.")
    luca, _ = exported(api.admin, "/api/v1/people/export", email="luca@neri.it")
    assert luca["messages_elsewhere"] == []
    customer, _ = exported(api.admin, f"/api/v1/customers/{built['customer_id']}/export")
    assert customer["messages_elsewhere"] == []
