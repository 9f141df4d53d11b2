"""A headless Chromium driven over the Chrome DevTools Protocol, for the browser tests.

Chromium is Debian's `chromium`, installed by `make chromium` when missing (see conftest.py).
The browser is driven over its DevTools websocket (with the `websockets` package uvicorn already
pulls in): no WebDriver, no browser downloads.
"""

import base64
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
from collections import deque
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[2]
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


def find_chromium() -> str | None:
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


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

    def record_policy_violations(self) -> None:
        """From the next navigation on, `violations()` lists what the page's CSP refused."""
        self.call(
            "Page.addScriptToEvaluateOnNewDocument",
            source="window.__violations = []; document.addEventListener("
            "'securitypolicyviolation', e => window.__violations.push("
            "e.effectiveDirective + ' ' + e.blockedURI));",
        )

    def violations(self) -> list[str]:
        found: list[str] = self.js("window.__violations")
        return found

    def set_viewport(self, width: int, height: int, *, mobile: bool = False) -> None:
        """Lay the page out as a screen this size would (a phone: `mobile`, 390 x 844)."""
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=mobile,
        )

    def screenshot(self, path: Path) -> bytes:
        """The whole page as a PNG, written to `path`; its bytes."""
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        data = base64.b64decode(shot["data"])
        path.write_bytes(data)
        return data

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
