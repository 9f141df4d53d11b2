"""`sportello serve --workers 2`: prometheus-client's multiprocess mode adds up what each worker
process counted, so any scrape sees every delivery, whichever process served it."""

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.processes import environment, serve

RELAY = ("relay", "relay-password-for-metrics")


def _stored(base_url: str) -> float:
    text = httpx.get(base_url + "/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "sportello_inbound_deliveries_total"
        and sample.labels == {"provider": "mime", "result": "stored"}
    )


def test_a_scrape_counts_what_every_worker_process_counted(tmp_path):
    env = environment(
        database_url=f"sqlite:///{tmp_path / 'metrics.db'}",
        inbound_username=RELAY[0],
        inbound_password=RELAY[1],
        worker="false",
    )
    server = serve(tmp_path, env, "--workers", "2")
    try:
        deadline = time.monotonic() + 30  # both worker processes up, so that both serve
        while server.log.read_text().count("Application startup complete") < 2:
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.1)
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            for n in range(12):  # new connections: both processes take some
                raw = (
                    f"From: cliente{n}@example.org\r\nSubject: Richiesta {n}\r\n"
                    f"Message-ID: <workers-{n}@example.org>\r\n\r\nTesto.\r\n"
                ).encode()
                answer = client.post(
                    "/api/v1/inbound/email/mime",
                    content=raw,
                    auth=RELAY,
                    headers={"Content-Type": "message/rfc822", "Connection": "close"},
                )
                assert answer.status_code == 200
        scrapes = [_stored(server.base_url) for _ in range(6)]
    finally:
        server.stop()
    assert scrapes == [12.0] * 6
