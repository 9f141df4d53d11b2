"""Group commit: every unit answered after its commit, a failing unit fails alone (R6)."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.db import get_engine, is_sqlite
from app.errors import Forbidden
from app.group_commit import GroupCommit
from app.models.message import WebhookToken
from app.services.intake import emails
from app.services.intake.parsing import InboundEmail, from_mime
from app.services.knobs import Knobs
from tests.routers.test_inbound import eml

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def remember(token: str, *, fail: bool = False) -> Callable[[Session], str]:
    """A unit of work: store a webhook token (and then fail, when asked)."""

    def work(session: Session) -> str:
        session.add(WebhookToken(provider="test", token=token, seen_at=NOW))
        session.flush()
        if fail:
            raise Forbidden(f"unit {token} refuses")
        return token

    return work


def store(email: InboundEmail, token: str | None = None) -> Callable[[Session], object]:
    """A unit of work: ingest an email (with a Mailgun-like single-use token, when given)."""
    knobs = Knobs(support_hours=Decimal(4), at_risk_fraction=0.25)

    def work(session: Session) -> emails.IngestResult:
        return emails.ingest_email(
            email, session=session, knobs=knobs, now=NOW, max_file_bytes=10**6, replay_token=token
        )

    return work


def stored(db: str) -> set[str]:
    with Session(get_engine(db)) as session:
        return set(session.scalars(select(WebhookToken.token)))


def group_for(db: str) -> GroupCommit:
    engine = get_engine(db)
    return GroupCommit(engine, turn=asyncio.Lock() if is_sqlite(engine) else None)


def test_every_unit_is_answered_and_stored(db):
    async def main() -> list[str]:
        group = group_for(db)
        return await asyncio.gather(*(group.run(remember(f"t{i}")) for i in range(50)))

    results = asyncio.run(main())

    assert results == [f"t{i}" for i in range(50)]
    assert stored(db) == {f"t{i}" for i in range(50)}


def test_a_failing_unit_fails_alone_and_the_others_are_kept(db):
    async def main() -> list[str | BaseException]:
        group = group_for(db)
        units = [remember(f"t{i}", fail=i == 7) for i in range(20)]
        return await asyncio.gather(*(group.run(unit) for unit in units), return_exceptions=True)

    results = asyncio.run(main())

    assert isinstance(results[7], Forbidden)
    assert [r for i, r in enumerate(results) if i != 7] == [f"t{i}" for i in range(20) if i != 7]
    assert stored(db) == {f"t{i}" for i in range(20) if i != 7}  # nothing of unit 7


def test_two_units_breaking_a_constraint_keep_the_first(db):
    async def main() -> list[str | BaseException]:
        group = group_for(db)
        units = [remember("a"), remember("same"), remember("same"), remember("b")]
        return await asyncio.gather(*(group.run(unit) for unit in units), return_exceptions=True)

    first, second, third, fourth = asyncio.run(main())

    assert (first, second, fourth) == ("a", "same", "b")
    assert isinstance(third, IntegrityError)
    assert stored(db) == {"a", "same", "b"}


def test_a_caller_that_goes_away_strands_nobody(db):
    async def main() -> list[str]:
        group = group_for(db)
        first = asyncio.create_task(group.run(remember("first")))
        await asyncio.sleep(0)  # the first batch starts; the rest queue behind it
        leaving = asyncio.create_task(group.run(remember("leaving")))
        staying = [asyncio.create_task(group.run(remember(f"s{i}"))) for i in range(5)]
        await asyncio.sleep(0)
        leaving.cancel()
        return [await first, *[await task for task in staying]]

    assert asyncio.run(main()) == ["first", *(f"s{i}" for i in range(5))]
    assert {"first", "s0", "s1", "s2", "s3", "s4"} <= stored(db)


def test_a_reply_and_a_redelivery_in_the_same_batch_find_the_new_ticket(db):
    """A ticket opened earlier in the same batch: a reply to it joins it and a second copy of
    its message answers with it (R6)."""
    first = from_mime(eml(message_id="<first@rossi.it>"))
    reply = from_mime(
        eml(message_id="<reply@rossi.it>", headers=[("In-Reply-To", "<first@rossi.it>")])
    )

    async def main() -> list[emails.IngestResult]:
        group = group_for(db)
        opener = asyncio.create_task(group.run(remember("opener")))
        await asyncio.sleep(0)  # the opener's batch starts; the three below share the next
        batch = [group.run(store(email)) for email in (first, reply, first)]
        return [*(await asyncio.gather(*batch)), await opener][:3]

    stored_first, stored_reply, again = asyncio.run(main())

    assert stored_first.ticket_number is not None
    assert stored_reply == emails.IngestResult(
        ticket_id=stored_first.ticket_id, ticket_number=stored_first.ticket_number, duplicate=False
    )
    assert again == emails.IngestResult(
        ticket_id=stored_first.ticket_id, ticket_number=stored_first.ticket_number, duplicate=True
    )


def test_a_token_used_twice_in_one_batch_is_refused_the_second_time(db):
    """A replay within one batch is refused (403); the first delivery is kept (R6)."""

    async def main() -> list[emails.IngestResult | BaseException]:
        group = group_for(db)
        opener = asyncio.create_task(group.run(remember("opener")))
        await asyncio.sleep(0)
        units = [
            store(from_mime(eml(message_id="<one@rossi.it>")), "same-token"),
            store(from_mime(eml(message_id="<two@rossi.it>")), "same-token"),
        ]
        results = await asyncio.gather(*(group.run(u) for u in units), return_exceptions=True)
        await opener
        return results

    kept, replayed = asyncio.run(main())

    assert isinstance(kept, emails.IngestResult) and not kept.duplicate
    assert isinstance(replayed, Forbidden)
    with Session(get_engine(db)) as session:
        assert session.scalars(
            select(WebhookToken.token).where(WebhookToken.provider == "mime")
        ).all() == ["same-token"]


def test_disabled_every_unit_still_commits_on_its_own(db):
    async def main() -> list[str | BaseException]:
        engine = get_engine(db)
        group = GroupCommit(
            engine, turn=asyncio.Lock() if is_sqlite(engine) else None, enabled=False
        )
        units = [remember(f"t{i}", fail=i == 2) for i in range(5)]
        return await asyncio.gather(*(group.run(unit) for unit in units), return_exceptions=True)

    results = asyncio.run(main())

    assert isinstance(results[2], Forbidden)
    assert stored(db) == {"t0", "t1", "t3", "t4"}
