"""The conversation as staff see it: every message with its kind and author; internal notes
that never leave the desk."""

import base64

from sqlmodel import Session, func, select

from app.db import get_engine
from app.models.common import Items
from app.models.message import MessageRead
from app.models.outbox import Outbox
from tests.routers.test_tickets import new_ticket, rossi  # noqa: F401  (fixture)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def outbox_rows(db: str) -> int:
    with Session(get_engine(db)) as session:
        return session.exec(select(func.count()).select_from(Outbox)).one()


def test_a_note_is_kept_with_its_author_and_files_and_never_emailed(api, rossi, db):  # noqa: F811
    ticket = new_ticket(api)
    api.agent.post(f"/api/v1/tickets/{ticket['id']}/take-charge", json={})  # a letter (R11)
    queued = outbox_rows(db)
    response = api.agent.post(
        f"/api/v1/tickets/{ticket['number']}/notes",
        json={
            "text": "Il cliente usa ancora PHP 7.4.",
            "attachments": [
                {"filename": "../../log\r\n.txt", "content_type": "text/plain",
                 "content_base64": b64(b"errore 500\n")},
            ],
        },
    )  # fmt: skip
    assert response.status_code == 201, response.text
    note = response.json()
    assert note["kind"] == "note" and note["direction"] == "internal"
    assert note["author"]["name"] == "test-agent"
    assert note["attachments"][0]["filename"] == "log .txt"
    assert outbox_rows(db) == queued  # never emailed
    messages = api.viewer.get(f"/api/v1/tickets/{ticket['id']}/messages").json()["items"]
    assert [m["kind"] for m in messages] == ["inbound", "automatic", "note"]
    assert messages[0]["author"] is None and messages[2]["author"] == note["author"]
    download = api.viewer.get(f"/api/v1/attachments/{note['attachments'][0]['id']}")
    assert download.content == b"errore 500\n"
    events = api.viewer.get(f"/api/v1/tickets/{ticket['id']}/events").json()["items"]
    assert events[-1]["kind"] == "note_added" and events[-1]["actor"] == "test-agent"


def test_only_agents_write_notes_and_files_keep_the_intake_limit(api, rossi, serve):  # noqa: F811
    ticket = new_ticket(api)
    path = f"/api/v1/tickets/{ticket['id']}/notes"
    assert api.viewer.post(path, json={"text": "x"}).status_code == 403
    assert api.agent.post(path, json={"text": ""}).status_code == 422
    assert api.agent.post("/api/v1/tickets/2147483647/notes", json={"text": "x"}).status_code == 404
    bad = {"filename": "a.bin", "content_base64": "not base64!"}
    assert api.agent.post(path, json={"text": "x", "attachments": [bad]}).status_code == 422
    server = serve(max_file_bytes=10)
    import httpx

    with httpx.Client(base_url=server.base_url, headers=api.agent.headers) as small:
        big = {"filename": "big.bin", "content_base64": b64(b"x" * 11)}
        response = small.post(path, json={"text": "x", "attachments": [big]})
    assert response.status_code == 413
    assert len(api.viewer.get(f"/api/v1/tickets/{ticket['id']}/messages").json()["items"]) == 1


def test_the_conversation_is_exactly_what_its_schema_writes(api, rossi):  # noqa: F811
    """The route writes its JSON itself (once, for 1,000s of messages): every message, author,
    delivery and file, in the order and shape `Items[MessageRead]` gives them."""
    ticket = new_ticket(api)
    path = f"/api/v1/tickets/{ticket['id']}"
    api.agent.post(f"{path}/take-charge", json={})  # a letter, with its delivery
    reply = {"text": "Quale pagina?", "body_markdown": "Quale **pagina**?"}
    assert api.agent.post(f"{path}/replies", json=reply).status_code == 201
    note = {
        "text": "Interno.",
        "attachments": [
            {"filename": n, "content_type": "text/plain", "content_base64": b64(n.encode())}
            for n in ("a.txt", "b.txt")
        ],
    }
    assert api.agent.post(f"{path}/notes", json=note).status_code == 201

    response = api.viewer.get(f"{path}/messages")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.content
    assert Items[MessageRead].model_validate_json(body).model_dump_json().encode() == body
    items = response.json()["items"]
    assert [m["kind"] for m in items] == ["inbound", "automatic", "reply", "note"]
    assert items[1]["delivery"]["state"] == "pending" and items[0]["delivery"] is None
    assert items[2]["author"]["name"] == "test-agent" and items[2]["delivery"] is not None
    assert items[2]["html"] == "<p>Quale <strong>pagina</strong>?</p>"
    assert [f["filename"] for f in items[3]["attachments"]] == ["a.txt", "b.txt"]
    assert items[3]["delivery"] is None and items[0]["author"] is None
    assert api.viewer.get("/api/v1/tickets/2147483647/messages").status_code == 404
    assert api.viewer.get("/api/v1/tickets/2026-999999/messages").status_code == 404
