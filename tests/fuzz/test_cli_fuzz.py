"""Fuzz corpus, command line: bad arguments and files through ``rebalance``, in process (typer's CliRunner).

Every call must end with the documented exit code (2 usage/input error, 3 whole-run
failure, 0 success), print no traceback, keep rich markup out of messages (``[asset
'VTI']`` must reach the reader), and return within a time limit. A handful of calls run
in a real subprocess to check the installed entry point behaves the same.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from contextlib import contextmanager

import pytest
import yaml
from typer.testing import CliRunner

from fuzz_support import ROOT, base_case, rename, set_
from optimizer.cli import EXIT_INPUT, EXIT_OK, app, main
from problems.books import synthetic_book

CALL_LIMIT_S = 60
DATE = "2024-06-28"


class Hang(BaseException):
    """A CLI call ran past its limit (a BaseException so the CLI's own handlers cannot swallow it)."""


@contextmanager
def time_limit(seconds: int):
    def expire(signum, frame):
        raise Hang(f"call did not return within {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run(*args: str):
    """Invoke ``rebalance ARGS`` in process; return the click Result (stdout and stderr kept apart)."""
    with time_limit(CALL_LIMIT_S):
        result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=True)
    text = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "Traceback" not in text, text
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {type(result.exception).__name__}: {result.exception}")
    return result


def case_file(tmp_path, data, name="case.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    folder = tmp_path_factory.mktemp("book")
    for name, frame in synthetic_book(4, 6, 2, n_models=2, seed=1).items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def damaged_book(book, tmp_path, damage):
    folder = tmp_path / "damaged"
    folder.mkdir()
    for file in book.iterdir():
        (folder / file.name).write_bytes(file.read_bytes())
    damage(folder)
    return folder


# -- solve ------------------------------------------------------------------------------------

SOLVE_INPUTS = [
    ("unknown-key", rename("cash_usd", "cash"), "cash", "did you mean 'cash_usd'"),
    ("price-nan", set_("assets", "VTI", "price", float("nan")), "prices", "[asset 'VTI']"),
    ("lot-after-date", set_("lots", 0, "acquired", "2025-01-01"), "lots.acquired", "[lot 'EQ-1']"),
    ("no-sell-text", set_("restrictions", {"VTI": {"no_sell": "false"}}), "restrictions.no_sell", "true or false"),
    ("date-int", set_("date", 20240628), "date", "expected a date"),
    ("cov-shape", set_("risk", "factor_cov", [[0.1]]), "risk.factor_cov", "expected 2 x 2"),
]


@pytest.mark.parametrize("name, mutate, field, shown", SOLVE_INPUTS, ids=[s[0] for s in SOLVE_INPUTS])
def test_solve_bad_case_exits_2_with_the_field_and_its_brackets(name, mutate, field, shown, tmp_path):
    result = run("solve", case_file(tmp_path, mutate(base_case())), "--out", tmp_path / "out")
    assert result.exit_code == EXIT_INPUT
    assert field in result.stderr and shown in result.stderr, result.stderr
    assert not (tmp_path / "out" / "result.json").exists()


@pytest.mark.parametrize("name", ["folder", "missing", "bad-yaml", "suffix", "empty"])
def test_solve_path_that_is_no_case(name, tmp_path):
    path = {"folder": tmp_path, "missing": tmp_path / "nope.yaml", "bad-yaml": tmp_path / "bad.yaml",
            "suffix": tmp_path / "case.txt", "empty": tmp_path / "empty.yaml"}[name]
    if name == "bad-yaml":
        path.write_text("date: [unclosed\n")
    if name in ("suffix", "empty"):
        path.write_text("" if name == "empty" else "date: 2024-06-28\n")
    result = run("solve", path, "--out", tmp_path / "out")
    assert result.exit_code == EXIT_INPUT and "case" in result.stderr


def test_solve_out_is_checked_before_solving(tmp_path):
    existing = tmp_path / "taken"
    existing.write_text("x")
    for out in (existing, existing / "sub"):
        result = run("solve", case_file(tmp_path, base_case()), "--out", out)
        assert result.exit_code == EXIT_INPUT and "--out" in result.stderr
        assert "Rebalance on" not in result.output  # no solve ran
    assert existing.read_text() == "x"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes to read-only folders")
def test_solve_out_not_writable(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        result = run("solve", case_file(tmp_path, base_case()), "--out", folder / "out")
        assert result.exit_code == EXIT_INPUT and "--out" in result.stderr
    finally:
        folder.chmod(0o700)


def test_solve_log_json_error_is_one_json_object(tmp_path):
    result = run("solve", case_file(tmp_path, set_("assets", "VTI", "price", "265")(base_case())),
                 "--out", tmp_path / "out", "--log-json")
    assert result.exit_code == EXIT_INPUT
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["level"] == "error" and event["field"] == "assets.price" and event["asset"] == "VTI"
    assert event["error_type"] == "InputError" and "ts" in event


def test_solve_log_json_success_every_line_is_json(tmp_path):
    result = run("solve", case_file(tmp_path, base_case()), "--out", tmp_path / "out", "--log-json")
    assert result.exit_code == EXIT_OK
    events = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert {e["event"] for e in events} >= {"solve.summary", "solve.wrote"}
    assert (tmp_path / "out" / "orders.csv").exists()


def test_solve_quiet_prints_nothing_on_success(tmp_path):
    out = tmp_path / "new" / "nested" / "out"
    result = run("solve", case_file(tmp_path, base_case()), "--out", out, "--quiet")
    assert result.exit_code == EXIT_OK
    assert result.stdout.strip() == ""
    assert (out / "result.json").exists()


def test_solve_markup_in_an_asset_name_is_printed_literally(tmp_path):
    data = base_case()
    data["assets"]["[bold]X[/bold]"] = data["assets"].pop("BND")
    for lot in data["lots"]:
        if lot["asset"] == "BND":
            lot["asset"] = "[bold]X[/bold]"
    result = run("solve", case_file(tmp_path, data), "--out", tmp_path / "out")
    assert result.exit_code == EXIT_OK
    assert "[bold]X[/bold]" in result.stdout


@pytest.mark.parametrize("args", [["solve"], ["solve", "a.yaml", "--bogus"], ["solve", "a.yaml", "--dust", "tiny"],
                                  ["nosuchcommand"], ["batch", "book"]],
                         ids=["missing-argument", "unknown-option", "bad-option-type", "unknown-command",
                              "missing-required-option"])
def test_usage_errors_exit_2(args):
    assert run(*args).exit_code == EXIT_INPUT


# -- write-case (``python -m problems``: the package never imports the catalog) ----------------


def run_catalog(*args: str):
    """Invoke ``python -m problems ARGS`` in process."""
    from problems.__main__ import app as catalog

    with time_limit(CALL_LIMIT_S):
        result = CliRunner().invoke(catalog, [str(a) for a in args], catch_exceptions=True)
    text = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "Traceback" not in text, text
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {type(result.exception).__name__}: {result.exception}")
    return result


@pytest.mark.parametrize("name, target, shown", [
    ("synthetic-2O", "x.yaml", "did you mean 'synthetic-20'"), ("nope", "x.yaml", "python -m problems cases"),
    ("synthetic-20", "x.txt", ".json, .yaml or .yml"), ("synthetic-20", "DIR", "is a folder")],
    ids=["typo-name", "unknown-name", "bad-suffix", "path-is-folder"])
def test_write_case_refuses(name, target, shown, tmp_path):
    path = tmp_path if target == "DIR" else tmp_path / target
    result = run_catalog("write-case", name, path)
    assert result.exit_code == EXIT_INPUT and shown in result.stderr, result.stderr


def test_write_case_round_trips_through_the_strict_reader(tmp_path):
    from optimizer.case_file import read_case

    for suffix in ("yaml", "json"):
        path = tmp_path / f"synthetic.{suffix}"
        assert run_catalog("write-case", "synthetic-20", path).exit_code == EXIT_OK
        assert len(read_case(path).market.assets) == 20


# -- batch (all refused by the preflight, before a cluster starts) -----------------------------


@pytest.mark.parametrize("date", ["2024-13-01", "yesterday", "20240628x", ""], ids=["month-13", "word", "junk",
                                                                                     "empty"])
def test_batch_bad_date(date, book, tmp_path):
    result = run("batch", book, "--date", date, "--out", tmp_path / "out")
    assert result.exit_code == EXIT_INPUT and "--date" in result.stderr
    assert not (tmp_path / "out").exists()  # an input error writes nothing, not even the folder


@pytest.mark.parametrize("extra, shown", [(["--workers", "0"], "--workers"), (["--timeout", "0"], "--timeout"),
                                          (["--timeout", "-1"], "--timeout")],
                         ids=["no-workers", "zero-timeout", "negative-timeout"])
def test_batch_bad_numbers(extra, shown, book, tmp_path):
    result = run("batch", book, "--date", DATE, "--out", tmp_path / "out", *extra)
    assert result.exit_code == EXIT_INPUT and shown in result.stderr


def test_batch_missing_book_and_date_not_in_book(book, tmp_path):
    result = run("batch", tmp_path / "nope", "--date", DATE, "--out", tmp_path / "out")
    assert result.exit_code == EXIT_INPUT and "book" in result.stderr
    result = run("batch", book, "--date", "2024-06-27", "--out", tmp_path / "out", "--log-json")
    assert result.exit_code == EXIT_INPUT
    event = json.loads(result.stdout.strip().splitlines()[-1])
    assert event["field"] == "book.market.date"


def test_batch_out_is_a_file(book, tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("x")
    result = run("batch", book, "--date", DATE, "--out", taken)
    assert result.exit_code == EXIT_INPUT and "--out" in result.stderr


@pytest.mark.parametrize("damage, shown", [
    (lambda f: (f / "market.parquet").write_bytes(b"garbage"), "market.parquet"),
    (lambda f: __import__("pandas").read_parquet(f / "accounts.parquet").assign(risk_aversoin=1.0).to_parquet(
        f / "accounts.parquet"), "did you mean 'risk_aversion'"),
    (lambda f: __import__("pandas").read_parquet(f / "restrictions.parquet").assign(no_sell="false").to_parquet(
        f / "restrictions.parquet"), "book.restrictions.no_sell")],
    ids=["corrupt-parquet", "unknown-column", "flag-text"])
def test_batch_damaged_book(damage, shown, book, tmp_path):
    result = run("batch", damaged_book(book, tmp_path, damage), "--date", DATE, "--out", tmp_path / "out")
    assert result.exit_code == EXIT_INPUT and shown in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


def test_help_documents_the_exit_codes():
    for args in (["--help"], ["solve", "--help"], ["batch", "--help"]):
        result = run(*args)
        assert result.exit_code == EXIT_OK
        assert "Exit codes" in result.output and "3" in result.output


# -- main() and a few real processes -----------------------------------------------------------


def test_main_returns_the_exit_code(tmp_path, capsys):
    with time_limit(CALL_LIMIT_S):
        assert main(["solve", str(tmp_path)]) == EXIT_INPUT
        assert main(["solve"]) == EXIT_INPUT
        assert main(["solve", str(tmp_path / "missing.yaml")]) == EXIT_INPUT


@pytest.mark.parametrize("args, code", [
    (["solve", "{tmp}"], EXIT_INPUT), (["solve", "{tmp}/x.yaml"], EXIT_INPUT),
    (["batch", "{tmp}/nope", "--date", DATE, "--out", "{tmp}/out"], EXIT_INPUT)],
    ids=["solve-folder", "solve-missing-file", "batch-missing-book"])
def test_a_real_process_prints_no_traceback(args, code, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "optimizer.cli", *[a.format(tmp=tmp_path) for a in args]],
                          capture_output=True, text=True, timeout=CALL_LIMIT_S, env=env, cwd=tmp_path)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stderr.count("\n") <= 2, proc.stderr  # one line, not a wrapped or stacked message


def test_an_infeasible_case_exits_2_naming_the_conflict(tmp_path):
    """Hard bands with nothing tradeable: equity sits at 63% against a 62% ceiling."""
    data = base_case()
    data["settings"]["bands"] = "hard"
    data["restrictions"] = {"VTI": {"no_trade": True}, "BND": {"no_trade": True}}
    result = run("solve", case_file(tmp_path, data), "--out", tmp_path / "out")
    assert result.exit_code == EXIT_INPUT
    assert "infeasible" in result.stderr and "EQUITY" in result.stderr, result.stderr


def test_solve_out_on_a_read_only_filesystem(tmp_path, monkeypatch):
    """As root chmod cannot make a folder unwritable, so the filesystem's answers are stood in for:
    EROFS when a probe file is created in an existing folder, access() refusal for a new one."""
    import errno
    import tempfile as tempfile_module

    import optimizer.cli as cli

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    existing = tmp_path / "existing"
    existing.mkdir()
    monkeypatch.setattr(tempfile_module, "TemporaryFile", read_only)
    result = run("solve", case_file(tmp_path, base_case()), "--out", existing)
    assert result.exit_code == EXIT_INPUT and "Read-only file system" in result.stderr
    monkeypatch.setattr(cli, "_may_create_in", lambda folder: False)
    result = run("solve", case_file(tmp_path, base_case()), "--out", tmp_path / "new")
    assert result.exit_code == EXIT_INPUT and "not writable" in result.stderr
    assert not (tmp_path / "new").exists() and list(existing.iterdir()) == []
