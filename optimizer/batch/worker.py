"""What runs on a Dask worker: solve a chunk of accounts and write its results as one part.

Each worker process keeps, at module level, one :class:`~optimizer.Rebalancer` (a built
program per problem shape, reused by every account of that shape) and one
:class:`~optimizer.batch.accounts.CaseBuilder` per run context. An account's failure is
caught and recorded, never raised: the chunk always finishes with a row per account.

A part is a directory ``<day>/_parts/<run_id>-<chunk>/`` holding ``trades``,
``lot_sales``, ``overlay`` and ``diagnostics`` Parquet files. It is written under a
temporary name and renamed into place in one ``os.replace``, so a part is either whole or
absent.
"""

from __future__ import annotations

import os
import pickle
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from optimizer.errors import InfeasibleError, InputError, SolverError
from optimizer.rebalancer import Rebalancer

from optimizer.batch.accounts import CaseBuilder

TRADE_COLUMNS = ("account_id", "asset", "asset_class", "price", "shares", "trade_usd", "buy_usd", "sell_usd",
                 "short_usd", "weight_before", "weight_after")
LOT_SALE_COLUMNS = ("account_id", "lot_id", "asset", "shares", "proceeds_usd", "basis_usd", "gain_usd", "term")
OVERLAY_COLUMNS = ("account_id", "instrument", "contracts_before", "contracts_trade", "contracts_after",
                   "notional_after_usd")
COST_PARTS = ("spread", "commission", "overlay", "impact", "overlay_carry", "tax", "total")
DIAGNOSTIC_COLUMNS = (
    "account_id", "model_id", "status", "error_type", "reason", "solver", "accurate", "objective_bps",
    *(f"cost_{p}_usd" for p in COST_PARTS), "tracking_error_before", "tracking_error_after", "nav_usd",
    "n_trades", "n_lot_sales", "wash_sale_fixes", "seconds", "run_id", "worker_pid",
)
OUTPUT_TABLES = ("trades", "lot_sales", "overlay", "diagnostics")

_REBALANCER = Rebalancer(max_programs=64)
_BUILDERS: dict[str, CaseBuilder] = {}


@dataclass(frozen=True)
class Chunk:
    """A slice of the book: some accounts with their lots and restrictions rows."""

    number: int
    accounts: pd.DataFrame
    lots: pd.DataFrame
    restrictions: pd.DataFrame

    @property
    def account_ids(self) -> list[str]:
        return list(self.accounts["account_id"])


def _builder(token: str, blob: bytes) -> CaseBuilder:
    if token not in _BUILDERS:
        _BUILDERS.clear()
        _BUILDERS[token] = CaseBuilder(pickle.loads(blob))
    return _BUILDERS[token]


def program_builds() -> int:
    """How many problems this worker process has built (for tests and benchmarks)."""
    return _REBALANCER.builds


def solve_chunk(token: str, blob: bytes, chunk: Chunk, parts_dir: str, run_id: str, timeout_s: float,
                fault: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Solve every account of ``chunk``, write the part, return its diagnostics.

    ``timeout_s`` is checked per account after its solve (an account that took longer is
    recorded as ``timeout`` and its trades dropped); the runner enforces the hard limit
    per chunk. ``fault`` is a test/drill hook called with each account id before its solve.
    """
    builder = _builder(token, blob)
    lots = {a: g for a, g in chunk.lots.groupby("account_id", sort=False)}
    restrictions = {a: g for a, g in chunk.restrictions.groupby("account_id", sort=False)}
    empty_lots = chunk.lots.iloc[:0]
    empty_restrictions = chunk.restrictions.iloc[:0]
    trades, lot_sales, overlays, diagnostics = [], [], [], []
    for account in chunk.accounts.to_dict("records"):
        account_id = str(account["account_id"])
        row = {c: None for c in DIAGNOSTIC_COLUMNS}
        row.update(account_id=account_id, model_id=str(account["model_id"]), run_id=run_id, worker_pid=os.getpid())
        started = time.perf_counter()
        try:
            if fault is not None:
                fault(account_id)
            case, universe = builder.case(account, lots.get(account_id, empty_lots),
                                          restrictions.get(account_id, empty_restrictions))
            result = _REBALANCER.rebalance(case.portfolio, case.targets, case.market, case.settings,
                                           **case.options(), universe=universe,
                                           lot_slots=builder.context.lot_slots)
        except InputError as exc:
            row.update(status="failed", error_type="InputError", reason=str(exc))
        except InfeasibleError as exc:
            row.update(status="failed", error_type="InfeasibleError", reason=str(exc))
        except SolverError as exc:
            row.update(status="failed", error_type="SolverError", reason=str(exc))
        except Exception as exc:  # noqa: BLE001 - one account's unexpected bug must not stop the batch
            row.update(status="failed", error_type=type(exc).__name__, reason=f"unexpected error: {exc!r}")
        else:
            seconds = time.perf_counter() - started
            if seconds > timeout_s:
                row.update(status="failed", error_type="Timeout",
                           reason=f"timeout: the account took {seconds:.3f} s, over the {timeout_s:g} s limit")
            else:
                traded = result.to_frame().reset_index()
                traded.insert(0, "account_id", account_id)
                trades.append(traded)
                sales = result.lot_sales.reset_index()
                sales.insert(0, "account_id", account_id)
                lot_sales.append(sales)
                overlay = result.overlay.reset_index()
                overlay.insert(0, "account_id", account_id)
                overlays.append(overlay)
                row.update(status="ok", error_type="", reason="", solver=result.solver, accurate=result.accurate,
                           objective_bps=result.objective_bps, tracking_error_before=result.tracking_error_before,
                           tracking_error_after=result.tracking_error_after, nav_usd=result.nav_usd,
                           n_trades=len(traded), n_lot_sales=len(sales), wash_sale_fixes=len(result.wash_sale_fixes),
                           **{f"cost_{p}_usd": float(result.costs_usd.get(p, 0.0)) for p in COST_PARTS})
        row["seconds"] = time.perf_counter() - started
        diagnostics.append(row)
    frames = {
        "trades": _frame(trades, TRADE_COLUMNS),
        "lot_sales": _frame(lot_sales, LOT_SALE_COLUMNS),
        "overlay": _frame(overlays, OVERLAY_COLUMNS),
        "diagnostics": diagnostics_frame(diagnostics),
    }
    write_part(Path(parts_dir), f"{run_id}-{chunk.number:06d}", frames)
    return frames["diagnostics"]


def diagnostics_frame(rows: list[dict]) -> pd.DataFrame:
    """Diagnostics rows with fixed columns and dtypes (so parts concatenate cleanly)."""
    frame = pd.DataFrame(rows, columns=list(DIAGNOSTIC_COLUMNS))
    for column in ("account_id", "model_id", "status", "error_type", "reason", "solver", "run_id"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), "").astype(str)
    for column in frame.columns:
        if column not in ("account_id", "model_id", "status", "error_type", "reason", "solver", "run_id", "accurate"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frame["accurate"] = frame["accurate"].astype("boolean")
    return frame


def _frame(frames: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("account_id", "asset", "asset_class", "lot_id", "term",
                                                                "instrument") else float) for c in columns})
    return pd.concat(frames, ignore_index=True).loc[:, list(columns)]


def write_part(parts_dir: Path, name: str, frames: dict[str, pd.DataFrame]) -> Path:
    """Write ``frames`` as ``parts_dir/name/<table>.parquet`` atomically (temp dir, then rename)."""
    parts_dir.mkdir(parents=True, exist_ok=True)
    tmp = parts_dir / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    for table, frame in frames.items():
        frame.to_parquet(tmp / f"{table}.parquet", index=False)
    final = parts_dir / name
    if final.exists():  # a retried chunk whose first try got as far as the rename
        trash = parts_dir / f".trash-{uuid.uuid4().hex}"
        os.replace(final, trash)
        os.replace(tmp, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, final)
    return final
