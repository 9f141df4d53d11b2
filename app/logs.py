"""Logs: one JSON object per line (python-json-logger), or plain text on a terminal; every line
carries the request id of the request it belongs to (or of the request that caused the outbox
row a worker is sending).

What a line may never hold is masked here, whatever the caller wrote: an email address keeps
its domain and the first letter of its local part (`m***@rossi.it`), and a control character
that outside text brought (an SMTP server's answer, an IMAP error) is written escaped, so that
it can never start a line of its own. Message bodies and secrets are never passed to a logger
in the first place.
"""

import logging
import logging.config
import re
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s [%(request_id)s]"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"
# An "@" (or its percent-encoded form, as in a URL) followed by a domain: labels of letters,
# digits and hyphens in any script (IDN), or an address literal in brackets.
_AT_DOMAIN = re.compile(r"(?:@|%40)(?:\[[^\]\s]{1,100}\]|[\w-]+(?:\.[\w-]+)*)")
# What ends a local part read backwards from its "@": a space, a bracket, a separator, a
# scheme's colon (`mailto:`), a quote or another address. Anything else belongs to it.
_LOCAL_STOPS = frozenset('<>()[],;:@"')
MAX_LOCAL = 256  # past this, everything back to here is masked (longer than any local part)


def mask_addresses(text: str) -> str:
    """Every email address in `text` with its local part hidden, however it is spelled
    (unicode, quoted, `+tag`, IDN domain, in angle brackets, after `mailto:`): `m***@rossi.it`,
    its first letter and its domain."""
    regions: list[tuple[int, int, int]] = []  # each address: local part start, "@", end
    for found in _AT_DOMAIN.finditer(text):
        at = found.start()
        start = _local_start(text, at)
        if start == at:
            continue  # "10:30 @ home", "@property": no local part
        while regions and regions[-1][2] > start:  # "a@b"@c.it: one address
            start = min(start, regions.pop()[0])
        regions.append((start, at, found.end()))
    if not regions:
        return text
    pieces, done = [], 0
    for start, at, end in regions:
        local = text[start:at]
        lead = local[0] if local[0] in "'\"" else ""  # a quote before it stays a quote
        first = next((c for c in local if c.isalnum()), "")
        pieces += [text[done:start], f"{lead}{first}***", text[at:end]]
        done = end
    pieces.append(text[done:])
    return "".join(pieces)


def _local_start(text: str, at: int) -> int:
    floor = max(0, at - MAX_LOCAL)
    i = at
    if at > 0 and text[at - 1] == '"':  # a quoted local part: back to its opening quote
        i -= 1
        while i > floor:
            i -= 1
            if text[i] in "\r\n":
                return i + 1
            if text[i] == '"' and not _escaped(text, i):
                return i
        return floor
    while i > floor:
        c = text[i - 1]
        if (c.isspace() or c in _LOCAL_STOPS) and not _escaped(text, i - 1):
            break
        i -= 1
    return i


_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape_controls(text: str) -> str:
    """One line: `\r`, `\n` and every other control character written as an escape."""
    return _CONTROLS.sub(lambda found: repr(found[0])[1:-1], text)


def _escaped(text: str, i: int) -> bool:
    """Whether text[i] follows an odd run of backslashes (a quoted pair)."""
    run = 0
    while run < MAX_LOCAL and i - run > 0 and text[i - run - 1] == "\\":
        run += 1
    return run % 2 == 1


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
MAX_REASON = 300


def note_refusal(scope: MutableMapping[str, Any], reason: str) -> None:
    """Keep why a request is refused, for its access-log line (app.middleware.AccessLog): one
    line, no control characters, addresses masked, bounded. Never pass a body here."""
    reason = mask_addresses(_CONTROL.sub(" ", reason)).strip()[:MAX_REASON]
    scope.setdefault("state", {})["refusal"] = reason


def note_hang_up(scope: MutableMapping[str, Any]) -> None:
    """The client went away mid-request: nothing was refused, its 400 reaches nobody."""
    scope.setdefault("state", {})["hang_up"] = True


def refusal_of(scope: MutableMapping[str, Any]) -> str | None:
    """Why the request was refused, if an error handler said so."""
    state = scope.get("state")
    reason = state.get("refusal") if isinstance(state, dict) else None
    return reason if isinstance(reason, str) else None


def hung_up(scope: MutableMapping[str, Any]) -> bool:
    """Whether the client went away mid-request (see `note_hang_up`)."""
    state = scope.get("state")
    return isinstance(state, dict) and bool(state.get("hang_up"))


class Context(logging.Filter):
    """Puts the current request id on the record and masks addresses in the message, and in
    the traceback and stack it carries (an exception's text may quote an address)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get() or "-"
        record.__dict__.pop("color_message", None)  # uvicorn's copy with terminal colours
        message = record.getMessage()
        masked = _escape_controls(mask_addresses(message))
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info:
            # Formatters print exc_text when there is no exc_info: the masked text is printed.
            record.exc_text = mask_addresses(_TRACEBACKS.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = mask_addresses(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_addresses(record.stack_info)
        return True


_TRACEBACKS = logging.Formatter()


@contextmanager
def request_context(value: str | None) -> Iterator[None]:
    """Lines logged inside belong to request `value` (the worker, for a row it sends)."""
    token = request_id.set(value)
    try:
        yield
    finally:
        request_id.reset(token)


def config(level: str = "INFO", style: str = "auto") -> dict[str, Any]:
    """The logging configuration (`logging.config.dictConfig`): `json`, `text`, or `auto` (text
    on a terminal, JSON otherwise). uvicorn applies it in each of its worker processes too."""
    as_json = style == "json" or (style == "auto" and not sys.stderr.isatty())
    formatter: dict[str, Any] = (
        {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FIELDS,
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
        if as_json
        else {"format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "app.logs.Context"}},
        "formatters": {"default": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["context"],
                "stream": "ext://sys.stderr",
            }
        },
        # uvicorn's own loggers write through the same handler (no duplicates, no colours).
        "loggers": {
            name: {"handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
        "root": {"handlers": ["default"], "level": level.upper()},
    }


def setup(level: str = "INFO", style: str = "auto") -> None:
    """Configure logging for this process (see `config`)."""
    logging.config.dictConfig(config(level, style))


# Paths whose last part is a key: a customer's status page, a staff member's one-time sign-in
# link. Whoever reads the log must not be able to use them.
KEYED_PATHS = ("/status/", "/console/link/")


def loggable_path(path: str) -> str:
    """A request's path as a log line may show it: a key it carries is replaced by `…`."""
    for prefix in KEYED_PATHS:
        if path.startswith(prefix):
            return f"{prefix}…"
    return path
