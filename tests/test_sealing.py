"""Secrets at rest (GDPR art. 32): mailbox passwords and webhook secrets are stored sealed;
rotation with two keys; without a key none is stored; a wrong key stops the start in one line."""

import subprocess
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import create_engine, pool, text

from app import migrations, sealing
from app.db import get_engine, unit_of_work
from app.models.mailbox import MailboxCreate
from app.services.mailboxes import records
from tests.conftest import ADMIN_TOKEN, SECRET_KEY, LiveServer, make_settings
from tests.processes import SPORTELLO, environment

PASSWORD = "s3cret-app-password"
MAILBOX = {
    "name": "assistenza",
    "host": "imap.example.com",
    "username": "assistenza@example.com",
    "password": PASSWORD,
}


def _raw(url: str, sql: str) -> list:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        rows = connection.execute(text(sql)).scalars().all()
    engine.dispose()
    return list(rows)


def test_a_mailbox_password_and_a_webhook_secret_are_stored_sealed(api, db):
    mailbox = api.admin.post("/api/v1/mailboxes", json=MAILBOX)
    assert mailbox.status_code == 201, mailbox.text
    changed = api.admin.patch(
        f"/api/v1/mailboxes/{mailbox.json()['id']}", json={"password": PASSWORD + "-new"}
    )
    assert changed.status_code == 200
    [stored] = _raw(db, "SELECT password FROM mailbox")
    assert PASSWORD not in stored and "s3cret" not in stored
    assert Fernet(SECRET_KEY).decrypt(stored.encode()).decode() == PASSWORD + "-new"

    hook = api.admin.post(
        "/api/v1/webhooks",
        json={"url": "https://tools.example.com/hook", "events": ["ticket.created"]},
    )
    assert hook.status_code == 201, hook.text
    secret = hook.json()["secret"]
    api.admin.post(f"/api/v1/webhooks/{hook.json()['id']}/rotate-secret", json={})
    [(current, previous)] = _stored_webhook_secrets(db)
    assert "whsec_" not in current + previous
    assert Fernet(SECRET_KEY).decrypt(previous.encode()).decode() == secret


def _stored_webhook_secrets(url: str) -> list[tuple[str, str]]:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT secret, previous_secret FROM webhook_subscription"))
        found = [(row[0], row[1]) for row in rows]
    engine.dispose()
    return found


def test_without_a_key_no_password_is_stored_and_the_answer_says_why(db, tmp_path):
    no_keys = tmp_path / "no-keys"  # an empty key file: not the one beside a shared database
    no_keys.write_text("")
    try:
        settings = make_settings(db, secret_keys=[], secret_keys_file=str(no_keys))
        with LiveServer(settings) as server:
            headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            with httpx.Client(base_url=server.base_url, headers=headers) as admin:
                refused = admin.post("/api/v1/mailboxes", json=MAILBOX)
                hook = admin.post(
                    "/api/v1/webhooks",
                    json={"url": "https://tools.example.com/h", "events": ["ticket.created"]},
                )
    finally:
        sealing.configure([SECRET_KEY])
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "SPORTELLO_SECRET_KEYS" in refused.json()["detail"]
    assert hook.status_code == 409
    assert _raw(db, "SELECT COUNT(*) FROM mailbox") == [0]


def _run(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SPORTELLO, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, fresh_database):
    return fresh_database(request.param)


def test_rotation_with_two_keys_then_the_old_key_alone_stops_the_start(empty_database, tmp_path):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    migrations.upgrade(empty_database)
    sealing.configure([old])
    try:
        with unit_of_work(get_engine(empty_database)) as session:
            records.create_mailbox(MailboxCreate.model_validate(MAILBOX), session=session)
    finally:
        sealing.configure([SECRET_KEY])
    [before] = _raw(empty_database, "SELECT password FROM mailbox")

    env = environment(database_url=empty_database, secret_keys=f"{new},{old}")
    rotated = _run("secrets", "rotate", cwd=tmp_path, env=env)
    assert rotated.returncode == 0, rotated.stderr
    assert "Sealed 1 stored secrets" in rotated.stdout
    [after] = _raw(empty_database, "SELECT password FROM mailbox")
    assert after != before and PASSWORD not in after
    assert Fernet(new.encode()).decrypt(after.encode()).decode() == PASSWORD
    with pytest.raises(InvalidToken):
        Fernet(old.encode()).decrypt(after.encode())

    # The old key alone (the new one lost): the start is refused, in one line, not a 500 later.
    for command in (["serve", "--port", "0"], ["worker"]):
        refused = _run(
            *command, cwd=tmp_path, env=environment(database_url=empty_database, secret_keys=old)
        )
        assert refused.returncode == 2, refused.stderr
        assert "Traceback" not in refused.stderr
        last = refused.stderr.strip().splitlines()[-1]  # after the log lines, one line says why
        assert last.startswith("sportello: the password of mailbox 1 cannot be opened with")


def test_a_missing_key_for_stored_secrets_stops_the_start(empty_database, tmp_path):
    migrations.upgrade(empty_database)
    with unit_of_work(get_engine(empty_database)) as session:
        records.create_mailbox(MailboxCreate.model_validate(MAILBOX), session=session)
    env = environment(database_url=empty_database, secret_keys_file=str(tmp_path / "gone"))
    refused = _run("worker", cwd=tmp_path, env=env)
    assert refused.returncode == 2
    assert (
        refused.stderr.strip()
        == f"sportello: SPORTELLO_SECRET_KEYS_FILE: no file at {tmp_path / 'gone'}"
    )
    malformed = _run(
        "worker",
        cwd=tmp_path,
        env=environment(database_url=empty_database, secret_keys="not-a-key"),
    )
    assert malformed.returncode == 2 and "32 url-safe base64-encoded bytes" in malformed.stderr


def test_a_first_run_on_sqlite_makes_a_private_key_file_beside_the_database(tmp_path):
    env = environment(database_url=f"sqlite:///{tmp_path / 'data' / 'sportello.db'}")
    assert _run("migrate", cwd=tmp_path, env=env).returncode == 0
    key_file = tmp_path / "data" / ".sportello-secret-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = key_file.read_text()
    Fernet(key.strip().encode())
    assert _run("migrate", cwd=tmp_path, env=env).returncode == 0
    assert key_file.read_text() == key  # made once, never replaced
