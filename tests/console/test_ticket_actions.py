"""The ticket page's actions over real HTTP: each form goes through the API's service and role
check, and what the API would refuse is a page with the API's status (403, 404, 409, 422),
never a server error; the conversation's files download through the session."""

import base64
import re
from datetime import UTC, datetime

import httpx
import pytest

from app.enums import Role
from tests.conftest import Api
from tests.console.test_console import Desk, add_member, desk  # noqa: F401
from tests.routers.test_tickets import new_ticket, rossi  # noqa: F401

ACTIONS = {
    "replies": {"text": "Quale pagina?"},
    "notes": {"text": "Vedi il ticket 41."},
    "take-charge": {},
    "assign": {"assignee": "me"},
    "status": {"status": "in_progress"},
    "time-entries": {"minutes": "30"},
    "merge": {"into": "2026-000001"},
}


@pytest.fixture
def marco(db: str, desk) -> Desk:  # noqa: F811
    add_member(db, "marco@agency.example")
    signed_in: Desk = desk()
    signed_in.sign_in("marco@agency.example")
    return signed_in


def post(member: Desk, number: str, action: str, data: dict[str, str]) -> httpx.Response:
    return member.client.post(
        f"/console/tickets/{number}/{action}", data={"csrf": member.csrf(), **data}
    )


def read(api: Api, ticket: dict) -> dict:
    found: dict = api.viewer.get(f"/api/v1/tickets/{ticket['id']}").json()
    return found


def messages(api: Api, ticket: dict) -> list[dict]:
    found: list[dict] = api.viewer.get(f"/api/v1/tickets/{ticket['id']}/messages").json()["items"]
    return found


def done(answer: httpx.Response, number: str) -> None:
    assert (answer.status_code, answer.headers.get("location")) == (
        303,
        f"/console/tickets/{number}",
    ), answer.text


def refused(answer: httpx.Response, status: int, *said: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert 'id="error"' in answer.text
    for words in said:
        assert words in answer.text, answer.text


def test_a_reply_with_take_charge_tells_the_estimate_picked_in_rome_time(
    api: Api,
    rossi,  # noqa: F811
    marco: Desk,
) -> None:
    """R9, R11: the reply takes it in charge; 17:00 picked in Rome is 16:00 UTC in November."""
    ticket = new_ticket(api)
    answer = post(
        marco,
        ticket["number"],
        "replies",
        {
            "text": "Buongiorno,\nci guardiamo subito.",
            "take_charge": "1",
            "estimate_day": "2026-11-25",
            "estimate_time": "17:00",
            "delivery_mode": "online",  # ignored without "and resolve"
        },
    )
    done(answer, ticket["number"])
    taken = read(api, ticket)
    assert taken["status"] == "taken_in_charge"
    assert datetime.fromisoformat(taken["estimated_resolution_at"]) == datetime(
        2026, 11, 25, 16, 0, tzinfo=UTC
    )
    [reply] = [m for m in messages(api, ticket) if m["kind"] == "reply"]
    assert reply["author"]["name"] == "Marco" and reply["text"].startswith("Buongiorno")
    page = marco.client.get(f"/console/tickets/{ticket['number']}").text
    assert "ci guardiamo subito." in page and "mercoledì 25 novembre 2026, 17:00" in page


def test_a_reply_that_resolves_records_the_delivery_mode_or_names_what_is_missing(
    api: Api,
    rossi,  # noqa: F811
    marco: Desk,
) -> None:
    """R14: resolved online or remotely; without its resolution, a 422 page naming the field."""
    ticket = new_ticket(api)
    number = ticket["number"]
    missing = post(marco, number, "replies", {"text": "Fatto.", "resolve": "1"})
    refused(missing, 422, "Dati da correggere", "Controlla questi campi")
    assert read(api, ticket)["status"] == "new"
    refused(post(marco, number, "replies", {"text": ""}), 422, "testo")
    refused(
        post(
            marco,
            number,
            "replies",
            {"text": "Fatto.", "resolve": "1", "resolution": "x", "delivery_mode": "phone"},
        ),
        422,
        "modalità",
    )
    refused(  # R9 first: a new request is taken in charge before it is resolved
        post(
            marco,
            number,
            "replies",
            {"text": "Fatto.", "resolve": "1", "resolution": "x", "delivery_mode": "online"},
        ),
        409,
        "taken_in_charge",
    )
    done(post(marco, number, "take-charge", {}), number)
    answer = post(
        marco,
        number,
        "replies",
        {
            "text": "Abbiamo riavviato il servizio.",
            "resolve": "1",
            "resolution": "Riavviato PHP-FPM.",
            "delivery_mode": "remote",
        },
    )
    done(answer, number)
    resolved = read(api, ticket)
    assert (resolved["status"], resolved["delivery_mode"]) == ("resolved", "remote")


def test_a_note_stays_inside_and_an_empty_one_is_a_page(
    api: Api,
    rossi,  # noqa: F811
    marco: Desk,
) -> None:
    ticket = new_ticket(api)
    done(post(marco, ticket["number"], "notes", {"text": "Usa PHP 7.4."}), ticket["number"])
    [note] = [m for m in messages(api, ticket) if m["kind"] == "note"]
    assert note["text"] == "Usa PHP 7.4." and note["author"]["name"] == "Marco"
    refused(post(marco, ticket["number"], "notes", {"text": ""}), 422, "testo")
    refused(post(marco, "2026-999999", "notes", {"text": "x"}), 404, "Non trovata")


def test_take_charge_with_an_estimate_then_again_is_a_conflict(
    api: Api,
    rossi,  # noqa: F811
    marco: Desk,
) -> None:
    """R9: taken once, with the estimate; a day without its time is a 422; twice is a 409."""
    ticket = new_ticket(api)
    number = ticket["number"]
    refused(post(marco, number, "take-charge", {"estimate_day": "2026-11-25"}), 422, "giorno")
    refused(
        post(marco, number, "take-charge", {"estimate_day": "25/11", "estimate_time": "17:00"}),
        422,
    )
    ancient = {"estimate_day": "0001-01-01", "estimate_time": "00:30"}  # before year 1 in UTC
    refused(post(marco, number, "take-charge", ancient), 422, "risoluzione prevista")
    estimate = {"estimate_day": "2027-07-01", "estimate_time": "09:30"}  # summer: +02:00
    done(post(marco, number, "take-charge", estimate), number)
    taken = read(api, ticket)
    assert taken["status"] == "taken_in_charge"
    assert datetime.fromisoformat(taken["estimated_resolution_at"]) == datetime(
        2027, 7, 1, 7, 30, tzinfo=UTC
    )
    refused(post(marco, number, "take-charge", {}), 409, "Non si può fare ora")


def test_assign_to_me_to_a_colleague_to_nobody_and_to_no_one_known(
    api: Api,
    db: str,
    rossi,  # noqa: F811
    marco: Desk,
) -> None:
    add_member(db, "anna@agency.example")
    anna = next(m for m in api.admin.get("/api/v1/staff").json()["items"] if m["name"] == "Anna")
    ticket = new_ticket(api)
    number = ticket["number"]
    done(post(marco, number, "assign", {"assignee": "me"}), number)
    page = marco.client.get(f"/console/tickets/{number}").text
    assert re.search(r'id="assignee">Marco<', page)
    marco_id = read(api, ticket)["assignee_id"]
    assert f'<option value="{marco_id}" selected>Marco</option>' in page
    done(post(marco, number, "assign", {"assignee": str(anna["id"])}), number)
    assert read(api, ticket)["assignee_id"] == anna["id"]
    done(post(marco, number, "assign", {"assignee": ""}), number)
    assert read(api, ticket)["assignee_id"] is None
    refused(post(marco, number, "assign", {"assignee": "anna"}), 422)
    unknown = post(marco, number, "assign", {"assignee": "999999"})
    assert unknown.status_code in (404, 422) and 'id="error"' in unknown.text


def test_status_changes_along_the_lifecycle_only(
    api: Api,
    rossi,  # noqa: F811
    marco: Desk,
) -> None:
    """R10: waiting on a provider; a status the form does not offer is a 422; a move the
    lifecycle refuses is a 409."""
    ticket = new_ticket(api)
    number = ticket["number"]
    refused(post(marco, number, "status", {"status": "waiting_third_party"}), 409, "new")
    done(post(marco, number, "take-charge", {}), number)
    done(post(marco, number, "status", {"status": "in_progress"}), number)
    done(
        post(marco, number, "status", {"status": "waiting_third_party", "note": "Aruba giù"}),
        number,
    )
    assert read(api, ticket)["status"] == "waiting_third_party"
    refused(post(marco, number, "status", {"status": "resolved"}), 422, "stato")
    refused(post(marco, number, "status", {"status": "closed"}), 409, "waiting_third_party")
    done(post(marco, number, "status", {"status": "in_progress"}), number)


def test_time_is_recorded_billable_as_the_request_unless_said(
    api: Api,
    rossi,  # noqa: F811
    marco: Desk,
) -> None:
    """R2, R13: a covered request's time is not billable by default; it can be said to be."""
    ticket = new_ticket(api)
    number = ticket["number"]
    done(post(marco, number, "time-entries", {"minutes": "30", "note": "Log"}), number)
    done(post(marco, number, "time-entries", {"minutes": "50", "billable": "yes"}), number)
    entries = api.viewer.get(f"/api/v1/tickets/{ticket['id']}/time-entries").json()["items"]
    assert [(e["minutes"], e["billable"], e["author"]) for e in entries] == [
        (30, False, "Marco"),
        (50, True, "Marco"),
    ]
    assert "Tempo registrato: 1 h 20 min" in marco.client.get(f"/console/tickets/{number}").text
    for minutes in ("0", "abc", "", "1441"):
        refused(post(marco, number, "time-entries", {"minutes": minutes}), 422, "minuti")
    refused(post(marco, number, "time-entries", {"minutes": "5", "billable": "maybe"}), 422)


def test_merge_into_another_request_by_its_number(
    api: Api,
    rossi,  # noqa: F811
    marco: Desk,
) -> None:
    survivor = new_ticket(api, subject="Sito lento")
    duplicate = new_ticket(api, subject="Sito ancora lento")
    stranger = new_ticket(api, subject="Altro", from_email="eve@example.net")
    number = duplicate["number"]
    refused(post(marco, number, "merge", {"into": number}), 422)
    refused(post(marco, number, "merge", {"into": "2026-999999"}), 404)
    refused(post(marco, number, "merge", {"into": "not a number"}), 422, "richiesta in cui")
    refused(post(marco, number, "merge", {"into": stranger["number"]}), 409, "force")
    done(post(marco, number, "merge", {"into": survivor["number"]}), survivor["number"])
    merged = read(api, duplicate)
    assert merged["status"] == "closed"
    page = marco.client.get(f"/console/tickets/{number}").text
    assert f'href="/console/tickets/{survivor["number"]}">{survivor["number"]}<' in page
    refused(post(marco, number, "merge", {"into": survivor["number"]}), 409)


def test_a_viewer_cannot_post_any_action(
    api: Api,
    db: str,
    desk,  # noqa: F811
    rossi,  # noqa: F811
) -> None:
    ticket = new_ticket(api)
    add_member(db, "vera@agency.example", role=Role.VIEWER)
    vera: Desk = desk()
    vera.sign_in("vera@agency.example")
    page = vera.client.get(f"/console/tickets/{ticket['number']}").text
    assert 'id="actions"' not in page and "reply-form" not in page
    for action, data in ACTIONS.items():
        refused(post(vera, ticket["number"], action, data), 403, "Il tuo ruolo (viewer)")
    after = read(api, ticket)
    assert (after["status"], after["assignee_id"]) == ("new", None)
    assert [m["kind"] for m in messages(api, ticket)] == ["inbound"]


def test_every_action_without_the_csrf_token_is_refused(
    api: Api,
    rossi,  # noqa: F811
    marco: Desk,
) -> None:
    ticket = new_ticket(api)
    for action, data in ACTIONS.items():
        for token in ({}, {"csrf": "0" * 43}):
            answer = marco.client.post(
                f"/console/tickets/{ticket['number']}/{action}", data={**data, **token}
            )
            refused(answer, 403, "Modulo scaduto")
    assert read(api, ticket)["status"] == "new"


def test_every_action_without_a_session_goes_to_sign_in(api: Api, desk) -> None:  # noqa: F811
    anonymous: Desk = desk()
    for action, data in ACTIONS.items():
        answer = anonymous.client.post(f"/console/tickets/2026-000001/{action}", data=data)
        assert (answer.status_code, answer.headers["location"]) == (303, "/console/sign-in")
    answer = anonymous.client.get("/console/attachments/1")
    assert (answer.status_code, answer.headers["location"]) == (303, "/console/sign-in")


def test_a_conversations_file_downloads_through_the_session(
    api: Api,
    db: str,
    rossi,  # noqa: F811
    marco: Desk,
) -> None:
    ticket = new_ticket(api)
    body = b"<script>alert(1)</script>"
    api.agent.post(
        f"/api/v1/tickets/{ticket['id']}/notes",
        json={
            "text": "Il file del cliente.",
            "attachments": [
                {
                    "filename": "pagina.html",
                    "content_type": "text/html",
                    "content_base64": base64.b64encode(body).decode(),
                }
            ],
        },
    ).raise_for_status()
    page = marco.client.get(f"/console/tickets/{ticket['number']}").text
    found = re.search(r'href="(/console/attachments/\d+)" download>pagina\.html<', page)
    assert found, page
    answer = marco.client.get(found.group(1))
    assert answer.status_code == 200 and answer.content == body
    assert answer.headers["content-type"] == "application/octet-stream"  # never rendered
    assert answer.headers["content-disposition"].startswith("attachment")
    assert answer.headers["x-content-type-options"] == "nosniff"
    refused(marco.client.get("/console/attachments/999999"), 404)


def test_any_member_sets_their_own_language(api: Api, db: str, desk) -> None:  # noqa: F811
    add_member(db, "vera@agency.example", role=Role.VIEWER)
    vera: Desk = desk()
    vera.sign_in("vera@agency.example")
    assert "Connesso come Vera" in vera.client.get("/console/").text
    csrf = vera.csrf()
    answer = vera.client.post(
        "/console/language",
        data={"csrf": csrf, "language": "en"},
        headers={"Referer": vera.base_url + "/console/?view=urgent"},
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/console/")
    assert "Signed in as Vera" in vera.client.get("/console/").text
    member = next(m for m in api.admin.get("/api/v1/staff").json()["items"] if m["name"] == "Vera")
    assert member["language"] == "en"
    refused(
        vera.client.post("/console/language", data={"csrf": csrf, "language": "de"}),
        422,
        "Please correct",
        "language",
    )
    away = vera.client.post(
        "/console/language",
        data={"csrf": csrf, "language": "it"},
        headers={"Referer": "https://elsewhere.example/console/"},
    )
    assert away.headers["location"] == "/console/"  # the path only, never another site
    refused(vera.client.post("/console/language", data={"language": "it"}), 403)


def test_the_shortcuts_script_is_ours_and_the_only_one(marco: Desk) -> None:
    page = marco.client.get("/console/")
    [src] = re.findall(r'<script src="([^"]+)" defer></script>', page.text)
    assert page.text.count("<script") == 1 and 'aria-keyshortcuts="/"' in page.text
    script = marco.client.get(src)
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "aria-keyshortcuts" in script.text
    assert "immutable" in script.headers["cache-control"]
    old = marco.client.get("/pages/console.0123456789abcdef.js")
    assert old.status_code == 200 and old.headers["cache-control"] == "no-cache"
