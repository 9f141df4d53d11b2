"""`sportello staff set-password` and `login-link`, run as a newcomer would, then the console of
`sportello serve` signed in to with each."""

import re
import subprocess
from pathlib import Path

import httpx

from tests.console.test_console import Desk
from tests.processes import SPORTELLO, environment, serve


def _run(
    *args: str, cwd: Path, env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SPORTELLO, *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_newcomer_gets_a_password_and_a_one_time_link_from_the_command_line(tmp_path):
    env = environment(database_url=f"sqlite:///{tmp_path / 'cli.db'}", worker="false")
    assert _run("migrate", cwd=tmp_path, env=env).returncode == 0
    created = _run(
        "staff",
        "create",
        "--name",
        "Marco Bianchi",
        "--email",
        "marco@agency.example",
        "--role",
        "agent",
        cwd=tmp_path,
        env=env,
    )
    assert created.returncode == 0, created.stderr
    short = _run(
        "staff", "set-password", "marco@agency.example", cwd=tmp_path, env=env, stdin="short\n"
    )
    assert short.returncode == 1 and "12 to 1024 characters" in short.stderr
    unknown = _run("staff", "login-link", "nobody@agency.example", cwd=tmp_path, env=env)
    assert unknown.returncode == 1 and "No staff member" in unknown.stderr
    done = _run(
        "staff",
        "set-password",
        "marco@agency.example",
        cwd=tmp_path,
        env=env,
        stdin="correct horse battery staple\n",
    )
    assert done.returncode == 0 and "Marco Bianchi" in done.stdout, done.stderr
    printed = _run("staff", "login-link", "marco@agency.example", cwd=tmp_path, env=env)
    assert printed.returncode == 0, printed.stderr
    link = printed.stdout.strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:8000/console/link/[A-Za-z0-9_-]{40,}", link)

    server = serve(tmp_path, env)
    try:
        by_password = Desk(server.base_url)
        answer = by_password.sign_in("marco@agency.example", "correct horse battery staple")
        assert answer.status_code == 303
        assert "Marco Bianchi" in by_password.client.get("/console/").text
        by_link = Desk(server.base_url)
        token = link.rsplit("/", 1)[1]
        csrf = by_link.form_token(f"/console/link/{token}")
        answer = by_link.client.post("/console/link", data={"token": token, "csrf": csrf})
        assert answer.status_code == 303
        assert "Marco Bianchi" in by_link.client.get("/console/").text
        assert httpx.get(server.base_url + "/console/", follow_redirects=False).status_code == 303
    finally:
        server.stop()
