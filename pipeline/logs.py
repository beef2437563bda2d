"""Structured logging on stderr (SPEC §8): plain text for people, JSON lines for log collectors."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

LOG_FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and any `extra` fields."""

    _BASE = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._BASE:
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message key=value …`, the `extra` fields appended in order."""

    _BASE = JsonFormatter._BASE

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = [f"{k}={v}" for k, v in vars(record).items() if k not in self._BASE]
        if not extra:
            return text
        first, sep, rest = text.partition("\n")
        return f"{first} {' '.join(extra)}{sep}{rest}"


def configure_logging(fmt: str = "text", level: int = logging.WARNING) -> None:
    """Route the `xmargin` loggers to stderr in the chosen format (`text` or `json`)."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format {fmt!r}: expected one of {', '.join(LOG_FORMATS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("xmargin")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def log_event(
    logger: logging.Logger,
    event: str,
    level: int = logging.INFO,
    message: str | None = None,
    **fields: Any,
) -> None:
    """Log a named event with its fields as structured `extra` (safe against reserved names).

    The record's message is `message` (for people), or else the event name.
    """
    extra: dict[str, Any] = {"event": event}
    for key, value in fields.items():
        # LogRecord refuses extras that shadow its own attributes ("name", "msg", …).
        extra[f"{key}_" if key in JsonFormatter._BASE else key] = value
    logger.log(level, message or event, extra=extra)
