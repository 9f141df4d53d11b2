"""Prometheus metrics (prometheus-client): what this process counts, and the desk's figures.

Request latencies and inbound deliveries are counted by the process that served them; with
several uvicorn workers, `sportello serve` points PROMETHEUS_MULTIPROC_DIR at a directory of
its own and the scrape adds up every process (prometheus-client's multiprocess mode). Ticket,
SLA, outbox and mailbox figures are read from the database at each scrape
(app.services.reports.monitoring), so any process answers the same.
"""

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.enums import Channel, OutboxState
from app.services.reports.monitoring import Figures

CONTENT_TYPE = CONTENT_TYPE_LATEST

REQUEST_SECONDS = Histogram(
    "sportello_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
INBOUND_DELIVERIES = Counter(
    "sportello_inbound_deliveries_total",
    "Emails delivered to us by provider (mailgun, sendgrid, postmark, mime, imap) and result "
    "(stored, duplicate, quarantined, rejected).",
    ["provider", "result"],
)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """One answered request (`route` is its template, never its concrete path)."""
    REQUEST_SECONDS.labels(method, route, str(status)).observe(seconds)


def count_delivery(provider: str, result: str) -> None:
    """One inbound email: stored, duplicate, quarantined (P1: kept raw), or rejected."""
    INBOUND_DELIVERIES.labels(provider, result).inc()


class _DeskFigures(Collector):
    def __init__(self, figures: Figures) -> None:
        self._figures = figures

    def collect(self) -> list[Metric]:
        f = self._figures
        created = CounterMetricFamily(
            "sportello_tickets_created",
            "Tickets created, by channel (email or web_form).",
            labels=["channel"],
        )
        for channel in Channel:
            created.add_metric([channel.value], f.tickets_by_channel.get(channel.value, 0))
        states = f.outbox_by_state
        return [
            created,
            CounterMetricFamily(
                "sportello_sla_breaches",
                "Requests whose take-charge deadline was missed (R9).",
                value=f.breaches,
            ),
            GaugeMetricFamily(
                "sportello_sla_at_risk",
                "Open requests not taken in charge that are close to their deadline now.",
                value=f.at_risk,
            ),
            GaugeMetricFamily(
                "sportello_outbox_pending",
                "Emails and alerts waiting to be sent.",
                value=states.get(OutboxState.PENDING, 0),
            ),
            GaugeMetricFamily(
                "sportello_outbox_failed",
                "Emails and alerts that failed for good (retry them from the outbox API).",
                value=states.get(OutboxState.FAILED, 0),
            ),
            CounterMetricFamily(
                "sportello_emails_sent", "Emails accepted by the SMTP server.", value=f.emails_sent
            ),
            GaugeMetricFamily(
                "sportello_mailboxes_failing",
                "Enabled IMAP mailboxes whose reading fails now (see their health).",
                value=f.mailboxes_failing,
            ),
            GaugeMetricFamily(
                "sportello_quarantine_held",
                "Deliveries kept raw in the quarantine, waiting for staff (/api/v1/quarantine).",
                value=f.quarantine_held,
            ),
        ]


def exposition(figures: Figures) -> bytes:
    """The text a scrape gets: this process's (or every process's) metrics, then the desk's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        own = generate_latest(registry)
    else:
        own = generate_latest(REGISTRY)
    desk = CollectorRegistry()
    desk.register(_DeskFigures(figures))
    return own + generate_latest(desk)
