"""Events out: every delivery verifies with the Standard Webhooks library, retried until
accepted with the same webhook-id, one ticket's events in order; 410 disables the subscription
and staff are told once; a rotated secret overlaps with the old one."""

from datetime import datetime, timedelta

import pytest
import standardwebhooks.webhooks
from sqlmodel import Session, select
from standardwebhooks import Webhook, WebhookVerificationError

from app.db import get_engine, unit_of_work
from app.enums import Channel, DeliveryMode, EventType, OutboxState, Status
from app.models.base import utcnow
from app.models.outbox import Outbox
from app.models.ticket import ResolveIn, StatusIn, TakeChargeIn, TicketCreate
from app.models.webhook import RotateIn, WebhookCreate, WebhookSubscription
from app.runners.outbox_worker import Worker
from app.services.intake import opening
from app.services.knobs import knobs_from
from app.services.notifications import outbox
from app.services.tickets import lifecycle
from app.services.webhooks import subscriptions
from tests.receiver import Receiver, receiving
from tests.runners.test_worker import STAFF, customer, settings_for

ALL = list(EventType)
LEASE = timedelta(minutes=5)


def subscribe(db: str, url: str, events: list[EventType] = ALL) -> tuple[int, str]:
    with unit_of_work(get_engine(db)) as session:
        made = subscriptions.create(
            WebhookCreate(url=url, events=events), session=session, now=utcnow()
        )
    return made.id, made.secret


def open_ticket(db: str, settings, at: datetime, n: int = 0) -> int:
    with unit_of_work(get_engine(db)) as session:
        opened = opening.open_ticket(
            opening.TicketRequest.typed(
                TicketCreate(
                    channel=Channel.EMAIL,
                    from_email=f"c{n}@rossi.it",
                    subject=f"Sito lento {n}",
                    body="Il sito è lento.",
                ),
                now=at,
            ),
            session=session,
            knobs=knobs_from(settings),
            actor="test",
            now=at,
        )
    return opened.id


def live_ticket(db: str, settings, ticket_id: int, at: datetime) -> None:
    """Taken in charge, resolved, reopened: three more events of one ticket."""
    knobs = knobs_from(settings)
    with unit_of_work(get_engine(db)) as session:
        lifecycle.take_charge(
            ticket_id, TakeChargeIn(), session=session, knobs=knobs, actor="a", now=at
        )
    with unit_of_work(get_engine(db)) as session:
        lifecycle.resolve(
            ticket_id,
            ResolveIn(resolution="Fatto.", delivery_mode=DeliveryMode.REMOTE),
            session=session,
            knobs=knobs,
            actor="a",
            now=at + timedelta(seconds=1),
        )
    with unit_of_work(get_engine(db)) as session:
        lifecycle.change_status(
            ticket_id,
            StatusIn(status=Status.IN_PROGRESS),
            session=session,
            knobs=knobs,
            actor="a",
            now=at + timedelta(seconds=2),
        )


LIFE = ["ticket.created", "ticket.taken_in_charge", "ticket.resolved", "ticket.reopened"]


async def drain(worker: Worker, start: datetime, *, rounds: int = 1, step=timedelta(0)) -> None:
    for n in range(rounds):
        await worker.drain_once(now=lambda n=n: start + step * n)


async def test_every_delivery_verifies_and_a_replay_or_a_tampered_body_does_not(
    db, session, smtp, monkeypatch
):
    customer(session)
    session.commit()
    settings = settings_for(db, smtp)
    with receiving(Receiver()) as receiver:
        _, secret = subscribe(db, receiver.url)
        receiver.secrets = [secret]
        now = utcnow()
        ticket = open_ticket(db, settings, now)
        live_ticket(db, settings, ticket, now)
        worker = Worker.for_settings(get_engine(db), settings)
        await drain(worker, now + timedelta(seconds=5))
        await worker.close()

    events = receiver.accepted()
    assert len(receiver.got) == len(events) == 4  # every delivery verified
    assert [e["type"] for e in events] == LIFE  # in the order they happened
    for delivery, event in zip(receiver.got, events, strict=True):
        assert delivery.headers["webhook-id"] == event["id"]
        assert event["data"]["ticket"]["id"] == ticket
    created = events[0]["data"]["ticket"]
    assert created["number"].startswith(f"{now.year}-") and created["status"] == "new"
    assert created["sla"]["policy"] == "contract" and created["sla"]["state"] == "pending"
    assert events[1]["data"]["ticket"]["sla"]["state"] == "met"
    assert events[3]["data"]["ticket"]["status"] == "in_progress"

    captured = receiver.got[0]
    tampered = captured.body.replace(b"ticket.created", b"ticket.resolved")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, captured.headers)

    class Later(datetime):  # the same request replayed six minutes later
        @classmethod
        def now(cls, tz=None):
            return datetime.now(tz) + timedelta(minutes=6)

    monkeypatch.setattr(standardwebhooks.webhooks, "datetime", Later)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(captured.body, captured.headers)


async def test_a_receiver_failing_for_a_while_gets_every_event_in_order_with_stable_ids(
    db, session, smtp
):
    customer(session)
    session.commit()
    settings = settings_for(db, smtp, delivery_retry_seconds=1)
    with receiving(Receiver(answers=[500] * 5)) as receiver:
        subscription, secret = subscribe(db, receiver.url)
        receiver.secrets = [secret]
        now = utcnow()
        tickets = [open_ticket(db, settings, now, n) for n in range(2)]
        for ticket in tickets:
            live_ticket(db, settings, ticket, now)
        worker = Worker.for_settings(get_engine(db), settings)
        await drain(worker, now + timedelta(seconds=5), rounds=12, step=timedelta(minutes=1))
        await worker.close()

    events = receiver.accepted()
    assert len(events) == 8 and len({e["id"] for e in events}) == 8  # each once, none lost
    for ticket in tickets:
        told = [e["type"] for e in events if e["data"]["ticket"]["id"] == ticket]
        assert told == LIFE
    refused = [d for d in receiver.got if d.status == 500]
    assert len(refused) == 5
    accepted_ids = {e["id"] for e in events}
    assert {d.headers["webhook-id"] for d in refused} <= accepted_ids  # the same ids later

    with Session(get_engine(db)) as check:
        page = subscriptions.deliveries(subscription, session=check, limit=50, cursor=None)
    assert len(page.items) == 8 and all(d.state == OutboxState.SENT for d in page.items)
    tries = sum(len(d.attempts) for d in page.items)
    assert tries == 13  # every attempt recorded: 5 refused, 8 accepted
    failed = [a for d in page.items for a in d.attempts if not a.ok]
    assert all(a.error == "HTTP 500" for a in failed)


async def test_410_disables_the_subscription_and_staff_are_told_once(db, session, smtp):
    customer(session)
    session.commit()
    settings = settings_for(db, smtp, worker_event_lanes=0)  # one delivery at a time
    with receiving(Receiver(default=410)) as receiver:
        subscription, secret = subscribe(db, receiver.url, [EventType.TICKET_CREATED])
        receiver.secrets = [secret]
        now = utcnow()
        for n in range(3):
            open_ticket(db, settings, now, n)
        worker = Worker.for_settings(get_engine(db), settings)
        await drain(worker, now + timedelta(seconds=5), rounds=3, step=timedelta(minutes=5))
        after = open_ticket(db, settings, now + timedelta(minutes=20), 9)  # nobody listens now
        await drain(worker, now + timedelta(minutes=21))
        await worker.close()

    assert len(receiver.got) == 1  # the first 410 stops the rest
    with Session(get_engine(db)) as check:
        row = check.get(WebhookSubscription, subscription)
        assert row is not None and not row.enabled
        assert row.disabled_reason == "the receiver answered 410 Gone"
        events = check.exec(select(Outbox).where(Outbox.channel == "event")).all()
        assert sorted(e.state for e in events) == ["cancelled", "cancelled", "failed"]
        assert after not in {e.ticket_id for e in events}
        told = check.exec(select(Outbox).where(Outbox.kind == "staff.webhook_gone")).all()
    assert len(told) == 1
    gone = [m for m in smtp.sink.to(STAFF) if "410 Gone" in m.message["Subject"]]
    assert len(gone) == 1 and f"/api/v1/webhooks/{subscription}" in gone[0].text


async def test_a_rotated_secret_overlaps_with_the_old_one_then_only_the_new_verifies(
    db, session, smtp
):
    customer(session)
    session.commit()
    settings = settings_for(db, smtp)
    with receiving(Receiver()) as receiver:
        subscription, old = subscribe(db, receiver.url, [EventType.TICKET_CREATED])
        now = utcnow()
        with unit_of_work(get_engine(db)) as work:
            new = subscriptions.rotate(
                subscription, RotateIn(overlap_hours=1), session=work, now=now
            ).secret
        receiver.secrets = [old]  # a receiver not yet switched
        open_ticket(db, settings, now, 1)
        worker = Worker.for_settings(get_engine(db), settings)
        await drain(worker, now + timedelta(seconds=5))
        during = receiver.got[-1]
        open_ticket(db, settings, now, 2)
        await drain(worker, now + timedelta(hours=1, seconds=1))  # the overlap is over
        after = receiver.got[-1]
        await worker.close()

    assert new != old and new.startswith("whsec_")
    assert during.verified is not None  # the old secret verifies during the overlap
    assert Webhook(new).verify(during.body, during.headers)  # and so does the new one
    assert during.headers["webhook-signature"].count("v1,") == 2
    assert after.verified is None and after.status == 400  # the old one no longer does
    assert Webhook(new).verify(after.body, after.headers)
    assert after.headers["webhook-signature"].count("v1,") == 1


def test_a_claim_takes_several_events_but_never_two_of_one_ticket_and_one_email(db, session, smtp):
    """An event lane claims events several at a time (each settled right after its post): only
    the first pending event of each ticket, so that one ticket's events keep their order; an
    email is claimed alone (P2)."""
    customer(session)
    session.commit()
    settings = settings_for(db, smtp)
    now = utcnow()
    subscribe(db, "http://127.0.0.1:9/events")
    tickets = [open_ticket(db, settings, now, n) for n in range(3)]
    live_ticket(db, settings, tickets[0], now)

    def claim(events: bool, limit: int) -> list[outbox.Claimed]:
        with unit_of_work(get_engine(db)) as work:
            return outbox.claim_due(
                session=work,
                worker="w",
                now=now + timedelta(seconds=5),
                lease=LEASE,
                events=events,
                limit=limit,
            )

    batch = claim(True, 10)
    assert sorted(row.ticket_id for row in batch) == sorted(tickets)  # one each, the first
    assert {row.kind for row in batch} == {"ticket.created"}
    assert claim(True, 10) == []  # the later events of ticket 0 wait behind its first
    assert len(claim(False, 10)) == 1  # emails one at a time
