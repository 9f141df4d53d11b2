"""`sportello backup` while deliveries are being written, then `sportello restore` into a fresh
directory: the restored service answers with every ticket committed before the backup began."""

import subprocess
import threading
import uuid
from pathlib import Path

import httpx

from tests.conftest import ADMIN_TOKEN, SECRET_KEY
from tests.imap import email
from tests.processes import SPORTELLO, environment, serve

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _sportello(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SPORTELLO, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _env(directory: Path) -> dict[str, str]:
    return environment(
        database_url=f"sqlite:///{directory / 'sportello.db'}",
        admin_token=ADMIN_TOKEN,
        secret_keys=SECRET_KEY,
        worker="false",
    )


class Writer(threading.Thread):
    """Deliveries, one after another, until stopped: the ids of the tickets answered."""

    def __init__(self, base_url: str) -> None:
        super().__init__(daemon=True)
        self.base_url, self.stop = base_url, threading.Event()
        self.committed: list[int] = []
        self.lock = threading.Lock()

    def run(self) -> None:
        run_id = uuid.uuid4().hex[:8]
        headers = {**ADMIN, "Content-Type": "message/rfc822"}
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=30) as client:
            n = 0
            while not self.stop.is_set():
                n += 1
                raw = email(
                    f"<{run_id}.{n}@rossi.it>",
                    sender=f"Cliente {n} <cliente{n}@rossi.it>",
                    subject=f"Richiesta {n}",
                )
                answer = client.post("/api/v1/inbound/email/mime", content=raw)
                assert answer.status_code == 200, answer.text
                with self.lock:
                    self.committed.append(answer.json()["ticket_id"])

    def answered(self) -> list[int]:
        with self.lock:
            return list(self.committed)


def test_a_backup_taken_under_writes_restores_every_ticket_committed_before_it(tmp_path):
    live, fresh = tmp_path / "live", tmp_path / "fresh"
    server = serve(live, _env(live))
    writer = Writer(server.base_url)
    try:
        writer.start()
        while len(writer.answered()) < 20:
            writer.stop.wait(0.05)
        before = writer.answered()  # each answered, so committed, before the backup begins
        made = _sportello("backup", str(tmp_path / "copy.db"), cwd=live, env=_env(live))
        assert made.returncode == 0, made.stderr
        while len(writer.answered()) < len(before) + 20:  # writes go on during and after it
            writer.stop.wait(0.05)
        refused = _sportello("restore", str(tmp_path / "copy.db"), cwd=live, env=_env(live))
        assert refused.returncode == 1  # the live database is open: nothing is replaced
        assert "seems to be in use" in refused.stderr and "Traceback" not in refused.stderr
    finally:
        writer.stop.set()
        writer.join(timeout=30)
        server.stop()
    assert "Backed up" in made.stdout and "SPORTELLO_SECRET_KEYS" in made.stdout

    fresh.mkdir()
    restored = _sportello("restore", str(tmp_path / "copy.db"), cwd=fresh, env=_env(fresh))
    assert restored.returncode == 0, restored.stderr
    again = serve(fresh, _env(fresh))
    try:
        with httpx.Client(base_url=again.base_url, headers=ADMIN, timeout=30) as client:
            for ticket_id in before:
                assert client.get(f"/api/v1/tickets/{ticket_id}").status_code == 200, ticket_id
    finally:
        again.stop()
    # A snapshot: all that came before it, none of what came after it ended.
    copied = int(restored.stdout.split()[1])  # "Restored N tickets ..."
    assert len(before) <= copied < len(writer.answered())
