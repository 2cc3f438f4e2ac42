"""The ``rebalance`` command: solve one case, run the demo comparison, or the nightly batch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from optimizer.errors import RebalanceError

app = typer.Typer(add_completion=False, help="Portfolio rebalancing as one convex program.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically and durably, readable by others (see :mod:`optimizer.files`)."""
    from optimizer.files import write_text

    write_text(path, text)


@app.command()
def solve(
    case: Path = typer.Argument(..., help="Case file (.json, .yaml or .yml); see the README for the format."),
    out: Path = typer.Option(Path("rebalance-out"), "--out", help="Folder for result.json and trades.csv."),
    whole_units: bool = typer.Option(False, "--whole-units", help="Round to whole shares and contracts."),
    min_notional: float = typer.Option(1.0, "--min-notional", help="Smallest order written to orders.csv, "
                                       "account currency."),
    dust: float = typer.Option(1e-6, "--dust", help="Smallest order written to orders.csv as a fraction of NAV."),
) -> None:
    """Solve one rebalance case: print the trade list and write the result."""
    from optimizer.case_file import read_case
    from optimizer.trade_file import OrderRules, orders_csv, orders_frame

    try:
        rules = OrderRules(min_notional_usd=min_notional, dust_fraction=dust)
        loaded = read_case(case)
        result = loaded.solve(whole_units=whole_units)
    except RebalanceError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2)
    table = Table(title=f"Trades for {case.name}")
    for column in ("asset", "class", "shares", "trade_usd", "weight before", "weight after"):
        table.add_column(column, justify="right" if column != "asset" else "left")
    for asset, row in result.to_frame().iterrows():
        table.add_row(asset, row.asset_class, f"{row.shares:,.2f}", f"{row.trade_usd:,.0f}",
                      f"{row.weight_before:.2%}", f"{row.weight_after:.2%}")
    console.print(table)
    console.print(result.summary())
    out.mkdir(parents=True, exist_ok=True)
    _write_atomic(out / "result.json", json.dumps(result.to_dict(), indent=2))
    _write_atomic(out / "trades.csv", result.to_frame().to_csv())
    _write_atomic(out / "lot_sales.csv", result.lot_sales.to_csv())
    settings = loaded.settings
    orders = orders_frame(result, loaded.name, rules=rules,
                          cash_floor_usd=max(settings.min_cash_usd, settings.min_cash_weight * result.nav_usd))
    _write_atomic(out / "orders.csv", orders_csv(orders))
    console.print(f"wrote {out / 'result.json'}, {out / 'trades.csv'}, {out / 'lot_sales.csv'} and "
                  f"{out / 'orders.csv'} (executable orders)")


@app.command("write-case")
def write_case(
    name: str = typer.Argument(..., help="Catalog case name (see `rebalance cases`)."),
    path: Path = typer.Argument(..., help="Output file, .json or .yaml."),
) -> None:
    """Write a catalog case (real-data or synthetic) to a case file."""
    import yaml

    from optimizer.case_file import case_to_dict
    from problems.catalog import load_case

    data = case_to_dict(load_case(name))
    text = json.dumps(data, indent=1) if path.suffix == ".json" else yaml.safe_dump(data, sort_keys=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, text)
    console.print(f"wrote {path}")


@app.command()
def cases() -> None:
    """List the named cases of the catalog."""
    from problems.catalog import CATALOG

    for name in CATALOG:
        console.print(name)


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", help="Folder for the HTML report and tables."),
    quick: bool = typer.Option(False, "--quick", help="A shorter run (for smoke tests)."),
) -> None:
    """Compare the optimizer with practitioners' heuristics on real data; write an HTML report."""
    from optimizer.demo import run_demo

    run_demo(out, quick=quick)  # prints the table, progress and where the report is


@app.command()
def batch(
    book: Path = typer.Argument(..., help="Book: a folder of Parquet tables or a .duckdb file."),
    date: str = typer.Option(..., "--date", help="Run date, YYYY-MM-DD."),
    out: Path = typer.Option(..., "--out", help="Output root; results go to OUT/date=YYYY-MM-DD/."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Address of an existing Dask scheduler."),
    resume: bool = typer.Option(False, "--resume", help="Skip accounts already done for this date."),
    workers: int = typer.Option(2, "--workers", help="Workers of the local cluster."),
    timeout: float = typer.Option(60.0, "--timeout", help="Per-account time limit, seconds."),
) -> None:
    """Rebalance every account of a book on Dask; exits non-zero if any account failed."""
    from optimizer.batch import run_batch

    summary = run_batch(book, date, out, scheduler=scheduler, resume=resume, workers=workers, timeout_s=timeout)
    console.print(summary.text())
    if summary.failed > 0:
        raise typer.Exit(code=1)


if __name__ == "__main__":  # pragma: no cover
    app()
