"""The deployment of docs/deploy.md on one PostgreSQL: migrations as their own step, two API
processes (no worker inside) and one `sportello worker`. A burst of Mailgun deliveries spread
across both APIs, each message posted to both at once, ends in one ticket per message and one
receipt per ticket at the SMTP server."""

import asyncio
import subprocess
import time
import uuid

import httpx
import pytest
from sqlmodel import Session, func, select

from app.db import get_engine
from app.models.message import Message
from app.models.ticket import Ticket
from tests.conftest import ADMIN_TOKEN, MAILGUN_KEY
from tests.processes import SPORTELLO, environment, run, serve
from tests.routers.test_inbound import mailgun_fields, signed

MESSAGES = 60


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_apis_and_a_worker_store_each_message_once_and_email_each_ticket_once(
    db, smtp, tmp_path
):
    env = environment(
        database_url=db,
        admin_token=ADMIN_TOKEN,
        mailgun_signing_key=MAILGUN_KEY,
        smtp_url=smtp.url,
        support_address="assistenza@agency.example",
        worker="false",
    )
    migrated = subprocess.run([SPORTELLO, "migrate"], cwd=tmp_path, env=env, check=False)
    assert migrated.returncode == 0
    apis = [serve(tmp_path / f"api{n}", env, "--no-migrate") for n in (1, 2)]
    worker = run(tmp_path / "worker", "worker", env={**env, "SPORTELLO_WORKER": "true"})
    try:
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        customer = httpx.post(
            apis[0].base_url + "/api/v1/customers",
            json={"name": "Rossi", "email_domains": ["rossi.it"]},
            headers=admin,
        ).json()
        contract = httpx.post(
            apis[1].base_url + "/api/v1/contracts",
            json={
                "customer_id": customer["id"],
                "code": "R-1",
                "starts_on": "2026-01-01",
                "annual_fee": "1200.00",
            },
            headers=admin,
        )
        assert contract.status_code == 201

        run_id = uuid.uuid4().hex[:8]
        messages = [
            mailgun_fields(
                sender=f"cliente{n}@rossi.it",
                subject=f"Richiesta {n}",
                message_id=f"<{run_id}.{n}@rossi.it>",
            )
            for n in range(MESSAGES)
        ]

        async def burst() -> list[int]:
            async with httpx.AsyncClient(timeout=60) as client:
                posts = [
                    client.post(api.base_url + "/api/v1/inbound/email/mailgun", data=signed(m))
                    for m in messages
                    for api in apis  # the same message to both processes at once
                ]
                return [response.status_code for response in await asyncio.gather(*posts)]

        assert asyncio.run(burst()) == [200] * (2 * MESSAGES)
        smtp.sink.wait_for(MESSAGES, timeout=60)
        time.sleep(1.0)  # a second email for any ticket would arrive now
    finally:
        codes = [process.stop() for process in (*apis, worker)]
    # Each stopped cleanly on SIGTERM (uvicorn ends by raising the signal again, as it should).
    assert codes[2] == 0 and all(code in (0, -15) for code in codes[:2])
    assert all("Application shutdown complete" in api.log.read_text() for api in apis)

    with Session(get_engine(db)) as session:
        assert session.exec(select(func.count()).select_from(Ticket)).one() == MESSAGES
        stored = session.exec(select(Message.message_id).where(Message.direction == "inbound"))
        assert sorted(stored.all()) == sorted(f"{run_id}.{n}@rossi.it" for n in range(MESSAGES))
    receipts = [r for r in smtp.sink.received if "Richiesta ricevuta" in r.message["Subject"]]
    assert len(receipts) == MESSAGES == len(smtp.sink.received)
    assert sorted(r.recipients[0] for r in receipts) == sorted(
        f"cliente{n}@rossi.it" for n in range(MESSAGES)
    )
    assert len({r.message["Message-ID"] for r in receipts}) == MESSAGES
