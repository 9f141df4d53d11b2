"""A real headless Chromium submits examples/contact-form.html and the ticket appears.

Chromium is Debian's `chromium`, installed by `make chromium` when missing; the test is
skipped, with the reason printed, only where it cannot be installed. The browser is driven over
the Chrome DevTools Protocol (its websocket, with the `websockets` package uvicorn already pulls
in): no WebDriver, no browser downloads.
"""

import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select
from websockets.sync.client import ClientConnection, connect

from app.models.message import Attachment, Message
from tests.conftest import Api, LiveServer

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
FORM = ROOT / "examples" / "contact-form.html"
EXAMPLE_ACTION = "https://sportello.example.com/api/v1/contact"
TIMEOUT = 20.0
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # we may be root (CI containers)
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
]


def _find_chromium() -> str | None:
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


@pytest.fixture(scope="session")
def chromium_binary() -> str:
    """Debian's chromium, installed with `make chromium` if missing; else skip with why."""
    found = _find_chromium()
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
    found = _find_chromium()
    if not found:
        said = [line for line in output.splitlines() if line and not line.startswith("make")]
        reason = said[-1] if said else output or "the installer said nothing"
        pytest.skip(f"Chromium cannot be installed here: {reason}")
    return found


class Chromium:
    """A headless Chromium process with a fresh profile and its DevTools endpoint."""

    def __init__(self, binary: str) -> None:
        self.profile = tempfile.TemporaryDirectory(prefix="sportello-chromium-")
        self.process = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile.name}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: renderers and all go at close
        )
        self.log: deque[str] = deque(maxlen=50)
        found = threading.Event()
        self.endpoint = ""

        def read_stderr() -> None:  # keeps draining so that Chromium never blocks on the pipe
            assert self.process.stderr is not None
            for line in self.process.stderr:
                self.log.append(line.rstrip())
                match = re.search(r"DevTools listening on (ws://\S+)", line)
                if match:
                    self.endpoint = match.group(1)
                    found.set()

        threading.Thread(target=read_stderr, daemon=True).start()
        if not found.wait(TIMEOUT):
            self.close()
            raise RuntimeError("Chromium did not start:\n" + "\n".join(self.log))
        # ws://127.0.0.1:PORT/devtools/browser/ID → pages live at ws://127.0.0.1:PORT/devtools/page/
        self.page_prefix = self.endpoint.split("/devtools/")[0] + "/devtools/page/"

    def new_page(self) -> "Page":
        with DevTools(self.endpoint) as browser:
            target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        return Page(self, target)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # helpers left behind, if any
        self.profile.cleanup()


class DevTools:
    """One DevTools websocket: call(method, **params) → result; events are kept for waits."""

    def __init__(self, url: str) -> None:
        self.stack = contextlib.ExitStack()
        self.ws: ClientConnection = self.stack.enter_context(
            connect(url, max_size=None, open_timeout=TIMEOUT)
        )
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def __enter__(self) -> "DevTools":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    def _receive(self, deadline: float) -> dict[str, Any]:
        message = json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
        if "method" in message:
            self.events.append(message)
        return message

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + TIMEOUT
        while True:
            message = self._receive(deadline)
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def wait_event(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while True:
            for event in self.events:
                if event["method"] == method:
                    self.events.remove(event)
                    return event["params"]
            self._receive(deadline)


class Page(DevTools):
    """A browser tab."""

    def __init__(self, browser: Chromium, target: str) -> None:
        super().__init__(browser.page_prefix + target)
        self.browser, self.target = browser, target
        self.call("Page.enable")

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        with DevTools(self.browser.endpoint) as browser:
            browser.call("Target.closeTarget", targetId=self.target)

    def goto(self, url: str) -> None:
        self.events.clear()
        result = self.call("Page.navigate", url=url)
        assert "errorText" not in result, f"{url}: {result['errorText']}"
        self.wait_event("Page.loadEventFired")

    def js(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def type_into(self, selector: str, text: str) -> None:
        """Focus a field and type into it as a keyboard would (input events, UTF-8)."""
        assert self.js(f"document.querySelector({json.dumps(selector)}).focus() ?? true")
        self.call("Input.insertText", text=text)

    def set_files(self, selector: str, paths: list[Path]) -> None:
        handle = self.call(
            "Runtime.evaluate", expression=f"document.querySelector({json.dumps(selector)})"
        )
        self.call(
            "DOM.setFileInputFiles",
            objectId=handle["result"]["objectId"],
            files=[str(p) for p in paths],
        )

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element."""
        box = self.js(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " e.scrollIntoView(); const r = e.getBoundingClientRect();"
            " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.call(
                "Input.dispatchMouseEvent",
                type=kind,
                x=box["x"],
                y=box["y"],
                button="left",
                clickCount=1,
            )

    def wait_for(self, expression: str) -> Any:
        """Poll a JavaScript expression until it is truthy (navigations in between are fine)."""
        deadline = time.monotonic() + TIMEOUT
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = self.js(expression)
            except RuntimeError as exc:  # the page was navigating away
                last = exc
            if last and not isinstance(last, Exception):
                return last
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {expression!r}; last: {last!r}")


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


@pytest.fixture
def website(sportello: LiveServer) -> Iterator[str]:
    """A customer's website on another loopback origin, serving the example form as is,
    except for the action's host, which points at the test server."""
    html = FORM.read_text(encoding="utf-8")
    assert EXAMPLE_ACTION in html, "the example form's default action changed"
    body = html.replace(EXAMPLE_ACTION, f"{sportello.base_url}/api/v1/contact").encode("utf-8")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/contatti.html":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/contatti.html"
    server.shutdown()
    server.server_close()


def fill_in(page: Page, *, subject: str, email: str, message: str) -> None:
    page.type_into("#sportello-name", "Maria Rossi")
    page.type_into("#sportello-email", email)
    page.type_into("#sportello-subject", subject)
    page.type_into("#sportello-message", message)


def submit_and_read_thanks(page: Page, sportello: LiveServer) -> str:
    """Click "Invia", follow the 303 to the built-in confirmation page and return its text."""
    page.click("button[type=submit]")
    thanks = f"{sportello.base_url}/api/v1/contact/thanks"
    page.wait_for(
        f"location.href.startsWith({json.dumps(thanks)}) && document.readyState === 'complete'"
        " && document.body.innerText.includes('Grazie')"
    )
    text: str = page.js("document.body.innerText")
    assert "Thank you" in text, text
    return text


def new_tickets(api: Api) -> list[dict[str, Any]]:
    response = api.admin.get("/api/v1/tickets", params={"status": "new"})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_a_browser_submits_the_example_form_and_the_ticket_appears(
    api: Api, sportello: LiveServer, page: Page, website: str, session: Session, tmp_path: Path
) -> None:
    page.goto(website)
    assert page.js("document.title") == "Richiesta di assistenza"

    # The honeypot is there, empty, out of sight, out of the tab order and of assistive tech.
    honeypot = page.js(
        "(() => { const e = document.querySelector('input[name=website]');"
        " const r = e.getBoundingClientRect();"
        " return {value: e.value, tabIndex: e.tabIndex, autocomplete: e.autocomplete,"
        " offscreen: r.right <= 0 || r.bottom <= 0 || r.width <= 1,"
        " ariaHidden: e.closest('[aria-hidden=true]') !== null}; })()"
    )
    assert honeypot == {
        "value": "",
        "tabIndex": -1,
        "autocomplete": "off",
        "offscreen": True,
        "ariaHidden": True,
    }

    marker = uuid.uuid4().hex[:8]
    subject = f"Il sito non si apre più ({marker})"
    email = f"maria.rossi.{marker}@example.org"
    message = "Da stamattina la home page dà errore 500.\nGrazie."
    fill_in(page, subject=subject, email=email, message=message)
    attachment = tmp_path / "errore.txt"
    attachment.write_bytes(b"HTTP 500 Internal Server Error\n")
    page.set_files("#sportello-attachments", [attachment])
    assert page.js("document.querySelector('form').checkValidity()") is True
    assert page.js("document.querySelector('input[name=website]').value") == ""

    text = submit_and_read_thanks(page, sportello)

    mine = [t for t in new_tickets(api) if t["subject"] == subject]
    assert len(mine) == 1, new_tickets(api)
    ticket = mine[0]
    assert ticket["channel"] == "web_form"
    assert ticket["from_email"] == email
    assert ticket["number"] in text  # the confirmation page shows the ticket's number

    # What the browser typed and attached arrived intact (UTF-8, the file's bytes).
    stored = session.exec(
        select(Message).where(Message.ticket_id == ticket["id"], Message.direction == "inbound")
    ).one()
    assert stored.text.replace("\r\n", "\n").strip() == message
    files = session.exec(select(Attachment).where(Attachment.message_id == stored.id)).all()
    assert [(f.filename, f.size) for f in files] == [("errore.txt", attachment.stat().st_size)]


def test_a_bot_filling_the_honeypot_sees_the_thanks_page_but_no_ticket_is_made(
    api: Api, sportello: LiveServer, page: Page, website: str
) -> None:
    page.goto(website)
    subject = f"Offerta imperdibile {uuid.uuid4().hex[:8]}"
    fill_in(page, subject=subject, email="bot@example.net", message="Compra ora!")
    # A bot fills every field it finds, hidden or not.
    page.js("document.querySelector('input[name=website]').value = 'https://spam.example'")

    submit_and_read_thanks(page, sportello)

    assert [t for t in new_tickets(api) if t["subject"] == subject] == []
