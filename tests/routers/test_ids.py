"""Every id that comes from outside is checked against the id columns' range, on both
databases: in a path, a query, a body, a cursor or a billing item id.

The rule, everywhere: an id beyond the range (PostgreSQL's INTEGER) can name nothing and is
refused as invalid, 422 naming the field, never a database error. Within the range, an id that
names nothing is a 404 in a path, an empty list as a list filter, a 404 for the report about
it, and a 422 in a body (the body is what is wrong).
"""

import base64
import json
from typing import Any

import pytest

from app.main import create_app
from tests.conftest import Api, make_settings

MAX_ID = 2**31 - 1
TOO_BIG = [2**31, 9_999_999_999, 10**30]  # one past the range, 10 digits, far beyond
ABSENT = MAX_ID  # within the range, naming nothing

# Every route with an id in its path, as the OpenAPI document writes it, with a body valid but
# for the id, and the parameter tried (the others name what exists).
PATH_IDS: list[tuple[str, str, Any, str]] = [
    ("get", "/api/v1/customers/{customer_id}", None, "customer_id"),
    ("patch", "/api/v1/customers/{customer_id}", {}, "customer_id"),
    ("get", "/api/v1/calendars/{calendar_id}", None, "calendar_id"),
    ("get", "/api/v1/calendars/{calendar_id}/deadline", None, "calendar_id"),
    ("get", "/api/v1/contracts/{contract_id}", None, "contract_id"),
    ("patch", "/api/v1/contracts/{contract_id}", {}, "contract_id"),
    (
        "post",
        "/api/v1/contracts/{contract_id}/renew",
        {"annual_fee": "1", "proposal_ref": "P"},
        "contract_id",
    ),
    ("get", "/api/v1/contracts/{contract_id}/review", None, "contract_id"),
    ("get", "/api/v1/customers/{customer_id}/export", None, "customer_id"),
    ("post", "/api/v1/customers/{customer_id}/erase", {"reason": "art. 17"}, "customer_id"),
    ("get", "/api/v1/tickets/{ticket_ref}", None, "ticket_ref"),
    ("patch", "/api/v1/tickets/{ticket_ref}", {}, "ticket_ref"),
    ("post", "/api/v1/tickets/{ticket_ref}/take-charge", {}, "ticket_ref"),
    (
        "post",
        "/api/v1/tickets/{ticket_ref}/resolve",
        {"resolution": "Fatto.", "delivery_mode": "remote"},
        "ticket_ref",
    ),
    ("post", "/api/v1/tickets/{ticket_ref}/status", {"status": "in_progress"}, "ticket_ref"),
    ("post", "/api/v1/tickets/{ticket_ref}/recompute-sla", None, "ticket_ref"),
    ("get", "/api/v1/tickets/{ticket_ref}/sla", None, "ticket_ref"),
    ("get", "/api/v1/tickets/{ticket_ref}/sla/explain", None, "ticket_ref"),
    ("post", "/api/v1/tickets/{ticket_ref}/status-link/revoke", None, "ticket_ref"),
    ("get", "/api/v1/tickets/{ticket_ref}/events", None, "ticket_ref"),
    ("get", "/api/v1/tickets/{ticket_ref}/messages", None, "ticket_ref"),
    ("post", "/api/v1/tickets/{ticket_ref}/time-entries", {"minutes": 5}, "ticket_ref"),
    ("get", "/api/v1/tickets/{ticket_ref}/time-entries", None, "ticket_ref"),
    ("delete", "/api/v1/tickets/{ticket_ref}/time-entries/{entry_id}", None, "ticket_ref"),
    ("delete", "/api/v1/tickets/{ticket_ref}/time-entries/{entry_id}", None, "entry_id"),
    ("post", "/api/v1/outbox/{outbox_id}/retry", None, "outbox_id"),
    ("get", "/api/v1/mailboxes/{mailbox_id}", None, "mailbox_id"),
    ("patch", "/api/v1/mailboxes/{mailbox_id}", {}, "mailbox_id"),
    ("get", "/api/v1/quarantine/{item_id}", None, "item_id"),
    ("get", "/api/v1/quarantine/{item_id}/raw", None, "item_id"),
    ("post", "/api/v1/quarantine/{item_id}/retry", None, "item_id"),
    ("delete", "/api/v1/quarantine/{item_id}", None, "item_id"),
    ("post", "/api/v1/tickets/{ticket_ref}/notes", {"text": "x"}, "ticket_ref"),
    ("post", "/api/v1/tickets/{ticket_ref}/replies", {"text": "x"}, "ticket_ref"),
    ("get", "/api/v1/tickets/{ticket_ref}/consent", None, "ticket_ref"),
    ("post", "/api/v1/tickets/{ticket_ref}/consent", {"note": "x"}, "ticket_ref"),
    ("post", "/api/v1/tickets/{ticket_ref}/assign", {"assignee_id": None}, "ticket_ref"),
    ("post", "/api/v1/tickets/{ticket_ref}/merge", {"into": "1"}, "ticket_ref"),
    ("get", "/api/v1/attachments/{attachment_id}", None, "attachment_id"),
    ("get", "/status/{token}/files/{attachment_id}", None, "attachment_id"),
    ("get", "/api/v1/staff/{staff_id}", None, "staff_id"),
    ("patch", "/api/v1/staff/{staff_id}", {}, "staff_id"),
    ("post", "/api/v1/tokens/{token_id}/revoke", None, "token_id"),
    ("get", "/api/v1/webhooks/{webhook_id}", None, "webhook_id"),
    ("patch", "/api/v1/webhooks/{webhook_id}", {}, "webhook_id"),
    ("delete", "/api/v1/webhooks/{webhook_id}", None, "webhook_id"),
    ("post", "/api/v1/webhooks/{webhook_id}/rotate-secret", {}, "webhook_id"),
    ("get", "/api/v1/webhooks/{webhook_id}/deliveries", None, "webhook_id"),
    (
        "post",
        "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
        None,
        "webhook_id",
    ),
    (
        "post",
        "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
        None,
        "delivery_id",
    ),
]
# The other query parameters a route needs.
QUERIES: dict[str, dict[str, Any]] = {
    "/api/v1/calendars/{calendar_id}/deadline": {"start": "2026-11-23T16:00Z", "hours": 1},
    "/api/v1/reports/sla": {"month": "2026-10"},
    "/api/v1/reports/billing": {"month": "2026-10"},
}
# Every query parameter that is an id: the route, the parameter, the status for one within
# the range that names nothing.
QUERY_IDS = [
    ("/api/v1/contracts", "customer_id", 200),
    ("/api/v1/tickets", "customer_id", 200),
    ("/api/v1/tickets", "contract_id", 200),
    ("/api/v1/sla/breaches", "customer_id", 200),
    ("/api/v1/sla/at-risk", "customer_id", 200),
    ("/api/v1/outbox", "cursor", 200),
    ("/api/v1/quarantine", "cursor", 200),
    ("/api/v1/webhooks/{webhook_id}/deliveries", "cursor", 200),
    ("/api/v1/reports/sla", "contract_id", 404),
    ("/api/v1/reports/billing", "customer_id", 404),
]
# The opaque cursors of the work queues: [priority, due, id] as base64 JSON.
CURSORS = ["/api/v1/tickets", "/api/v1/sla/breaches", "/api/v1/sla/at-risk"]
CONTRACT = {"code": "K-1", "starts_on": "2026-01-01", "annual_fee": "100.00"}
# Every id in a request body: the route, the body with `ID` where the id goes, the field.
ID = object()
BODY_IDS: list[tuple[str, str, dict[str, Any], str]] = [
    ("post", "/api/v1/contracts", {**CONTRACT, "customer_id": ID}, "customer_id"),
    (
        "post",
        "/api/v1/contracts",
        {**CONTRACT, "customer_id": "{customer}", "calendar_id": ID},
        "calendar_id",
    ),
    (
        "post",
        "/api/v1/contracts",
        {
            **CONTRACT,
            "customer_id": "{customer}",
            "on_call": {"calendar_id": ID, "take_charge_hours": 2},
        },
        "on_call.calendar_id",
    ),
    ("patch", "/api/v1/contracts/{contract}", {"calendar_id": ID}, "calendar_id"),
    (
        "patch",
        "/api/v1/contracts/{contract}",
        {"on_call": {"calendar_id": ID, "take_charge_hours": 2}},
        "on_call.calendar_id",
    ),
    (
        "post",
        "/api/v1/contracts/{contract}/renew",
        {"annual_fee": "1", "proposal_ref": "P", "calendar_id": ID},
        "calendar_id",
    ),
    ("patch", "/api/v1/tickets/{ticket}", {"customer_id": ID}, "customer_id"),
    ("patch", "/api/v1/tickets/{ticket}", {"assignee_id": ID}, "assignee_id"),
    ("post", "/api/v1/tickets/{ticket}/assign", {"assignee_id": ID}, "assignee_id"),
    ("post", "/api/v1/tokens", {"staff_id": ID}, "staff_id"),
    (
        "post",
        "/api/v1/billing/mark-billed",
        {"item_ids": ["{id}:no_contract"], "invoice_ref": "F-1"},
        "item_ids",
    ),
]


@pytest.fixture
def existing(api: Api) -> dict[str, int]:
    """A customer, its contract and a ticket: the ids a request names besides the one tried."""
    customer = api.admin.post(
        "/api/v1/customers", json={"name": "Rossi", "email_domains": ["rossi.it"]}
    ).json()
    contract = api.admin.post(
        "/api/v1/contracts", json={**CONTRACT, "code": "R-1", "customer_id": customer["id"]}
    ).json()
    ticket = api.agent.post(
        "/api/v1/tickets", json={"channel": "email", "from_email": "mario@rossi.it"}
    ).json()
    webhook = api.admin.post(
        "/api/v1/webhooks", json={"url": "https://tools.example.com/h", "events": ["sla.breached"]}
    ).json()
    return {
        "customer": customer["id"],
        "contract": contract["id"],
        "ticket": ticket["id"],
        "webhook": webhook["id"],
    }


def _fill(value: Any, the_id: int, existing: dict[str, int]) -> Any:
    if value is ID:
        return the_id
    if isinstance(value, dict):
        return {key: _fill(item, the_id, existing) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, the_id, existing) for item in value]
    if isinstance(value, str):
        filled = value.format(id=the_id, **existing)
        return int(filled) if value.startswith("{") and value.endswith("}") else filled
    return value


def _send(api: Api, method: str, path: str, body: Any, query: Any = None) -> Any:
    return api.admin.request(method, path, params=query, **({} if body is None else {"json": body}))


def _at(path: str, field: str, the_id: int, existing: dict[str, int]) -> tuple[str, Any]:
    """The path with `the_id` as `field` and what exists elsewhere, and its query."""
    values = {
        "ticket_ref": existing["ticket"],
        "entry_id": 1,
        "token": "no-such-link",
        "webhook_id": existing["webhook"],
        "delivery_id": 1,
    }
    values[field] = the_id
    return path.format(**values), QUERIES.get(path)


def _fields(response: Any) -> list[str]:
    return [error["field"] for error in response.json().get("errors") or []]


@pytest.mark.parametrize("too_big", TOO_BIG)
@pytest.mark.parametrize(("method", "path", "body", "field"), PATH_IDS)
def test_an_id_beyond_the_range_in_a_path_is_a_422(
    api, existing, method, path, body, field, too_big
):
    url, query = _at(path, field, too_big, existing)
    response = _send(api, method, url, body, query)
    assert response.status_code == 422, response.text
    assert _fields(response) == [field]


@pytest.mark.parametrize(("method", "path", "body", "field"), PATH_IDS)
def test_an_id_in_a_path_that_names_nothing_is_a_404(api, existing, method, path, body, field):
    url, query = _at(path, field, ABSENT, existing)
    response = _send(api, method, url, body, query)
    assert response.status_code == 404, response.text


@pytest.mark.parametrize("too_big", TOO_BIG)
@pytest.mark.parametrize(("path", "name", "absent_status"), QUERY_IDS)
def test_an_id_in_a_query_is_checked_against_the_range(
    api, existing, path, name, absent_status, too_big
):
    url = path.format(webhook_id=existing["webhook"])
    refused = api.admin.get(url, params={**QUERIES.get(path, {}), name: too_big})
    assert refused.status_code == 422, refused.text
    assert _fields(refused) == [name]
    absent = api.admin.get(url, params={**QUERIES.get(path, {}), name: ABSENT})
    assert absent.status_code == absent_status, absent.text
    if absent_status == 200:
        assert absent.json()["items"] == []


def _cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "position",
    [
        [1, "2026-11-24T16:00:00+00:00", 2**31],  # the id beyond the range
        [1, "2026-11-24T16:00:00+00:00", 0],
        [2**40, "2026-11-24T16:00:00+00:00", 1],  # no such priority
        [1, "2026-11-24T16:00:00", 1],  # an instant without its offset
        [1, "0001-01-01T00:00:00+14:00", 1],  # before the first instant there is
        [1, "2026-11-24T16:00:00+00:00"],
    ],
)
@pytest.mark.parametrize("path", CURSORS)
def test_a_cursor_holding_what_no_page_gave_out_is_a_422(api, path, position):
    response = api.admin.get(path, params={"cursor": _cursor(*position)})
    assert response.status_code == 422, response.text
    assert _fields(response) == ["cursor"]


@pytest.mark.parametrize("the_id", [*TOO_BIG, ABSENT])
@pytest.mark.parametrize(("method", "path", "body", "field"), BODY_IDS)
def test_an_id_in_a_body_beyond_the_range_or_naming_nothing_is_a_422(
    api, existing, method, path, body, field, the_id
):
    response = _send(api, method, path.format(**existing), _fill(body, the_id, existing))
    assert response.status_code == 422, response.text
    assert _fields(response) == [field]


def test_every_id_the_api_takes_is_in_these_tables():
    """A new route taking an id joins the tables above (and so these tests)."""
    schema = create_app(make_settings("sqlite:///:memory:")).openapi()
    in_paths, in_queries, in_bodies = set(), set(), set()
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            for parameter in operation.get("parameters", []):
                name = parameter["name"]
                if not (name.endswith("_id") or name in ("ticket_ref", "cursor")):
                    continue
                if parameter["in"] == "path":
                    in_paths.add((method, path, name))
                elif path not in CURSORS:
                    in_queries.add((path, name))
    for name in _request_schemas(schema):
        for field in schema["components"]["schemas"][name].get("properties", {}):
            if field.endswith("_id") or field == "item_ids":
                in_bodies.add((name, field))
    assert in_paths <= {(method, path, field) for method, path, _, field in PATH_IDS}
    assert in_queries <= {(path, name) for path, name, _ in QUERY_IDS}
    assert in_bodies == {
        ("ContractCreate", "customer_id"),
        ("ContractCreate", "calendar_id"),
        ("ContractUpdate", "calendar_id"),
        ("ContractRenew", "calendar_id"),
        ("OnCall", "calendar_id"),
        ("TicketUpdate", "customer_id"),
        ("TicketUpdate", "assignee_id"),
        ("AssignIn", "assignee_id"),
        ("TokenCreate", "staff_id"),
        ("MarkBilledIn", "item_ids"),
    }, "an id in a new body: add it to BODY_IDS"


def _request_schemas(schema: dict[str, Any]) -> set[str]:
    """The names of the schemas request bodies are made of, nested ones too."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            name = node.get("$ref", "").rpartition("/")[2]
            if name and name not in found:
                found.add(name)
                walk(schema["components"]["schemas"][name])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for methods in schema["paths"].values():
        for operation in methods.values():
            walk(operation.get("requestBody", {}))
    return found
