"""Migrations are code: up, down and up again on both databases, and no drift from the models."""

from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import JSON, bindparam, column, create_engine, inspect, pool, text
from sqlmodel import SQLModel

import app.models  # noqa: F401
from app import migrations


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, fresh_database):
    return fresh_database(request.param)


def _diff(url: str) -> list:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    return diff


def _tables(url: str) -> set[str]:
    engine = create_engine(url, poolclass=pool.NullPool)
    names = set(inspect(engine).get_table_names())
    engine.dispose()
    return names


def test_upgrade_downgrade_upgrade(empty_database):
    migrations.upgrade(empty_database)
    assert set(SQLModel.metadata.tables) <= _tables(empty_database)
    migrations.downgrade(empty_database, "base")
    assert _tables(empty_database) <= {"alembic_version"}
    migrations.upgrade(empty_database)
    engine = create_engine(empty_database, poolclass=pool.NullPool)
    with engine.connect() as connection:
        names = connection.execute(text("SELECT name FROM calendar")).scalars().all()
    engine.dispose()
    assert names == ["default"]  # R8: seeded once, again after a round trip


def test_models_and_migrations_do_not_drift(empty_database):
    migrations.upgrade(empty_database)
    assert _diff(empty_database) == []


def test_0009_computes_the_statement_columns_of_existing_tickets(empty_database):
    """Tickets from before 0009 get their business time to take charge from their snapshot
    and their waits on third parties from their audit trail (R9, R10)."""
    from app.db import get_engine, unit_of_work
    from app.enums import Status
    from tests.engine.test_explain import rome
    from tests.routers.test_reports import _open, _status, _take_charge
    from tests.services.conftest import add_rossi

    migrations.upgrade(empty_database)
    with unit_of_work(get_engine(empty_database)) as session:
        add_rossi(session)  # a contract on the default calendar, 4 business hours (R9)
    ticket = _open(empty_database, rome(2026, 10, 23, 17, 0))
    _take_charge(empty_database, ticket, rome(2026, 10, 27, 15, 30))
    _status(empty_database, ticket, Status.IN_PROGRESS, rome(2026, 10, 27, 16, 0))
    _status(empty_database, ticket, Status.WAITING_THIRD_PARTY, rome(2026, 10, 27, 16, 30))
    _status(empty_database, ticket, Status.IN_PROGRESS, rome(2026, 10, 28, 9, 0))
    _status(empty_database, ticket, Status.WAITING_THIRD_PARTY, rome(2026, 10, 28, 10, 0))
    query = text("SELECT take_charge_business_seconds, waiting_seconds, waiting_since FROM ticket")
    engine = get_engine(empty_database)
    with engine.connect() as connection:
        written = connection.execute(query).one()
    engine.dispose()
    # 1 h Fri 23, 3 h Mon 26, 30 min Tue 27; waited Tue 16:30 to Wed 09:00, and since 10:00.
    assert written[:2] == (4 * 3600 + 30 * 60, 16 * 3600 + 30 * 60)
    assert written[2] is not None

    migrations.downgrade(empty_database, "0008")
    migrations.upgrade(empty_database)
    engine = get_engine(empty_database)
    with engine.connect() as connection:
        assert connection.execute(query).one() == written
    engine.dispose()


def test_0014_rows_queued_written_out_are_sent_as_they_were(empty_database):
    """P2: a row queued before facts were kept keeps its email, and the worker sends that email
    as it was; going back, a row never written fails for good, visibly, instead of jamming."""
    from datetime import UTC, datetime

    from app.db import get_engine, unit_of_work
    from app.services.notifications import outbox
    from app.services.notifications.transports import build_email

    now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    email = {
        "from": "assistenza@agency.example",
        "from_name": "Agenzia Web",
        "to": ["mario@rossi.it"],
        "subject": "[#2026-000001] Presa in carico: Sito lento",
        "text": "Gentile cliente,\n\nla sua richiesta è stata presa in carico.\n",
        "html": "<p>Gentile cliente,</p>",
        "date": "Mon, 23 Nov 2026 15:00:00 +0000",
        "message_id": "2026-000001.taken_in_charge.1@agency.example",
        "headers": {"Reply-To": "assistenza@agency.example", "Auto-Submitted": "auto-replied"},
    }
    row = {
        "kind": "customer.taken_in_charge",
        "channel": "email",
        "recipient": "mario@rossi.it",
        "state": "pending",
        "attempts": 0,
        "created_at": now,
        "available_at": now,
    }
    insert = text(
        "INSERT INTO outbox (kind, channel, recipient, message_id, dedup_key, payload, state,"
        " attempts, created_at, available_at) VALUES (:kind, :channel, :recipient, :message_id,"
        " :dedup_key, :payload, :state, :attempts, :created_at, :available_at)"
    ).bindparams(bindparam("payload", type_=JSON()))
    migrations.upgrade(empty_database, "0013")
    engine = create_engine(empty_database, poolclass=pool.NullPool)
    with engine.begin() as connection:
        connection.execute(
            insert,
            {**row, "message_id": email["message_id"], "dedup_key": "old", "payload": email},
        )
    migrations.upgrade(empty_database)

    with unit_of_work(get_engine(empty_database)) as session:
        claimed = outbox.claim_due(
            session=session, worker="w", now=now, lease=timedelta(minutes=5), events=None, limit=1
        )[0]
        assert claimed is not None and claimed.facts is None
        written = outbox.write(claimed, session=session)
    assert written.payload == email  # sent as it was: the same bytes
    assert build_email(written.payload) == build_email(email)

    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO outbox (kind, channel, recipient, message_id, dedup_key, facts,"
                " state, attempts, created_at, available_at) VALUES ('customer.receipt',"
                " 'email', 'mario@rossi.it', 'new@agency.example', 'new', :facts, 'pending',"
                " 0, :at, :at)"
            ).bindparams(bindparam("facts", type_=JSON())),
            {"facts": {"template": "receipt"}, "at": now},
        )
    migrations.downgrade(empty_database, "0013")
    with engine.connect() as connection:
        states = connection.execute(
            text("SELECT dedup_key, state, last_error FROM outbox ORDER BY id")
        ).all()
        kept = connection.execute(
            text("SELECT payload FROM outbox WHERE dedup_key = 'old'").columns(
                column("payload", JSON())
            )
        ).scalar_one()
    engine.dispose()
    assert [tuple(s[:2]) for s in states] == [("old", "pending"), ("new", "failed")]
    assert "never written" in states[1].last_error
    assert kept == email


def test_0016_every_token_keeps_working_attached_to_a_staff_member(empty_database):
    """Tokens from before staff members get one made from their name (one per name, with the
    highest role among its tokens); a feed token stays a token of its own."""
    from datetime import UTC, datetime

    from app.db import get_engine, unit_of_work
    from app.enums import Role
    from app.services.directory.auth import authenticate, hash_token

    migrations.upgrade(empty_database, "0014")
    insert = text(
        "INSERT INTO api_token (name, role, token_hash, prefix, created_at)"
        " VALUES (:name, :role, :hash, 'spt_x', :at)"
    )
    at = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    engine = create_engine(empty_database, poolclass=pool.NullPool)
    with engine.begin() as connection:
        for name, role, clear in [
            ("marco", "agent", "a1"),
            ("marco", "viewer", "a2"),
            ("laura", "admin", "b1"),
            ("calendar", "feed", "f1"),
        ]:
            connection.execute(
                insert, {"name": name, "role": role, "hash": hash_token(clear), "at": at}
            )
    migrations.upgrade(empty_database)
    with engine.connect() as connection:
        staff = connection.execute(
            text("SELECT name, role, email, active FROM staff_member ORDER BY name")
        ).all()
        feed = connection.execute(
            text("SELECT staff_id FROM api_token WHERE role = 'feed'")
        ).scalar_one()
    assert [tuple(row) for row in staff] == [
        ("laura", "admin", None, True),
        ("marco", "agent", None, True),
    ]
    assert feed is None
    with unit_of_work(get_engine(empty_database), read_only=True) as session:
        seen = {
            clear: authenticate(clear, session=session, admin_token=None)
            for clear in ("a1", "a2", "b1", "f1")
        }
    assert {clear: (p.name, p.role) for clear, p in seen.items()} == {
        "a1": ("marco", Role.AGENT),
        "a2": ("marco", Role.VIEWER),
        "b1": ("laura", Role.ADMIN),
        "f1": ("calendar", Role.FEED),
    }
    assert seen["a1"].staff_id == seen["a2"].staff_id is not None
    assert seen["f1"].staff_id is None

    migrations.downgrade(empty_database, "0014")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM api_token")).scalar_one() == 4
    engine.dispose()
    migrations.upgrade(empty_database)


def test_0017_stored_messages_are_inbound_or_automatic(empty_database):
    """Messages from before kinds: the customer's are `inbound`, our emails `automatic`."""
    migrations.upgrade(empty_database, "0016")
    engine = create_engine(empty_database, poolclass=pool.NullPool)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO ticket (number, status, channel, subject, body, from_email,"
                " from_name, urgent, urgency, priority_handling, coverage, billable,"
                " billing_reasons, received_at, created_at, updated_at, sla_policy,"
                " sla_calendar, on_call_alert, auto_submitted, priority, queue_due_at)"
                " SELECT '2026-000001', 'new', 'email', 's', 'b', 'm@r.it', '', false, 'none',"
                " false, 'no_contract', true, '[]', :at, :at, :at, 'support', '{}', false,"
                " false, 0, :at"
            ),
            {"at": "2026-11-23 15:00:00+00:00"},
        )
        for direction, message_id in (("inbound", "a@r.it"), ("outbound", "b@agency.example")):
            connection.execute(
                text(
                    "INSERT INTO message (ticket_id, direction, channel, message_id, from_email,"
                    " from_name, subject, text, text_stripped, auto_submitted, received_at,"
                    ' in_reply_to, "references", "to", headers, created_at)'
                    " SELECT id, :direction, 'email', :message_id, '', '', '', '', '', false,"
                    " received_at, '[]', '[]', '[]', '[]', received_at FROM ticket"
                ),
                {"direction": direction, "message_id": message_id},
            )
    migrations.upgrade(empty_database)
    with engine.connect() as connection:
        kinds = connection.execute(
            text("SELECT direction, kind, author_id FROM message ORDER BY id")
        ).all()
    assert [tuple(k) for k in kinds] == [
        ("inbound", "inbound", None),
        ("outbound", "automatic", None),
    ]
    migrations.downgrade(empty_database, "0016")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM message")).scalar_one() == 2
    engine.dispose()


def test_0018_tickets_have_no_owner_until_given_one(empty_database):
    """Tickets from before owners keep working with nobody as their owner; the queue's
    `assignee=me` index is there, and goes away going back."""
    migrations.upgrade(empty_database)
    engine = create_engine(empty_database, poolclass=pool.NullPool)
    indexes = {index["name"] for index in inspect(engine).get_indexes("ticket")}
    assert "ix_ticket_assignee_open" in indexes
    migrations.downgrade(empty_database, "0017")
    columns = {column["name"] for column in inspect(engine).get_columns("ticket")}
    assert "assignee_id" not in columns
    engine.dispose()
    migrations.upgrade(empty_database)


def test_0019_no_ticket_is_merged_until_one_is(empty_database):
    migrations.upgrade(empty_database)
    engine = create_engine(empty_database, poolclass=pool.NullPool)
    assert "merged_into_id" in {c["name"] for c in inspect(engine).get_columns("ticket")}
    migrations.downgrade(empty_database, "0018")
    assert "merged_into_id" not in {c["name"] for c in inspect(engine).get_columns("ticket")}
    engine.dispose()
    migrations.upgrade(empty_database)


def test_0020_subscriptions_and_events_come_and_go_emails_stay(empty_database):
    """Emails queued before 0020 are claimed as before (no subscription); an event's
    subscription is deleted with its deliveries; going back removes events, keeps emails."""
    from datetime import UTC, datetime

    from app import sealing
    from app.db import get_engine, unit_of_work
    from app.services.notifications import outbox

    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    insert = text(
        "INSERT INTO outbox (kind, channel, recipient, message_id, dedup_key, facts, state,"
        " attempts, created_at, available_at) VALUES (:kind, :channel, 'mario@rossi.it',"
        " :kind, :kind, NULL, 'pending', 0, :now, :now)"
    )
    migrations.upgrade(empty_database, "0019")
    engine = create_engine(empty_database, poolclass=pool.NullPool)
    with engine.begin() as connection:
        connection.execute(insert, {"kind": "customer.receipt", "channel": "email", "now": now})
    migrations.upgrade(empty_database)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO webhook_subscription (id, url, events, description, enabled, secret,"
                " created_at, updated_at) VALUES (7, 'https://tools.example.com/hook',"
                " :events, '', :yes, :secret, :now, :now)"
            ).bindparams(bindparam("events", type_=JSON())),
            {
                "events": ["ticket.created"],
                "now": now,
                "yes": True,
                "secret": sealing.keyring().seal("whsec_c2VjcmV0"),  # sealed since 0023
            },
        )
        connection.execute(
            text(
                "INSERT INTO outbox (kind, channel, recipient, message_id, dedup_key, state,"
                " attempts, created_at, available_at, subscription_id) VALUES ('ticket.created',"
                " 'event', 'webhook 7', 'evt_1.7', 'event:1', 'pending', 0, :now, :now, 7)"
            ),
            {"now": now},
        )
    with unit_of_work(get_engine(empty_database)) as session:
        claimed = outbox.claim_due(
            session=session, worker="w", now=now, lease=timedelta(minutes=5), events=None, limit=1
        )[0]
        assert claimed is not None and claimed.kind == "customer.receipt"
        assert claimed.subscription_id is None
    migrations.downgrade(empty_database, "0019")
    with engine.connect() as connection:
        kinds = connection.execute(text("SELECT kind FROM outbox")).scalars().all()
    engine.dispose()
    assert kinds == ["customer.receipt"]


def test_0023_seals_the_secrets_stored_in_clear_and_without_a_key_changes_nothing(empty_database):
    """GDPR art. 32: passwords and webhook secrets stored before 0023 are sealed by it; with
    some in clear and no key, it stops with a clear message before any change."""
    from datetime import UTC, datetime

    from app import sealing
    from tests.conftest import SECRET_KEY

    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    migrations.upgrade(empty_database, "0020")
    engine = create_engine(empty_database, poolclass=pool.NullPool)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO mailbox (name, host, port, security, username, folder, after_store,"
                " poll_seconds, enabled, password, last_uid, messages_stored, messages_left,"
                " failures, revision, created_at, updated_at) VALUES ('assistenza',"
                " 'imap.example.com', 993, 'implicit_tls', 'a@example.com', 'INBOX', 'mark_seen',"
                " 60, :yes, :password, 0, 0, 0, 0, 1, :now, :now)"
            ),
            {"yes": True, "password": "p" * 500, "now": now},
        )
    sealing.configure([])
    try:
        with pytest.raises(sealing.KeyProblem, match="must seal 1 stored secrets"):
            migrations.upgrade(empty_database)
    finally:
        sealing.configure([SECRET_KEY])
    with engine.connect() as connection:
        assert connection.execute(text("SELECT password FROM mailbox")).scalar() == "p" * 500
    migrations.upgrade(empty_database)
    with engine.connect() as connection:
        sealed = connection.execute(text("SELECT password FROM mailbox")).scalar()
    # Not the clear text, nor any stretch of it: a sealed text is random base64, where "ppp"
    # alone turns up by chance about once in a thousand.
    assert "p" * 12 not in sealed and sealing.keyring().open(sealed) == "p" * 500
    migrations.downgrade(empty_database, "0020")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT password FROM mailbox")).scalar() == "p" * 500
    engine.dispose()
