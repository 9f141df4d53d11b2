"""Starting `sportello` processes as an operator would: an empty directory, only SPORTELLO_*
variables, output captured to a file."""

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import TLS

SPORTELLO = str(Path(sys.executable).parent / "sportello")


def port_of(line: str) -> int | None:
    """The port of uvicorn's "running on" line (plain or JSON), else None."""
    found = re.search(r"Uvicorn running on http://[^:\s]+:(\d+)", line)
    return int(found[1]) if found else None


def environment(**variables: str) -> dict[str, str]:
    """This process's environment without any SPORTELLO_* variable, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPORTELLO_")}
    env.update({f"SPORTELLO_{name.upper()}": value for name, value in variables.items()})
    return env


@dataclass
class Process:
    """A running `sportello` command and where its log goes."""

    popen: subprocess.Popen[bytes]
    log: Path
    base_url: str = ""

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode


def run(directory: Path, *args: str, env: dict[str, str]) -> Process:
    """Start `sportello ARGS` in `directory`; its output goes to a log file there."""
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / f"{args[0]}-{time.monotonic_ns()}.log"
    popen = subprocess.Popen(
        [SPORTELLO, *args], cwd=directory, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    return Process(popen, log)


def _answers(base_url: str) -> bool:
    """Whether a server (every worker process of it, as far as one can tell) is up."""
    try:
        return httpx.get(base_url + "/healthz", timeout=2, verify=TLS).status_code == 200
    except httpx.TransportError:
        return False


def serve(directory: Path, env: dict[str, str], *options: str) -> Process:
    """`sportello serve` on a free loopback port, once it answers."""
    process = run(directory, "serve", "--host", "127.0.0.1", "--port", "0", *options, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in process.log.read_text(errors="replace").splitlines():
            port = port_of(line)
            if port and _answers(f"http://127.0.0.1:{port}"):
                process.base_url = f"http://127.0.0.1:{port}"
                return process
        if process.popen.poll() is not None:
            break
        time.sleep(0.05)
    process.stop()
    raise AssertionError("sportello serve did not start:\n" + process.log.read_text())
