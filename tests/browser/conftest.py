"""The browser tests' fixtures: Chromium (installed or skipped with the reason), a page, and a
server of their own."""

import shutil
import subprocess
from collections.abc import Callable, Iterator

import pytest

from tests.browser.chromium import ROOT, Chromium, Page, find_chromium
from tests.conftest import LiveServer


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
        pytest.skip(f"Chromium cannot be installed here: {reason}")
    return found


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
