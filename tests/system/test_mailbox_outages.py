"""Mailboxes in trouble, from outside: `sportello serve` stops promptly on SIGTERM while a
mailbox's server hangs."""

import re
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN
from tests.hostile_imap import Behaviour, HostileImapServer, wait_for
from tests.processes import environment, serve

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_sigterm_stops_serve_within_10_s_while_a_mailbox_server_hangs(tmp_path: Path):
    env = environment(
        database_url=f"sqlite:///{tmp_path / 'sportello.db'}",
        admin_token=ADMIN_TOKEN,
        imap_timeout_seconds="600",  # the reader would wait ten minutes for its greeting
    )
    with HostileImapServer(Behaviour(trickle_seconds=2)) as hung:
        server = serve(tmp_path, env)
        try:
            created = httpx.post(
                server.base_url + "/api/v1/mailboxes",
                headers=ADMIN,
                json={
                    "name": "appeso",
                    "host": "127.0.0.1",
                    "port": hung.port,
                    "security": "plain",
                    "username": "desk",
                    "password": "segreta",
                },
            )
            assert created.status_code == 201, created.text
            wait_for(lambda: hung.connections >= 1, timeout=30, what="a reader reached the server")
            server.popen.send_signal(signal.SIGTERM)
            try:
                server.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pytest.fail("sportello serve still runs 10 s after SIGTERM")
        finally:
            server.stop()
    log = server.log.read_text()
    # A clean stop (uvicorn then raises the signal again: the exit status is SIGTERM's).
    assert re.search(r"mailbox poller \S+ stopped", log)
    assert "Application shutdown complete" in log
