"""The `sportello` command, run as a user would: a subprocess in an empty directory."""

import email
import email.policy
import subprocess
import time
from pathlib import Path

import httpx

from tests.processes import SPORTELLO, environment, serve


def _run(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SPORTELLO, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _env(tmp_path: Path) -> dict[str, str]:
    return environment(database_url=f"sqlite:///{tmp_path / 'cli.db'}")


def test_token_lifecycle_from_the_command_line(tmp_path):
    env = _env(tmp_path)
    assert _run("migrate", cwd=tmp_path, env=env).returncode == 0
    created = _run("token", "create", "--role", "agent", "--name", "desk", cwd=tmp_path, env=env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.split()[-1]
    assert token.startswith("spt_")
    listed = _run("token", "list", cwd=tmp_path, env=env)
    assert "desk" in listed.stdout and "active" in listed.stdout
    assert token not in listed.stdout  # the secret is shown once, never again
    token_id = listed.stdout.splitlines()[1].split()[0]  # under the header row
    assert _run("token", "revoke", token_id, cwd=tmp_path, env=env).returncode == 0
    assert "revoked" in _run("token", "list", cwd=tmp_path, env=env).stdout


def test_bad_role_and_unknown_token_are_clear_errors(tmp_path):
    env = _env(tmp_path)
    _run("migrate", cwd=tmp_path, env=env)
    bad = _run("token", "create", "--role", "boss", "--name", "x", cwd=tmp_path, env=env)
    assert bad.returncode == 2
    assert "--role" in bad.stderr and "viewer" in bad.stderr
    missing = _run("token", "revoke", "999", cwd=tmp_path, env=env)
    assert missing.returncode == 1
    assert "No token with id 999" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_a_send_timeout_as_long_as_the_lease_is_refused_in_one_clear_line(tmp_path):
    """P2: a send that could outlast its row's lease could be made by a second worker too."""
    env = {
        **_env(tmp_path),
        "SPORTELLO_WORKER_LEASE_SECONDS": "30",
        "SPORTELLO_SMTP_TIMEOUT_SECONDS": "30",
    }
    refused = _run("worker", cwd=tmp_path, env=env)
    assert refused.returncode == 2
    assert refused.stderr == (
        "sportello: SPORTELLO_SMTP_TIMEOUT_SECONDS (30) must be shorter than "
        "SPORTELLO_WORKER_LEASE_SECONDS (30): a row is leased to one worker for as long as its "
        "send may take, so that no other worker sends it too\n"
    )
    bad_number = _run("migrate", cwd=tmp_path, env={**env, "SPORTELLO_WORKER_BATCH": "0"})
    assert bad_number.returncode == 2
    assert "sportello: SPORTELLO_WORKER_BATCH: Input should be greater than or equal to 1" in (
        bad_number.stderr
    )


def test_serve_migrates_and_answers_in_an_empty_directory(tmp_path):
    process = serve(tmp_path, {**_env(tmp_path), "SPORTELLO_ADMIN_TOKEN": "bootstrap-secret"})
    try:
        base = process.base_url
        assert httpx.get(base + "/healthz").status_code == 200
        calendars = httpx.get(
            base + "/api/v1/calendars", headers={"Authorization": "Bearer bootstrap-secret"}
        )
        assert calendars.status_code == 200
        assert calendars.json()["items"][0]["name"] == "default"
    finally:
        process.stop()
    assert (tmp_path / "cli.db").exists()


def test_help_version_and_an_empty_token_list_read_plainly(tmp_path):
    env = _env(tmp_path)
    helped = _run("--help", cwd=tmp_path, env=env)
    assert helped.returncode == 0
    assert "<bool>" not in helped.stdout and "--install-completion" not in helped.stdout
    versioned = _run("--version", cwd=tmp_path, env=env)
    assert versioned.returncode == 0 and versioned.stdout.strip() == "sportello 0.1.0"
    assert _run("migrate", cwd=tmp_path, env=env).returncode == 0
    empty = _run("token", "list", cwd=tmp_path, env=env)
    assert "No tokens yet" in empty.stdout
    created = _run("token", "create", "--role", "viewer", "--name", "wall", cwd=tmp_path, env=env)
    secret = created.stdout.split()[-1]
    listed = _run("token", "list", cwd=tmp_path, env=env).stdout.splitlines()
    assert listed[0].split("\t") == ["id", "role", "name", "created", "state"]
    assert "wall" in listed[1] and secret[4:10] not in listed[1]  # not even a piece of it


def test_without_smtp_emails_become_readable_eml_files_and_the_log_says_where(tmp_path):
    """`make run` on a fresh machine: nothing to configure, and a newcomer sees what is sent."""
    process = serve(tmp_path, _env(tmp_path))
    base, lines = process.base_url, process.log.read_text().splitlines()
    try:
        outbox = tmp_path / "var" / "outbox"
        assert any(f"written as .eml files to {outbox}" in line for line in lines), lines
        answer = httpx.post(
            base + "/api/v1/contact",
            json={"name": "Anna", "email": "anna@example.com", "subject": "Aiuto", "message": "x"},
        )
        assert answer.status_code == 201
        number = answer.json()["ticket_number"]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not list(outbox.glob("*.eml")):
            time.sleep(0.1)
        (eml,) = outbox.glob("*.eml")
        message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        assert message["To"] == "anna@example.com"
        assert message["Subject"] == f"[#{number}] Richiesta ricevuta: Aiuto"
        body = message.get_body(preferencelist=("plain",))
        assert body is not None and number in body.get_content()
    finally:
        process.stop()


def test_a_staff_member_and_their_token_from_the_command_line(tmp_path):
    env = _env(tmp_path)
    assert _run("migrate", cwd=tmp_path, env=env).returncode == 0
    added = _run(
        "staff", "create", "--name", "Marco Bianchi", "--email", "Marco@Agency.example",
        "--role", "agent", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "Marco Bianchi <marco@agency.example>" in added.stdout
    listed = _run("staff", "list", cwd=tmp_path, env=env).stdout
    assert "marco@agency.example" in listed and "agent" in listed
    created = _run("token", "create", "--staff", "marco@agency.example", cwd=tmp_path, env=env)
    assert created.returncode == 0, created.stderr
    assert "(agent) for Marco Bianchi" in created.stdout
    assert created.stdout.split()[-1].startswith("spt_")
    feed = _run("token", "create", "--role", "feed", "--name", "cal", cwd=tmp_path, env=env)
    assert feed.returncode == 0, feed.stderr
    unknown = _run("token", "create", "--staff", "nobody@x.example", cwd=tmp_path, env=env)
    assert unknown.returncode == 1 and "No staff member" in unknown.stderr
    feed_staff = _run(
        "staff", "create", "--name", "F", "--email", "f@x.example", "--role", "feed",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert feed_staff.returncode == 2 and "--role" in feed_staff.stderr
