"""Operator output (optimizer.console): markup kept literal, one JSON object per event, quiet, bars on a tty only."""

from __future__ import annotations

import io
import json

import pytest

from optimizer import console
from optimizer.errors import InputError


@pytest.fixture(autouse=True)
def human_mode():
    console.configure()
    yield
    console.configure()


def test_brackets_in_messages_reach_the_reader(capsys):
    error = InputError("prices", "is nan; it must be a finite number", asset="VTI")
    console.error("x", str(error))
    console.info("y", "[bold]not bold[/bold]")
    captured = capsys.readouterr()
    assert "prices [asset 'VTI']: is nan" in captured.err
    assert "[bold]not bold[/bold]" in captured.out


def test_log_json_writes_one_object_per_event(capsys):
    console.configure(log_json=True)
    error = InputError("lots.acquired", "is 2025-01-01", asset="VTI", lot="L1")
    console.info("solve.done", "first\nsecond line", seconds=0.5, nan=float("nan"))
    console.error("solve.input_error", str(error), **console.error_fields(error))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["event"] == "solve.done" and first["message"] == "first\nsecond line" and first["nan"] == "nan"
    assert second == {**second, "level": "error", "field": "lots.acquired", "asset": "VTI", "lot": "L1",
                      "error_type": "InputError"}


def test_quiet_keeps_warnings_and_errors(capsys):
    console.configure(quiet=True)
    console.info("a", "hidden")
    console.warning("b", "shown warning")
    console.error("c", "shown error")
    captured = capsys.readouterr()
    assert captured.out == "" and "shown warning" in captured.err and "shown error" in captured.err


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_only_on_a_terminal_and_never_in_quiet_or_json_mode():
    assert console.progress_enabled(FakeTerminal())
    assert not console.progress_enabled(io.StringIO())
    console.configure(quiet=True)
    assert not console.progress_enabled(FakeTerminal())
    console.configure(log_json=True)
    assert not console.progress_enabled(FakeTerminal())


def test_long_messages_are_not_wrapped(capsys):
    console.info("x", "word " * 60)
    assert capsys.readouterr().out.count("\n") == 1


def test_an_infeasible_error_carries_its_conflicts():
    from optimizer.errors import Conflict, InfeasibleError

    fields = console.error_fields(InfeasibleError([Conflict("band_upper", "EQUITY", 0.01, "NAV fraction")]))
    assert fields == {"error_type": "InfeasibleError",
                      "conflicts": [{"constraint": "band_upper", "key": "EQUITY", "shortfall": 0.01,
                                     "unit": "NAV fraction"}]}


def test_package_warnings_become_events(capsys):
    import logging

    console.configure(log_json=True)
    logging.getLogger("optimizer.batch.output").warning("dropped damaged part %s", "part-3")
    event = json.loads(capsys.readouterr().out.strip())
    assert event["level"] == "warning" and event["event"] == "optimizer.batch.output"
    assert event["message"] == "dropped damaged part part-3"
