"""Logs: one JSON object per line (python-json-logger), or plain text on a terminal; every line
carries the request id of the request it belongs to (or of the request that caused the outbox
row a worker is sending).

What a line may never hold is masked here, whatever the caller wrote: an email address keeps
its domain and the first letter of its local part (`m***@rossi.it`). Message bodies and secrets
are never passed to a logger in the first place.
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
_ADDRESS = re.compile(r"([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})")


def mask_addresses(text: str) -> str:
    """Every email address in `text` with its local part hidden: `m***@rossi.it`."""
    return _ADDRESS.sub(r"\1***@\2", text)


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
    """Puts the current request id on the record and masks addresses in the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get() or "-"
        record.__dict__.pop("color_message", None)  # uvicorn's copy with terminal colours
        message = record.getMessage()
        masked = mask_addresses(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


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
