"""Operator output shared by the CLI and the batch: messages, errors, JSON logs, progress.

One module decides how a command talks to its operator:

* **human** (default): messages through rich on stdout, errors on stderr. Every piece of
  text that comes from data or from an exception goes through :func:`escape`, so rich
  never reads ``[asset 'VTI']`` as markup and deletes it.
* **JSON** (``--log-json``): one JSON object per event on stdout, one per line, with
  ``ts`` (UTC, ISO 8601), ``level``, ``event`` and ``message`` and any extra fields;
  nothing else is printed (no tables, no progress bars).
* **quiet** (``--quiet``): only warnings and errors.

Progress bars are shown only when stderr is a terminal and neither mode above is on
(:func:`progress_enabled`), so a cron log never gets one long line of redraws.

Usage::

    from optimizer import console
    console.configure(quiet=False, log_json=True)
    console.info("solve.done", "solved case", case="x", seconds=0.2)
    console.error("input", str(exc), field=exc.field)
"""

from __future__ import annotations

import json
import logging
import math
import sys
from dataclasses import dataclass
from datetime import datetime, timezone

from rich.console import Console
from rich.markup import escape as _rich_escape

LEVELS = ("debug", "info", "warning", "error")


@dataclass
class _Mode:
    quiet: bool = False
    log_json: bool = False


_mode = _Mode()


class _EventHandler(logging.Handler):
    """Routes records of the ``optimizer`` loggers through :func:`emit` (JSON lines or quiet-aware text)."""

    def emit(self, record: logging.LogRecord) -> None:  # noqa: D102 - logging API
        level = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning"}.get(record.levelno, "error")
        try:
            emit(level, record.name, record.getMessage())
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


_handler = _EventHandler(level=logging.WARNING)


def configure(*, quiet: bool = False, log_json: bool = False) -> None:
    """Set the output mode for this process (the CLI calls it once per command).

    Warnings logged by the package (``logging.getLogger("optimizer....")``) become events of
    the same mode, so ``--log-json`` output stays one JSON object per line.
    """
    _mode.quiet = bool(quiet)
    _mode.log_json = bool(log_json)
    package = logging.getLogger("optimizer")
    if _handler not in package.handlers:
        package.addHandler(_handler)  # records still propagate (test capture, an operator's own handlers)


def is_json() -> bool:
    """True when events are written as JSON lines."""
    return _mode.log_json


def is_quiet() -> bool:
    """True when only warnings and errors are written."""
    return _mode.quiet


def escape(text: object) -> str:
    """``text`` as a string rich prints literally (square brackets kept)."""
    return _rich_escape(str(text))


def _stdout() -> Console:
    # Built per call so the console follows sys.stdout (test runners swap it). soft_wrap:
    # long messages stay on one line in logs instead of being wrapped at 80 columns.
    return Console(file=sys.stdout, soft_wrap=True, highlight=False)


def _stderr() -> Console:
    return Console(file=sys.stderr, soft_wrap=True, highlight=False)


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    try:  # numpy scalars
        return _jsonable(value.item())
    except (AttributeError, ValueError):
        return str(value)


def event_record(level: str, event: str, message: str, **fields) -> dict:
    """The JSON object written for one event (``ts``, ``level``, ``event``, ``message``, fields)."""
    record = {"ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "level": level,
              "event": event, "message": str(message)}
    for key, value in fields.items():
        if value is not None:
            record[key] = _jsonable(value)
    return record


def emit(level: str, event: str, message: str, **fields) -> None:
    """Write one event at ``level`` (``debug``, ``info``, ``warning``, ``error``).

    ``message`` is plain text (it is escaped for rich); ``fields`` only appear in JSON mode.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    if _mode.log_json:
        sys.stdout.write(json.dumps(event_record(level, event, message, **fields)) + "\n")
        sys.stdout.flush()
        return
    if level in ("debug", "info"):
        if not _mode.quiet:
            _stdout().print(escape(message))
        return
    style = "red" if level == "error" else "yellow"
    _stderr().print(f"[{style}]{level}:[/{style}] {escape(message)}")


def info(event: str, message: str, **fields) -> None:
    """An informational event (hidden by ``--quiet``)."""
    emit("info", event, message, **fields)


def warning(event: str, message: str, **fields) -> None:
    """A warning (always shown)."""
    emit("warning", event, message, **fields)


def error(event: str, message: str, **fields) -> None:
    """An error (always shown; on stderr in human mode)."""
    emit("error", event, message, **fields)


def error_fields(exc: BaseException) -> dict:
    """JSON fields describing an exception: its type; field, asset and lot of an ``InputError``; the
    conflicts of an ``InfeasibleError``."""
    fields = {"error_type": type(exc).__name__}
    for name in ("field", "asset", "lot"):
        value = getattr(exc, name, None)
        if value is not None:
            fields[name] = value
    conflicts = getattr(exc, "conflicts", None)  # InfeasibleError: which constraints give way, by how much
    if conflicts:
        fields["conflicts"] = [{"constraint": c.constraint, "key": c.key, "shortfall": c.shortfall, "unit": c.unit}
                               for c in conflicts]
    return fields


def renderable(obj) -> None:
    """Print a rich renderable (a table) in human mode unless quiet; nothing in JSON mode."""
    if _mode.log_json or _mode.quiet:
        return
    _stdout().print(obj)


def progress_enabled(stream=None) -> bool:
    """Whether to draw a progress bar: only on a terminal, and not in quiet or JSON mode."""
    if _mode.quiet or _mode.log_json:
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
