"""Time recorded while its ticket is being billed is on the invoice or refused, never lost
between the two (R2, R4, R13): many rounds of a time entry and `mark-billed` racing through the
real HTTP server, on both databases."""

import threading
from typing import Any

import httpx

from tests.conftest import Api

ROUNDS = 30


def _race(*requests: tuple[httpx.Client, str, dict[str, Any]]) -> list[httpx.Response]:
    """POST each request from a thread of its own, all let go at the same instant."""
    start = threading.Barrier(len(requests))
    answers: list[httpx.Response | None] = [None] * len(requests)

    def post(index: int, client: httpx.Client, url: str, body: dict[str, Any]) -> None:
        start.wait()
        answers[index] = client.post(url, json=body)

    threads = [
        threading.Thread(target=post, args=(index, *request))
        for index, request in enumerate(requests)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(answer is not None for answer in answers)
    return [answer for answer in answers if answer is not None]


def test_time_recorded_during_billing_is_billed_or_refused(serve, db):
    # Every recorded minute is charged as it is (no minimum, no rounding): the billed minutes
    # are the ticket's minutes.
    api = Api(serve(support_minimum_minutes=0, support_rounding_minutes=1), db)
    try:
        for n in range(ROUNDS):
            ticket = api.agent.post(
                "/api/v1/tickets",
                json={"channel": "email", "from_email": f"chiunque@altrove{n}.example"},
            ).json()  # no contract: billable (R2)
            entries = f"/api/v1/tickets/{ticket['id']}/time-entries"
            assert api.agent.post(entries, json={"minutes": 10}).status_code == 201
            agreed = {"note": "Confermato per email"}  # P4
            assert api.agent.post(f"/api/v1/tickets/{ticket['id']}/consent", json=agreed).is_success

            recorded, billed = _race(
                (api.agent, entries, {"minutes": 7}),
                (
                    api.admin,
                    "/api/v1/billing/mark-billed",
                    {"item_ids": [f"{ticket['id']}:no_contract"], "invoice_ref": f"F-{n}"},
                ),
            )

            assert billed.status_code == 200, billed.text
            assert recorded.status_code in (201, 409), recorded.text
            minutes = sum(e["minutes"] for e in api.viewer.get(entries).json()["items"])
            assert minutes == (17 if recorded.status_code == 201 else 10)
            (line,) = billed.json()["lines"]
            assert line["minutes"] == minutes, f"round {n}: billed {line['minutes']} of {minutes}"
    finally:
        api.close()
