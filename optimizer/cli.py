"""The ``rebalance`` command: solve one case, run the demo comparison, or the nightly batch.

Exit codes (also in ``rebalance --help`` and the README): 0 success; 1 the batch ran but
some accounts failed; 2 usage or input error (nothing was solved or written); 3 the run
as a whole failed (no solver succeeded, output could not be written, the cluster failed,
or a bug). No user error ends in a traceback: each is one line naming the field, asset
and lot (with ``--log-json``, one JSON object with those as fields).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich import box
from rich.table import Table

from optimizer import console
from optimizer.errors import InfeasibleError, InputError, RebalanceError

#: Exit codes of every command.
EXIT_OK, EXIT_PARTIAL, EXIT_INPUT, EXIT_RUN = 0, 1, 2, 3

EXIT_CODES_HELP = ("Exit codes: 0 success; 1 batch ran but some accounts failed; 2 usage or input error, "
                   "or an infeasible case (nothing written); 3 the whole run failed (solver, output, cluster, "
                   "or a bug).")

app = typer.Typer(add_completion=False, help=f"Portfolio rebalancing as one convex program.\n\n{EXIT_CODES_HELP}",
                  no_args_is_help=True, pretty_exceptions_enable=False)

QUIET = typer.Option(False, "--quiet", "-q", help="Print only warnings and errors.")
LOG_JSON = typer.Option(False, "--log-json", help="Write one JSON object per event (stdout), no tables or bars.")


@contextmanager
def _reported(command: str):
    """Run a command body, turning every error into one line (or JSON event) and an exit code.

    InputError / InfeasibleError: 2. Other engine errors, unwritable output, anything
    unexpected: 3. ``REBALANCE_DEBUG=1`` adds the traceback of an unexpected error.
    """
    try:
        yield
    except typer.Exit:
        raise
    except (InputError, InfeasibleError) as exc:
        console.error(f"{command}.input_error", str(exc), **console.error_fields(exc))
        raise typer.Exit(code=EXIT_INPUT) from None
    except RebalanceError as exc:
        console.error(f"{command}.failed", str(exc), **console.error_fields(exc))
        raise typer.Exit(code=EXIT_RUN) from None
    except OSError as exc:
        where = f" {exc.filename!r}" if getattr(exc, "filename", None) else ""
        console.error(f"{command}.io_error", f"cannot write or read{where}: {exc.strerror or exc}",
                      error_type=type(exc).__name__)
        raise typer.Exit(code=EXIT_RUN) from None
    except KeyboardInterrupt:
        console.error(f"{command}.interrupted", "interrupted")
        raise typer.Exit(code=EXIT_RUN) from None
    except Exception as exc:  # a bug: say so, exit 3, keep the traceback for who asks
        fields = console.error_fields(exc)
        if console.is_json() or os.environ.get("REBALANCE_DEBUG"):
            fields["traceback"] = traceback.format_exc()
        console.error(f"{command}.internal_error", f"internal error (please report): {type(exc).__name__}: {exc}"
                      + ("" if os.environ.get("REBALANCE_DEBUG") or console.is_json()
                         else " (REBALANCE_DEBUG=1 shows the traceback)"), **fields)
        if os.environ.get("REBALANCE_DEBUG") and not console.is_json():
            sys.stderr.write(fields["traceback"])
        raise typer.Exit(code=EXIT_RUN) from None


def check_output_folder(out: Path, option: str = "--out") -> Path:
    """Check that ``out`` is, or can become, a writable folder, creating nothing. Raises InputError.

    An existing folder gets a probe file written and removed; a new one needs its nearest
    existing parent to be a folder this process may write to (``access(2)`` also reports
    a read-only filesystem).
    """
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise InputError(option, f"{str(out)!r} is an existing file; give a folder")
        try:
            with tempfile.TemporaryFile(dir=out, prefix=".write-probe-"):
                pass
        except OSError as exc:
            raise InputError(option, f"cannot write to {str(out)!r}: {exc.strerror or exc}") from None
        return out
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(option, f"{str(parent)!r} is a file, so {str(out)!r} cannot be a folder")
    if not _may_create_in(parent):
        raise InputError(option, f"cannot create {str(out)!r}: {str(parent)!r} is not writable")
    return out


def _may_create_in(folder: Path) -> bool:
    """Whether this process may create entries in ``folder`` (``access(2)``: permissions and read-only mounts)."""
    return os.access(folder, os.W_OK | os.X_OK)


def check_output_file(path: Path, option: str = "PATH") -> Path:
    """Make sure the file ``path`` can be written (its folder exists or can be made, it is no folder)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(option, f"{str(path)!r} is a folder; give a file name")
    check_output_folder(path.parent if str(path.parent) else Path("."), option)
    return path


def parse_run_date(text: str, option: str = "--date") -> str:
    """``text`` as an ISO date ``YYYY-MM-DD`` (refusing anything else), returned normalised."""
    try:
        return dt.date.fromisoformat(text.strip()).isoformat()
    except (ValueError, AttributeError):
        raise InputError(option, f"{text!r} is not a date; use YYYY-MM-DD") from None


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically and durably, readable by others (see :mod:`optimizer.files`)."""
    from optimizer.files import write_text

    write_text(path, text)


@app.command(epilog=EXIT_CODES_HELP)
def solve(
    case: Path = typer.Argument(..., help="Case file (.json, .yaml or .yml); see the README for the format."),
    out: Path = typer.Option(Path("rebalance-out"), "--out", help="Folder for result.json and trades.csv."),
    whole_units: bool = typer.Option(False, "--whole-units", help="Round to whole shares and contracts."),
    min_notional: float = typer.Option(1.0, "--min-notional", help="Smallest order written to orders.csv, "
                                       "account currency."),
    dust: float = typer.Option(1e-6, "--dust", help="Smallest order written to orders.csv as a fraction of NAV."),
    quiet: bool = QUIET,
    log_json: bool = LOG_JSON,
) -> None:
    """Solve one rebalance case: print the trade list and write the result."""
    from optimizer.case_file import HouseholdFile, read_case_file
    from optimizer.rebalancer import solve_case
    from optimizer.trade_file import OrderRules, orders_csv, orders_frame

    console.configure(quiet=quiet, log_json=log_json)
    with _reported("solve"):
        rules = OrderRules(min_notional_usd=min_notional, dust_fraction=dust)
        loaded = read_case_file(case)
        check_output_folder(out)  # before solving: a bad --out must not cost a solve
        if isinstance(loaded, HouseholdFile):
            _solve_household(loaded, out, whole_units, rules)
            return
        result = solve_case(loaded, whole_units=whole_units)
        table = Table(title=f"Trades for {console.escape(case.name)}")
        for column in ("asset", "class", "shares", "trade_usd", "weight before", "weight after"):
            table.add_column(column, justify="right" if column != "asset" else "left")
        for asset, row in result.to_frame().iterrows():
            table.add_row(console.escape(asset), console.escape(row.asset_class), f"{row.shares:,.2f}",
                          f"{row.trade_usd:,.0f}", f"{row.weight_before:.2%}", f"{row.weight_after:.2%}")
        console.renderable(table)
        console.info("solve.summary", result.summary(), case=str(case), nav_usd=result.nav_usd)
        out.mkdir(parents=True, exist_ok=True)
        _write_atomic(out / "result.json", json.dumps(result.to_dict(), indent=2))
        _write_atomic(out / "trades.csv", result.to_frame().to_csv())
        _write_atomic(out / "lot_sales.csv", result.lot_sales.to_csv())
        settings = loaded.settings
        orders = orders_frame(result, loaded.name, rules=rules,
                              cash_floor_usd=max(settings.min_cash_usd, settings.min_cash_weight * result.nav_usd))
        _write_atomic(out / "orders.csv", orders_csv(orders))
        console.info("solve.wrote", f"wrote {out / 'result.json'}, {out / 'trades.csv'}, {out / 'lot_sales.csv'} and "
                     f"{out / 'orders.csv'} (executable orders)", out=str(out), orders=len(orders))


def _solve_household(loaded, out: Path, whole_units: bool, rules) -> None:
    """``rebalance solve`` of a household case file: one program for every account; per-account
    ``trades.csv`` and ``lot_sales.csv`` (column ``account``), ``accounts.csv``, ``orders.csv`` (each
    account's own orders and cash) and ``result.json`` (the household program's result)."""
    import pandas as pd

    from optimizer.household import Account, Household, prepare_household, split_result
    from optimizer.rebalancer import Rebalancer
    from optimizer.trade_file import member_results, orders_csv, orders_frame

    accounts = tuple(Account(m.name, m.case.portfolio, kind=m.kind, cash_flow_usd=m.cash_flow_usd,
                             min_cash_usd=m.min_cash_usd, restrictions=m.case.restrictions) for m in loaded.members)
    shared = loaded.shared
    household = Household(accounts, tax=shared.tax, **loaded.options)
    data, parts = prepare_household(household, shared.targets, shared.market, shared.settings)
    result = split_result(household, data, parts, Rebalancer().solve(data, whole_units=whole_units))
    traded = result.trades[result.trades["gross_usd"] >= 0.01]
    table = Table(title=f"Household trades for {console.escape(loaded.name)}")
    for column in ("account", "asset", "shares", "trade_usd"):
        table.add_column(column, justify="left" if column in ("account", "asset") else "right")
    for (account, asset), row in traded.iterrows():
        table.add_row(console.escape(account), console.escape(asset), f"{row.shares:,.2f}", f"{row.trade_usd:,.0f}")
    console.renderable(table)
    console.info("solve.summary", result.summary(), case=loaded.name, nav_usd=result.household.nav_usd)
    members = member_results(household, data, result)
    weight = shared.settings.min_cash_weight
    orders = pd.concat([orders_frame(members[m.name], m.name, rules=rules,
                                     cash_floor_usd=max(m.min_cash_usd, weight * members[m.name].nav_usd))
                        for m in loaded.members], ignore_index=True)
    out.mkdir(parents=True, exist_ok=True)
    _write_atomic(out / "result.json", json.dumps(result.household.to_dict(), indent=2))
    _write_atomic(out / "trades.csv", traded.to_csv())
    _write_atomic(out / "lot_sales.csv", result.lot_sales.to_csv(index=False))
    _write_atomic(out / "accounts.csv", result.accounts.to_csv())
    _write_atomic(out / "orders.csv", orders_csv(orders))
    console.info("solve.wrote", f"wrote {out / 'result.json'}, trades.csv, lot_sales.csv, accounts.csv and "
                 f"orders.csv under {out}", out=str(out), orders=len(orders))


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", help="Folder for the HTML report and tables."),
    quick: bool = typer.Option(False, "--quick", help="A shorter run (for smoke tests)."),
) -> None:
    """Compare the optimizer with practitioners' heuristics on real data; write an HTML report."""
    from optimizer.demo import run_demo

    with _reported("demo"):
        check_output_folder(out)
        run_demo(out, quick=quick)  # prints the table, progress and where the report is


@app.command(epilog=EXIT_CODES_HELP)
def batch(
    book: Path = typer.Argument(..., help="Book: a folder of Parquet tables or a .duckdb file."),
    date: str = typer.Option(..., "--date", help="Run date, YYYY-MM-DD."),
    out: Path = typer.Option(..., "--out", help="Output root; results go to OUT/date=YYYY-MM-DD/."),
    scheduler: Optional[str] = typer.Option(
        None, "--scheduler", help="Address of an existing Dask scheduler. Its workers must see OUT on a shared "
        "filesystem at the same absolute path (each worker is checked before it gets work)."),
    resume: bool = typer.Option(False, "--resume", help="Skip accounts already done for this date; refused "
                                "(exit 2) if the book changed since, unless --rerun-changed."),
    rerun_changed: bool = typer.Option(False, "--rerun-changed", help="With --resume after the book changed: keep "
                                       "only results whose account rows and market are unchanged, solve the rest."),
    fractional: bool = typer.Option(False, "--fractional", help="Trade fractional shares (default: whole shares)."),
    min_notional: float = typer.Option(1.0, "--min-notional", help="Smallest order kept, account currency."),
    dust: float = typer.Option(1e-6, "--dust", help="Smallest order kept, as a fraction of the account's NAV."),
    workers: int = typer.Option(2, "--workers", help="Workers of the local cluster."),
    timeout: float = typer.Option(60.0, "--timeout", help="Per-account time limit, seconds."),
    quiet: bool = QUIET,
    log_json: bool = LOG_JSON,
) -> None:
    """Rebalance every account of a book on Dask; exits 1 if any account failed (see the exit codes below)."""
    from optimizer.batch import run_batch
    from optimizer.book_schema import preflight

    console.configure(quiet=quiet, log_json=log_json)
    with _reported("batch"):
        date = parse_run_date(date)
        if workers < 1:
            raise InputError("--workers", f"is {workers}; at least 1")
        if not timeout > 0:
            raise InputError("--timeout", f"is {timeout}; a positive number of seconds")
        check_output_folder(out)
        preflight(book, date)  # the whole book's schema and the date, before any cluster starts
        try:
            from optimizer.trade_file import OrderRules

            rules = OrderRules(min_notional_usd=min_notional, dust_fraction=dust, whole_shares=not fractional)
            summary = run_batch(book, date, out, scheduler=scheduler, resume=resume, workers=workers,
                                timeout_s=timeout, progress=console.progress_enabled(), rerun_changed=rerun_changed,
                                whole_shares=not fractional, orders=rules)
        except InputError:
            raise
        except RebalanceError as exc:  # a whole-run failure reported by the batch
            console.error("batch.failed", str(exc), **console.error_fields(exc))
            raise typer.Exit(code=EXIT_RUN) from None
        console.info("batch.summary", summary.text(), date=summary.date, out=str(summary.out_dir),
                     total=summary.total, done=summary.done, failed=summary.failed, skipped=summary.skipped,
                     seconds=summary.seconds, failures=[list(f) for f in summary.failures])
        if summary.failed > 0:
            raise typer.Exit(code=EXIT_PARTIAL)


@app.command(epilog=EXIT_CODES_HELP)
def bands(
    source: Path = typer.Argument(..., help="A case file (.yaml, .yml, .json) or a price history (.csv: a date "
                                  "column, then one column of total-return prices per asset)."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="With a price history: CSV of asset,weight "
                                           "(NAV fractions; the rest is cash)."),
    risk_aversion: Optional[float] = typer.Option(None, "--risk-aversion", help="gamma of 0.5*gamma*TE^2 "
                                                  "(default: the case's settings, or 10)."),
    fixed_width: float = typer.Option(0.05, "--fixed-width", help="Half-width of the fixed bands shown alongside."),
    trade_to: str = typer.Option("edge", "--trade-to", help="The band policy's rule: edge (trade back to the "
                                 "nearest edge) or target (trade all the way back; wider bands)."),
    half_spread: float = typer.Option(0.0002, "--half-spread", help="Price history: half-spread, fraction."),
    commission: float = typer.Option(0.0001, "--commission", help="Price history: commission, fraction."),
    sell_extra: float = typer.Option(0.0, "--sell-extra", help="Price history: extra cost per dollar sold "
                                     "(e.g. tax a sale realises), fraction."),
    adv_usd: float = typer.Option(5e8, "--adv-usd", help="Price history: average daily traded value per asset."),
    nav_usd: float = typer.Option(1e6, "--nav-usd", help="Price history: account size (scales impact)."),
    impact_eta: float = typer.Option(1.0, "--impact-eta", help="Price history: impact coefficient."),
    write: Optional[Path] = typer.Option(None, "--write", help="Write the bands as a case file's targets: block "
                                         "(YAML)."),
    quiet: bool = QUIET,
    log_json: bool = LOG_JSON,
) -> None:
    """Suggest per-asset tolerance bands (cube-root no-trade law) with their expected tracking error and cost."""
    from optimizer.calibration import calibrate_bands

    console.configure(quiet=quiet, log_json=log_json)
    with _reported("bands"):
        if write is not None:
            check_output_file(write, "--write")
        if source.suffix.lower() == ".csv":
            prices, target = _read_price_history(source, weights)
            result = calibrate_bands(prices, target, risk_aversion=risk_aversion, fixed_width=fixed_width,
                                     trade_to=trade_to, half_spread=half_spread, commission=commission, sell_extra=sell_extra,
                                     adv_usd=adv_usd, nav_usd=nav_usd, impact_eta=impact_eta)
        else:
            from optimizer.case_file import read_case

            if weights is not None:
                raise InputError("--weights", "is for price histories; a case file has its own targets")
            result = calibrate_bands(read_case(source), risk_aversion=risk_aversion, fixed_width=fixed_width,
                                     trade_to=trade_to)
        table = Table(title=f"Calibrated bands for {console.escape(source.name)} "
                            f"(risk aversion {result.risk_aversion:g}; weights and vols in %, costs in bp)", box=box.SIMPLE_HEAD,
                      pad_edge=False)
        for column in ("asset", "target", "lower", "upper", "half", "vol", "TE vol", "buy", "sell", "impact"):
            table.add_column(column, justify="left" if column == "asset" else "right", overflow="fold")
        for asset, row in result.table.iterrows():
            half = "kept" if not row.calibrated else f"{row.half_width * 100:.2f}"
            table.add_row(console.escape(asset), f"{row.target_weight * 100:.2f}", f"{row.band_lower * 100:.2f}",
                          f"{row.band_upper * 100:.2f}", half, f"{row.volatility * 100:.1f}",
                          f"{row.tracking_vol * 100:.1f}",
                          f"{row.buy_cost * 1e4:.1f}", f"{row.sell_cost * 1e4:.1f}", f"{row.impact_cost * 1e4:.2f}")
        console.renderable(table)
        expected = Table(title="Expected per year (closed form; see optimizer.calibration)", box=box.SIMPLE_HEAD)
        for column in ("bands", "tracking error", "cost bp/yr", "turnover"):
            expected.add_column(column, justify="left" if column == "bands" else "right")
        for label, row in result.expected.iterrows():
            expected.add_row(console.escape(label), f"{row.tracking_error:.2%}", f"{row.cost_bps_per_year:.2f}",
                             f"{row.turnover:.1%}")
        console.renderable(expected)
        cal, fix = result.expected.iloc[0], result.expected.iloc[1]
        console.info("bands.summary", repr(result), source=str(source), risk_aversion=result.risk_aversion,
                     calibrated_te=cal.tracking_error, calibrated_cost_bps=cal.cost_bps_per_year,
                     fixed_te=fix.tracking_error, fixed_cost_bps=fix.cost_bps_per_year)
        if write is not None:
            import yaml

            write.parent.mkdir(parents=True, exist_ok=True)
            _write_atomic(write, yaml.safe_dump({"targets": result.to_case_targets()}, sort_keys=False))
            console.info("bands.wrote", f"wrote {write} (a case file's targets: block)", out=str(write))


def _read_price_history(path: Path, weights: Optional[Path]):
    """``(prices, target_weight)`` from a price CSV and a weights CSV (asset,weight). Raises InputError."""
    import pandas as pd

    if weights is None:
        raise InputError("--weights", "is required with a price history (CSV of asset,weight)")
    try:
        raw = pd.read_csv(path, index_col=0)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError("prices", f"cannot read {str(path)!r} as CSV: {exc}") from None
    try:
        raw.index = pd.DatetimeIndex(pd.to_datetime(raw.index, format="ISO8601"), name="date")
    except (ValueError, TypeError):
        raise InputError("prices", f"first column of {str(path)!r} must hold dates (YYYY-MM-DD)") from None
    try:
        table = pd.read_csv(weights)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError("--weights", f"cannot read {str(weights)!r} as CSV: {exc}") from None
    if list(table.columns[:2]) != ["asset", "weight"]:
        raise InputError("--weights", f"needs columns asset,weight; found {list(table.columns)}")
    target = pd.Series(pd.to_numeric(table["weight"], errors="coerce").to_numpy(),
                       index=table["asset"].astype(str).to_numpy())
    if target.isna().any():
        raise InputError("target_weight", "is not a number", asset=str(target.index[target.isna()][0]))
    return raw.sort_index(), target


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``) and return its exit code."""
    try:
        code = app(args=argv, prog_name="rebalance", standalone_mode=False)
        return code if isinstance(code, int) else EXIT_OK
    except typer.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_INPUT
    except Exception as exc:  # click usage errors (bad option, missing argument); typer may vendor click
        if any(kind.__name__ == "ClickException" for kind in type(exc).__mro__):
            exc.show()
            return EXIT_INPUT
        raise


if __name__ == "__main__":  # pragma: no cover
    app()
