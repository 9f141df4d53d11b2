"""The Dockerfile and compose.yaml follow docs/deploy.md, with commands `sportello` knows.
(No image is built here: the base images come from a registry this machine does not reach.)"""

import json
import re
import subprocess
from pathlib import Path

import yaml

from tests.processes import SPORTELLO

ROOT = Path(__file__).resolve().parent.parent


def _options_known(command: list[str]) -> None:
    assert command[0] == "sportello"
    helped = subprocess.run(
        [SPORTELLO, command[1], "--help"], capture_output=True, text=True, check=True
    ).stdout
    for option in (part for part in command[2:] if part.startswith("--")):
        assert option in helped, f"{' '.join(command)}: {option} is not an option of sportello"


def test_compose_runs_migrations_once_then_apis_without_workers_and_a_worker():
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    commands = {
        name: s["command"] for name, s in services.items() if "sportello" in str(s.get("command"))
    }
    assert commands["migrate"] == ["sportello", "migrate"]
    assert commands["worker"] == ["sportello", "worker"]
    apis = [name for name, command in commands.items() if command[1] == "serve"]
    assert len(apis) >= 2
    for name in apis:
        assert "--no-migrate" in commands[name]
        assert services[name]["environment"]["SPORTELLO_WORKER"] == "false"
        assert (
            services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        )
        assert "ports" not in services[name]  # reached through the proxy only
    for command in commands.values():
        _options_known(command)
    assert {"db", "proxy", "mailpit"} <= set(services)


def test_the_image_runs_as_a_user_of_its_own_on_a_slim_base():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    command = json.loads(re.findall(r"^CMD (\[.*\])", dockerfile, re.MULTILINE)[-1])
    assert "--no-migrate" in command
    _options_known(command)
