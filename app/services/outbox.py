"""Side effects (emails, alerts) written in the same transaction as the change that causes them.

A worker delivers them after the commit; the dedup key makes enqueueing idempotent, so the
same cause never yields two emails.
"""

from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from app.models.outbox import Outbox


def enqueue(
    *,
    session: Session,
    kind: str,
    ticket_id: int | None,
    at: datetime,
    dedup_key: str,
    payload: dict[str, Any] | None = None,
) -> bool:
    """Write a side effect to the outbox; False when one with this dedup key exists already."""
    if session.exec(select(Outbox.id).where(Outbox.dedup_key == dedup_key)).first() is not None:
        return False
    session.add(
        Outbox(
            kind=kind,
            ticket_id=ticket_id,
            dedup_key=dedup_key,
            created_at=at,
            available_at=at,
            payload={"ticket_id": ticket_id, **(payload or {})},
        )
    )
    return True
