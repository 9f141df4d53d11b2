"""A desk's history of tickets, loaded fast, for the benchmarks on either database.

500 customers with a contract each, then tickets received over three years of growing
traffic (~97% resolved or closed, ~10% urgent, ~15% without a deadline, some taken in charge
late), with the SLA snapshot and the queue columns the app derives
(app.services.tickets.snapshot). PostgreSQL takes them by COPY (`load_tickets`); SQLite, and
any database, through the app's own tables in SQLAlchemy Core (`insert_tickets`), so that the
API reads them as it reads its own. `load_history` does all of it for a database URL.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from harness import libpq
from sqlalchemy import create_engine, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from app.engine.calendar_spec import DEFAULT_CALENDAR_SPEC
from app.models.base import table_of
from app.models.calendar import Calendar
from app.models.contract import Contract
from app.models.customer import Customer
from app.models.ticket import Ticket
from app.services.tickets.snapshot import NO_DEADLINE

HISTORY = timedelta(days=3 * 365)
CUSTOMERS = 500
CONTRACT_TARGET_SECONDS = 4 * 3600  # R9: 4 business hours
CATEGORIES = ("website", "email", "provider_outage", "hosting", "backup")
SUBJECTS = (
    "Il sito non risponde",
    "Errore 500 sulla home page",
    "Casella email piena",
    "Certificato SSL scaduto",
    "Backup non eseguito",
    "Richiesta modifica pagina contatti",
    "Lentezza del pannello di amministrazione",
    "Problema con il modulo di contatto",
)
OPEN_EARLY = ("new", "taken_in_charge", "in_progress", "waiting_third_party")
OPEN_EARLY_WEIGHTS = (35, 25, 30, 10)
OPEN_LATE_WEIGHTS = (5, 15, 40, 40)
COLUMNS = (
    "id",
    "number",
    "status",
    "channel",
    "subject",
    "body",
    "from_email",
    "from_name",
    "customer_id",
    "contract_id",
    "category",
    "urgent",
    "urgency",
    "priority_handling",
    "coverage",
    "billable",
    "billing_reasons",
    "consent",
    "received_at",
    "estimated_resolution_at",
    "taken_in_charge_at",
    "resolved_at",
    "closed_at",
    "resolution",
    "delivery_mode",
    "sla_policy",
    "sla_calendar",
    "sla_target_seconds",
    "clock_started_at",
    "take_charge_due_at",
    "priority",
    "queue_due_at",
    "at_risk_at",
    "breach_at",
    "on_call_alert",
    "auto_submitted",
    "parent_ticket_id",
    "created_at",
    "updated_at",
)
JSON_COLUMNS = ("billing_reasons", "sla_calendar")


# --- customers and contracts ------------------------------------------------------------


def seed_customers(database_url: str, now: datetime) -> list[int]:
    """CUSTOMERS customers with one contract each on the default calendar; contract ids."""
    customer, contract, calendar = table_of(Customer), table_of(Contract), table_of(Calendar)
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            calendar_id = conn.execute(
                select(calendar.c.id).where(calendar.c.name == "default")
            ).scalar_one()  # the migration seeds the default calendar
            names = [f"Cliente {n}" for n in range(1, CUSTOMERS + 1)]
            conn.execute(
                insert(customer),
                [
                    {"name": n, "language": "it", "created_at": now, "updated_at": now}
                    for n in names
                ],
            )
            customer_ids = conn.execute(select(customer.c.id).order_by(customer.c.id)).scalars()
            conn.execute(
                insert(contract),
                [
                    {
                        "customer_id": customer_id,
                        "code": f"ASS-{customer_id:05d}",
                        "starts_on": (now - HISTORY).date(),
                        "ends_on": (now + timedelta(days=365)).date(),
                        "annual_fee": Decimal(1200),
                        "proposal_ref": "",
                        "coverage": ["website", "hosting", "backup"],
                        "calendar_id": calendar_id,
                        "take_charge_hours": Decimal(4),
                        "created_at": now,
                        "updated_at": now,
                    }
                    for customer_id in customer_ids
                ],
            )
            return list(conn.execute(select(contract.c.id).order_by(contract.c.id)).scalars())
    finally:
        engine.dispose()


# --- the tickets ------------------------------------------------------------------------


def ticket_rows(
    *,
    first_id: int,
    count: int,
    now: datetime,
    contracts: Sequence[int],
    seed: int,
    history: timedelta = HISTORY,
    status: str | None = None,
) -> Iterator[tuple[Any, ...]]:
    """`count` tickets in id order (ids from `first_id`), received over `history` up to `now`;
    all in `status` if given, else mostly closed as in a desk's past (COLUMNS' order).

    Follows app.services.tickets.snapshot.derived_columns for priority / queue_due_at / breach_at /
    at_risk_at (at_risk_at approximated as a few hours before the deadline).
    """
    rng = random.Random(seed)
    span = history.total_seconds()
    # Growing business: density rises linearly towards now. Sorted, so ids follow time.
    offsets = sorted(span * (rng.random() ** 0.5) for _ in range(count))
    start = now - history
    forced = status
    calendar = json.dumps(DEFAULT_CALENDAR_SPEC.to_dict())
    no_contract = json.dumps(["no_contract"])
    none = json.dumps([])
    for i, offset in enumerate(offsets):
        ticket_id = first_id + i
        received = start + timedelta(seconds=int(offset))
        age_days = (now - received).total_seconds() / 86400
        r = rng.random()

        # Policy: ~85% contract tickets with a deadline, ~15% support without one.
        if r < 0.85:
            contract_id = contracts[rng.randrange(len(contracts))]
            customer_id = contract_id  # one contract per customer, seeded in the same order
            policy, coverage, billable, reasons = "contract", "contract", False, none
            target = CONTRACT_TARGET_SECONDS
            clock = received
            due = received + timedelta(seconds=rng.randint(86_400, 3 * 86_400))
        else:
            contract_id = customer_id = None
            policy, coverage, billable, reasons = "support", "no_contract", True, no_contract
            target = clock = due = None

        u = rng.random()
        if u < 0.10:
            urgent, urgency = True, "claimed"
        elif u < 0.12:
            urgent, urgency = False, "rejected"
        else:
            urgent, urgency = False, "none"

        # Status: recent tickets are often open, old ones rarely (~3% open overall).
        p_open = 0.45 if age_days < 14 else 0.06 if age_days < 90 else 0.022
        if rng.random() < p_open:
            weights = OPEN_EARLY_WEIGHTS if age_days < 14 else OPEN_LATE_WEIGHTS
            status = rng.choices(OPEN_EARLY, weights)[0]
        else:
            status = "closed" if rng.random() < 0.8 else "resolved"
        status = forced or status

        taken = resolved = closed = resolution = delivery = None
        latest = received
        if status != "new":
            if due is not None and rng.random() < 0.8:  # on time
                delay = rng.uniform(60, (due - received).total_seconds())
            elif due is not None:  # late
                delay = (due - received).total_seconds() + rng.uniform(3600, 2 * 86_400)
            else:
                delay = rng.uniform(3600, 5 * 86_400)
            taken = min(received + timedelta(seconds=int(delay)), now)
            latest = taken
            if status in ("resolved", "closed"):
                resolved = min(taken + timedelta(seconds=rng.randint(3600, 10 * 86_400)), now)
                resolution, delivery = "Risolto.", rng.choice(("online", "remote"))
                latest = resolved
                if status == "closed":
                    lag = timedelta(seconds=rng.randint(86_400, 14 * 86_400))
                    closed = min(resolved + lag, now)
                    latest = closed

        breach = due if due is not None and (taken is None or taken > due) else None
        at_risk = (
            due - timedelta(seconds=rng.randint(3600, 3 * 3600))
            if due is not None and taken is None
            else None
        )
        customer_n = customer_id or rng.randrange(1, 10_000)
        yield (
            ticket_id,
            f"{received:%Y}-{ticket_id:06d}",
            status,
            "email" if rng.random() < 0.8 else "web_form",
            f"{SUBJECTS[ticket_id % len(SUBJECTS)]} #{ticket_id}",
            "",
            f"utente{ticket_id % 7}@cliente{customer_n}.it",
            f"Utente {ticket_id % 7}",
            customer_id,
            contract_id,
            CATEGORIES[ticket_id % len(CATEGORIES)] if rng.random() < 0.7 else None,
            urgent,
            urgency,
            False,
            coverage,
            billable,
            reasons,
            "given" if billable else "not_needed",  # P4: the history's customers agreed
            received,
            None,
            taken,
            resolved,
            closed,
            resolution,
            delivery,
            policy,
            calendar,
            target,
            clock,
            due,
            0 if urgent else 1,
            due or NO_DEADLINE,
            at_risk,
            breach,
            False,
            False,
            None,
            received,
            latest,
        )


def load_tickets(
    conn: psycopg.Connection[Any],
    *,
    first_id: int,
    count: int,
    now: datetime,
    contracts: Sequence[int],
    seed: int,
) -> float:
    """COPY `count` tickets of history into PostgreSQL, VACUUM ANALYZE; seconds taken."""
    began = time.perf_counter()
    rows = ticket_rows(first_id=first_id, count=count, now=now, contracts=contracts, seed=seed)
    copy_tickets(conn, [rows])
    return time.perf_counter() - began


def copy_tickets(
    conn: psycopg.Connection[Any], batches: Iterable[Iterable[tuple[Any, ...]]]
) -> None:
    """COPY ticket rows into PostgreSQL, then VACUUM ANALYZE as autovacuum would have."""
    with (
        conn.cursor() as cur,
        cur.copy(f"COPY ticket ({', '.join(COLUMNS)}) FROM STDIN") as copy,
    ):
        for rows in batches:
            for row in rows:
                copy.write_row(row)
    conn.execute("SELECT setval('ticket_id_seq', (SELECT max(id) FROM ticket))")
    conn.commit()
    # What autovacuum would have done by the time a table is this size: statistics, the
    # visibility map and hint bits (VACUUM needs autocommit).
    conn.autocommit = True
    try:
        conn.execute("VACUUM (ANALYZE) ticket")
    finally:
        conn.autocommit = False


def insert_tickets(database_url: str, rows: Iterable[tuple[Any, ...]]) -> None:
    """Write ticket rows through the app's table in SQLAlchemy Core (any database)."""
    table = table_of(Ticket)
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            batch: list[dict[str, Any]] = []
            for row in rows:
                values = dict(zip(COLUMNS, row, strict=True))
                for column in JSON_COLUMNS:  # COPY takes them as text; Core as values
                    values[column] = json.loads(values[column])
                batch.append(values)
                if len(batch) == 5000:
                    conn.execute(insert(table), batch)
                    batch = []
            if batch:
                conn.execute(insert(table), batch)
    finally:
        engine.dispose()


def load_history(database_url: str, *, count: int, pool: int, now: datetime, seed: int) -> float:
    """Customers and contracts, `count` tickets of history, then `pool` recent open tickets
    (half new, half taken in charge: work for take-charge and resolve); seconds taken."""
    began = time.perf_counter()
    contracts = seed_customers(database_url, now)
    recent = timedelta(days=2)
    news = ticket_rows(
        first_id=count + 1,
        count=pool // 2,
        now=now,
        contracts=contracts,
        seed=seed + 1,
        history=recent,
        status="new",
    )
    taken = ticket_rows(
        first_id=count + pool // 2 + 1,
        count=pool - pool // 2,
        now=now,
        contracts=contracts,
        seed=seed + 2,
        history=recent,
        status="taken_in_charge",
    )
    history = ticket_rows(first_id=1, count=count, now=now, contracts=contracts, seed=seed)
    if make_url(database_url).get_backend_name() == "postgresql":
        with psycopg.connect(libpq(make_url(database_url))) as conn:
            copy_tickets(conn, [history, news, taken])
    else:
        for rows in (history, news, taken):
            insert_tickets(database_url, rows)
    return time.perf_counter() - began
