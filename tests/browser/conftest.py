"""The browser tests' fixtures: Chromium (installed or skipped with the reason), axe-core, a page,
and a server of their own. With SPORTELLO_TEST_REQUIRE_BROWSER=1 (CI) a missing Chromium or
axe-core fails the tests instead."""

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from tests.browser.chromium import ROOT, Chromium, Page, find_chromium
from tests.conftest import LiveServer

REQUIRE_BROWSER = os.environ.get("SPORTELLO_TEST_REQUIRE_BROWSER") == "1"


def _missing(reason: str) -> NoReturn:
    if REQUIRE_BROWSER:
        pytest.fail(f"{reason} (SPORTELLO_TEST_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_binary() -> str:
    """Debian's chromium, installed with `make chromium` if missing; else skip with why."""
    found = find_chromium()
    if found:
        return found
    command = (
        ["make", "chromium"] if shutil.which("make") else ["bash", "scripts/install-chromium.sh"]
    )
    try:
        result = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
        )
        output = (result.stdout + result.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        output = f"{' '.join(command)} failed: {exc}"
    found = find_chromium()
    if not found:
        said = [line for line in output.splitlines() if line and not line.startswith("make")]
        reason = said[-1] if said else output or "the installer said nothing"
        _missing(f"Chromium cannot be installed here: {reason}")
    return found


@pytest.fixture(scope="session")
def axe_script() -> str:
    """axe-core's axe.min.js (scripts/download_axe_core.py: pinned, integrity checked, cached)."""
    try:
        result = subprocess.run(
            [sys.executable, "scripts/download_axe_core.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        _missing(f"axe-core cannot be fetched: {exc}")
    if result.returncode != 0:
        _missing(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no reason")
    return Path(result.stdout.strip()).read_text()


@pytest.fixture(scope="session")
def chromium(chromium_binary: str) -> Iterator[Chromium]:
    browser = Chromium(chromium_binary)
    yield browser
    browser.close()


@pytest.fixture
def page(chromium: Chromium) -> Iterator[Page]:
    with chromium.new_page() as tab:
        yield tab


@pytest.fixture
def sportello(serve: Callable[..., LiveServer]) -> LiveServer:
    """A server of its own on the test database, so that its contact-form rate limiter
    (per IP, in memory) does not share counts with the API tests' server."""
    return serve(contact_rate_limit=1000)
