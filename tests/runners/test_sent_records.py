"""What the lanes sent is recorded before each lane goes on, the records that wait together
in one transaction (app.runners.sent_records, ADR 0008)."""

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from app.enums import OutboxChannel
from app.runners.sent_records import SentRecords
from app.services.notifications.outbox import Claimed

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def row(n: int) -> Claimed:
    return Claimed(
        id=n,
        kind="ticket.created",
        channel=OutboxChannel.EVENT,
        ticket_id=n,
        recipient="https://hooks.example/in",
        message_id=f"evt_{n}",
        facts={},
        payload={},
        attempts=0,
        created_at=NOW,
        request_id=None,
        lease_until=NOW,
    )


async def test_records_waiting_together_are_written_together_and_each_lane_hears_its_own():
    writes: list[list[int]] = []
    lost = {3}  # its lease ran out meanwhile: another worker has it

    async def write(rows: Sequence[Claimed]) -> set[int]:
        writes.append([r.id for r in rows])
        await asyncio.sleep(0.01)  # a transaction takes a while: others finish meanwhile
        return {r.id for r in rows} - lost

    records = SentRecords(write)
    first = asyncio.create_task(records.record(row(1)))
    await asyncio.sleep(0)  # the first write has begun
    rest = [asyncio.create_task(records.record(row(n))) for n in (2, 3, 4)]

    assert await first is True
    assert await asyncio.gather(*rest) == [True, False, True]
    assert writes == [[1], [2, 3, 4]]  # one transaction for what waited during the first


async def test_a_failed_write_is_raised_to_every_lane_it_held_and_the_next_write_goes_on():
    calls = 0

    async def write(rows: Sequence[Claimed]) -> set[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("the database went away")
        return {r.id for r in rows}

    records = SentRecords(write)
    with pytest.raises(ConnectionError):
        await records.record(row(1))
    assert await records.record(row(2)) is True
