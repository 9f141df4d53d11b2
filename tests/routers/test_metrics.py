"""GET /metrics: Prometheus text that parses, counters that move as tickets are created,
breached and emailed, request latencies by route template, and a guard."""

from datetime import UTC, datetime

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.routers.test_inbound import eml, post_mime
from tests.routers.test_tickets import new_ticket, rossi  # noqa: F401  (a fixture)
from tests.runners.test_worker import worker_for


def scrape(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_counters_move_as_tickets_are_created_breached_and_emailed(
    api,
    db,
    smtp,
    rossi,  # noqa: F811  (the fixture)
):
    before = scrape(api.anonymous)  # from loopback: allowed by default
    worker = worker_for(db, smtp)

    new_ticket(api, received_at="2026-11-23T16:00:00+01:00")  # long past its deadline
    just_now = datetime.now(UTC).isoformat()
    new_ticket(api, received_at=just_now, subject="Appena arrivata")  # its deadline is ahead
    delivered = post_mime(api, eml(message_id="<metrics-1@rossi.it>"))
    assert delivered.status_code == 200
    assert post_mime(api, eml(message_id="<metrics-1@rossi.it>")).json()["duplicate"] is True
    # The worker's scan at the real clock first: in business hours it queues the staff's alert
    # of the old request's breach (R17), counted below with the rest of the outbox.
    await worker.scan_once(now=datetime.now(UTC))
    after = scrape(api.anonymous)

    created = "sportello_tickets_created_total"
    assert value(after, created, channel="email") == value(before, created, channel="email") + 3
    assert (
        value(after, "sportello_sla_breaches_total")
        >= value(before, "sportello_sla_breaches_total") + 1
    )
    inbound = "sportello_inbound_deliveries_total"
    for result in ("stored", "duplicate"):
        assert (
            value(after, inbound, provider="mime", result=result)
            == value(before, inbound, provider="mime", result=result) + 1
        )
    pending = value(after, "sportello_outbox_pending")
    assert pending >= 1  # the emailed request's receipt, not sent yet

    await worker.drain_once()  # scanned just now: delivers what the outbox holds
    sent = scrape(api.anonymous)
    assert (
        value(sent, "sportello_emails_sent_total")
        == value(after, "sportello_emails_sent_total") + pending
    )
    assert value(sent, "sportello_outbox_pending") == 0
    assert value(sent, "sportello_outbox_failed") == 0


def test_latencies_are_by_route_template_never_by_concrete_path(api):
    ticket = new_ticket(api)
    assert api.agent.get(f"/api/v1/tickets/{ticket['id']}").status_code == 200
    samples = scrape(api.anonymous)
    routes = {dict(labels).get("route") for name, labels in samples if "request_duration" in name}
    assert "/api/v1/tickets/{ticket_ref}" in routes
    assert not any(route and str(ticket["id"]) in route.split("/") for route in routes)


def test_metrics_are_guarded_by_an_address_allowlist_or_a_token(serve):
    elsewhere = serve(metrics_allow_ips="10.0.0.0/8")
    assert httpx.get(elsewhere.base_url + "/metrics").status_code == 403

    guarded = serve(metrics_allow_ips="10.0.0.0/8", metrics_token="scrape-secret")
    url = guarded.base_url + "/metrics"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    allowed = httpx.get(url, headers={"Authorization": "Bearer scrape-secret"})
    assert allowed.status_code == 200
    assert "sportello_tickets_created_total" in allowed.text
