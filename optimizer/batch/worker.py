"""What runs on a Dask worker: solve a chunk of accounts and write its results as one part.

Each worker process keeps, at module level, one :class:`~optimizer.Rebalancer` (a built
program per problem shape, reused by every account of that shape) and one
:class:`~optimizer.batch.accounts.CaseBuilder` per run context. An account's failure is
caught and recorded, never raised: the chunk always finishes with a row per account.

The per-account path avoids per-account pandas and cvxpy overhead where it can, each step
checked equal to the general one by its tests: a plain account's ``ProblemData`` comes from
the chunk's numpy lot columns (:mod:`optimizer.batch.fast_prepare`), every solve of a shape
goes to PIQP through the program's kept canonical form (:mod:`optimizer.direct`, as in
every :class:`optimizer.Rebalancer`; the chain on anything unusual), and the output rows are computed from arrays and written
as one table per chunk (:mod:`optimizer.batch.bulk_output`). Anything else takes the
general path (``CaseBuilder.case``, :func:`optimizer.prepare`, ``orders_frame``).

The accounts of a household (``accounts.household_id``, :mod:`optimizer.batch.households`)
are solved together as one program (:func:`optimizer.household.prepare_household` and the
same shared rebalancer); each member still gets its own rows in every table, built from a
per-member :class:`~optimizer.RebalanceResult`, and a failure of the household is recorded
on every member with the same reason. Members share one ``input_sha`` (:func:`unit_shas`).

An account's clock (``seconds``, checked against ``timeout_s``) does not count building
and compiling a program for a new problem shape (``build_seconds`` records it): the
first account of a shape on a fresh worker does not pay for it. The task sends events on
the run's topic (``start`` when the chunk begins, ``build``/``built`` around a build) so
the runner measures the chunk's hard deadline from its real start, plus build time.

A part is a directory ``<day>/_parts/<run_id>-<chunk>/`` holding ``trades``,
``lot_sales``, ``overlay``, ``orders`` and ``diagnostics`` Parquet files, plus ``orders_csv``
(the orders' ``orders.csv`` lines, :mod:`optimizer.batch.orders_csv`). It is written
under a unique temporary name, every file and the folder are fsynced, and it is renamed
into place in one ``os.replace`` (then the parent folder is fsynced), so a part is either
whole or absent. A write that fails (read-only or full filesystem) removes its
temporary folder and raises :class:`~optimizer.batch.errors.OutputError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import shutil
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from optimizer.book_schema import check_households, household_key
from optimizer.errors import InfeasibleError, InputError, SolverError
from optimizer.household import prepare_household, split_result
from optimizer.problem_data import prepare
from optimizer.rebalancer import Rebalancer
from optimizer.trade_file import ORDER_COLUMNS, OrderRules, orders_frame
from optimizer.wash_sale import ConflictSearch, conflict_search

from optimizer.batch.accounts import ACCOUNT_TABLES, CaseBuilder
from optimizer.batch.bulk_output import ChunkTables, account_columns
from optimizer.batch.fast_prepare import OTHER_TABLES, ChunkLots, ChunkPreparer
from optimizer.batch.orders_csv import LINES_TABLE, lines_table
from optimizer.batch.households import build_household, member_results, units
from optimizer.batch.errors import OutputError

TRADE_COLUMNS = ("account_id", "asset", "asset_class", "price", "shares", "trade_usd", "buy_usd", "sell_usd",
                 "short_usd", "weight_before", "weight_after")
LOT_SALE_COLUMNS = ("account_id", "lot_id", "asset", "shares", "proceeds_usd", "basis_usd", "gain_usd", "term")
OVERLAY_COLUMNS = ("account_id", "instrument", "contracts_before", "contracts_trade", "contracts_after",
                   "notional_after_usd")
COST_PARTS = ("spread", "commission", "overlay", "impact", "overlay_carry", "tax", "total")
TEXT_DIAGNOSTICS = ("account_id", "model_id", "household_id", "status", "error_type", "reason", "solver", "run_id", "input_sha",
                    "notes")
DIAGNOSTIC_COLUMNS = (
    "account_id", "model_id", "household_id", "status", "error_type", "reason", "solver", "accurate", "objective_bps",
    *(f"cost_{p}_usd" for p in COST_PARTS), "tracking_error_before", "tracking_error_after", "nav_usd",
    "cash_after_usd", "n_trades", "n_orders", "n_lot_sales", "wash_sale_fixes", "seconds", "build_seconds",
    "run_id", "worker_pid", "input_sha", "notes",
)
OUTPUT_TABLES = ("trades", "lot_sales", "overlay", "orders", "diagnostics")

_REBALANCER = Rebalancer(max_programs=64)
#: The batch's wash-sale search: the library's, less the two-pass certificate solve
#: (:class:`~optimizer.wash_sale.ConflictSearch`; the answers it changes are measured in
#: ``benchmarks/batch_throughput.py``'s notes).
BATCH_CONFLICT_SEARCH = ConflictSearch(certificate=False)
_BUILDERS: dict[str, CaseBuilder] = {}
#: The fast prepare of plain accounts, per run context (:class:`~optimizer.batch.fast_prepare.ChunkPreparer`).
_PREPARERS: dict = {}


@dataclass(frozen=True)
class Chunk:
    """A slice of the book: some accounts with their rows of every per-account table."""

    number: int
    accounts: pd.DataFrame
    tables: dict = field(default_factory=dict)  # name in ACCOUNT_TABLES -> rows of these accounts

    @property
    def account_ids(self) -> list[str]:
        return list(self.accounts["account_id"])

    @property
    def lots(self) -> pd.DataFrame:
        return self.tables["lots"]

    @property
    def restrictions(self) -> pd.DataFrame:
        return self.tables["restrictions"]


@dataclass(frozen=True)
class WorkOptions:
    """How a worker turns results into output.

    ``whole_shares``: solve in whole shares and contracts (the batch default) or fractional;
    ``orders``: dust and rounding rules of the orders table (currency comes from the
    account's ``currency`` column, default USD); ``topic``: event topic of the run (None: no events);
    ``conflict_search``: how far the wash-sale settling searches (default
    :data:`BATCH_CONFLICT_SEARCH`; :data:`optimizer.wash_sale.LIBRARY_SEARCH` gives the
    library's answers).
    """

    whole_shares: bool = True
    orders: OrderRules = OrderRules()
    topic: str | None = None
    conflict_search: ConflictSearch = BATCH_CONFLICT_SEARCH

    def fingerprint(self) -> str:
        """What of these options decides results (not the event topic): part of each ``input_sha``."""
        return hashlib.sha256(repr((self.whole_shares, self.orders, self.conflict_search)).encode()).hexdigest()[:12]


def _builder(token: str, blob: bytes) -> CaseBuilder:
    if token not in _BUILDERS:
        _BUILDERS.clear()
        _BUILDERS[token] = CaseBuilder(pickle.loads(blob))
    return _BUILDERS[token]


def program_builds() -> int:
    """How many problems this worker process has built (for tests and benchmarks)."""
    return _REBALANCER.builds


def _event(topic: str | None, kind: str, chunk: int) -> None:
    """Tell the runner (through the scheduler's event log) that a build starts or ended."""
    if topic is None:
        return
    try:
        from distributed import get_worker

        get_worker().log_event(topic, {"kind": kind, "chunk": int(chunk), "pid": os.getpid()})
    except (ImportError, ValueError):
        pass  # not on a Dask worker (a test calling the task directly)


def _warm(program, data) -> None:
    """Compile a new program for the first solver of its chain (cvxpy canonicalises on the first
    solve), so the first account of a shape does not pay for it inside its time limit."""
    from optimizer.solvers import available, default_chain

    chain = data.settings.solvers or default_chain(data.shape.n_assets + data.shape.n_lots)
    installed = set(available())
    for name in chain:
        if name in installed:
            try:
                program.update(data)
                program.problem.get_problem_data(name)
            except Exception:  # noqa: BLE001 - warming is an optimisation; the real solve reports errors
                pass
            return


class RowHashes:
    """Per account, pandas' 64-bit row hashes of its rows in each per-account table, hashed once
    per table (``hash_pandas_object``: vectorised, with a fixed key, so the same in every
    process); rows of an account keep their table order. The worker hashes its chunk's
    tables, the runner the book's: an account's rows give the same hashes in both."""

    def __init__(self, tables: dict[str, pd.DataFrame]):
        self._tables = {}
        for name in sorted(tables):
            frame = tables[name]
            if not len(frame):
                continue
            header = f"{name}:{list(frame.columns)!r}:{[str(t) for t in frame.dtypes]!r}"
            hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
            ids = frame["account_id"].astype(str).to_numpy(dtype=object)
            order = np.argsort(ids, kind="stable")
            ranked = ids[order]
            starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
            ends = np.r_[starts[1:], len(ranked)]
            self._tables[name] = (header, hashes[order], {str(ranked[i]): (int(i), int(j))
                                                          for i, j in zip(starts, ends)})

    def of(self, account_id: str) -> list[tuple[str, bytes]]:
        """``(table header, row hashes)`` of every table where the account has rows, by table name."""
        out = []
        for header, hashes, ranges in self._tables.values():
            where = ranges.get(account_id)
            if where is not None:
                out.append((f"{header}:{where[1] - where[0]}", hashes[where[0]:where[1]].tobytes()))
        return out


def input_sha(token: str, account: dict, rows: list[tuple[str, bytes]]) -> str:
    """Fingerprint of what decides one account's result: the run context, its account row and
    its rows of the other tables (``RowHashes.of``), in book order (a reordered but equal
    table only costs a needless rerun)."""
    digest = hashlib.sha256(token.encode())
    digest.update(repr(sorted((k, str(v)) for k, v in account.items())).encode())
    for header, hashes in rows:
        digest.update(header.encode())
        digest.update(hashes)
    return digest.hexdigest()[:24]


def household_sha(shas: list[str]) -> str:
    """Fingerprint of a household: its members' own fingerprints, in order (every member carries it,
    so a change in any member re-solves all of them)."""
    return hashlib.sha256(("household:" + ";".join(shas)).encode()).hexdigest()[:24]


def unit_shas(token: str, records: list[dict], hashes: RowHashes) -> dict[str, str]:
    """``input_sha`` per account of ``records``, a household's members sharing one (see :func:`units`)."""
    out: dict[str, str] = {}
    frame = pd.DataFrame(records)
    for unit in units(frame):
        shas = [input_sha(token, records[i], hashes.of(str(records[i]["account_id"]))) for i in unit]
        if len(unit) == 1 and household_key(records[unit[0]].get("household_id")) is None:
            out[str(records[unit[0]]["account_id"])] = shas[0]
        else:
            shared = household_sha(shas)
            out.update({str(records[i]["account_id"]): shared for i in unit})
    return out


def solve_chunk(token: str, blob: bytes, chunk: Chunk, parts_dir: str, run_id: str, timeout_s: float,
                fault: Callable[[str], None] | None = None, options: WorkOptions | None = None) -> pd.DataFrame:
    """Solve every account of ``chunk``, write the part, return its diagnostics.

    ``timeout_s`` is checked per account after its solve (an account whose own work, not
    counting a program build, took longer is recorded as ``Timeout`` and its trades
    dropped); a household is one solve, checked once against ``timeout_s`` times its
    members (they share it; each member's ``seconds`` is its share). The runner enforces
    the hard limit per chunk. ``fault`` is a test/drill hook called with each account id
    once its clock runs.

    Raises
    ------
    OutputError
        The part could not be written (nothing of it is left behind).
    """
    options = options or WorkOptions()
    _event(options.topic, "start", chunk.number)
    builder = _builder(token, blob)
    fast = _fast_prepare(token, builder, chunk)
    positions = {name: frame.groupby("account_id", sort=False).indices for name, frame in chunk.tables.items()}

    def rows_of(account_id: str) -> "_AccountRows":
        return _AccountRows(chunk.tables, positions, account_id)

    records = chunk.accounts.to_dict("records")
    shas = unit_shas(f"{token}:{options.fingerprint()}", records, RowHashes(chunk.tables))
    outputs = ChunkTables({"trades": TRADE_COLUMNS, "lot_sales": LOT_SALE_COLUMNS, "overlay": OVERLAY_COLUMNS,
                           "orders": ORDER_COLUMNS})
    diagnostics = []
    for unit in units(chunk.accounts):
        members = [records[i] for i in unit]
        household = household_key(members[0].get("household_id"))
        rows = []
        for account in members:
            row = {c: None for c in DIAGNOSTIC_COLUMNS}
            row.update(account_id=str(account["account_id"]), model_id=str(account["model_id"]),
                       household_id=household or "", run_id=run_id, worker_pid=os.getpid(),
                       input_sha=shas[str(account["account_id"])], notes="")
            rows.append(row)
        if household is None:
            answers = _solve_account(builder, members[0], rows_of(rows[0]["account_id"]), rows[0], chunk.number,
                                     timeout_s, fault, options, fast)
        else:
            answers = _solve_household(builder, members, [rows_of(r["account_id"]) for r in rows], rows,
                                       chunk.number, timeout_s, fault, options)
        for row, produced in zip(rows, answers):
            diagnostics.append(row)
            if isinstance(produced, _Columns):
                outputs.add_columns(produced)
            elif produced:
                outputs.add_frames(produced)
    frames = {name: outputs.frame(name) for name in ("trades", "lot_sales", "overlay", "orders")}
    frames["diagnostics"] = diagnostics_frame(diagnostics)
    lines = lines_table(frames["orders"])   # orders.csv's lines, formatted here rather than in the serial consolidation
    if lines is not None:
        frames[LINES_TABLE] = lines
    before_write = getattr(fault, "before_write", None)
    write_part(Path(parts_dir), f"{run_id}-{chunk.number:06d}", frames, before_write=before_write)
    return frames["diagnostics"]


def _build_program(data, options: WorkOptions, chunk_number: int) -> float:
    """Build (and warm) the program of a new problem shape; seconds spent (0 when it was built)."""
    mark = time.perf_counter()
    if data.shape not in _REBALANCER._programs:
        _event(options.topic, "build", chunk_number)
        program = _REBALANCER.program(data.shape)
        _warm(program, data)
        _event(options.topic, "built", chunk_number)
    return time.perf_counter() - mark


def _solve(data, options: WorkOptions):
    """Solve prepared data with :meth:`Rebalancer.solve_parts` (the shape's fast path) under the
    options' wash-sale search: ``(result, solved data, final trade)``."""
    with conflict_search(options.conflict_search):
        return _REBALANCER.solve_parts(data, whole_units=options.whole_shares)


def _failure(exc: Exception) -> dict:
    """Diagnostics fields of a failed account (or household)."""
    if isinstance(exc, (InputError, InfeasibleError, SolverError)):
        return {"status": "failed", "error_type": type(exc).__name__, "reason": str(exc)}
    return {"status": "failed", "error_type": type(exc).__name__, "reason": f"unexpected error: {exc!r}"}


def _order_rules(account: dict, options: WorkOptions) -> OrderRules:
    rules = options.orders
    currency = account.get("currency")
    if isinstance(currency, str) and currency.strip():
        rules = dataclasses.replace(rules, currency=currency.strip())
    return rules


def _outputs(result, account_id: str, account_orders: pd.DataFrame, row: dict) -> dict[str, pd.DataFrame]:
    """One account's output rows; fills its diagnostics ``row`` as solved."""
    traded = result.to_frame().reset_index()
    traded.insert(0, "account_id", account_id)
    sales = result.lot_sales.reset_index()
    sales.insert(0, "account_id", account_id)
    overlay = result.overlay.reset_index()
    overlay.insert(0, "account_id", account_id)
    _diagnose(row, result, len(traded), len(account_orders), len(sales))
    return {"trades": traded, "lot_sales": sales, "overlay": overlay, "orders": account_orders}


def _diagnose(row: dict, result, n_trades: int, n_orders: int, n_lot_sales: int) -> None:
    """Fill a solved account's diagnostics ``row`` from its result and its output row counts."""
    row.update(status="ok", error_type="", reason="", solver=result.solver, accurate=result.accurate,
               objective_bps=result.objective_bps, tracking_error_before=result.tracking_error_before,
               tracking_error_after=result.tracking_error_after, nav_usd=result.nav_usd,
               cash_after_usd=result.cash_after_usd, n_trades=n_trades,
               n_orders=n_orders, n_lot_sales=n_lot_sales,
               wash_sale_fixes=len(result.wash_sale_fixes),
               **{f"cost_{p}_usd": float(result.costs_usd.get(p, 0.0)) for p in COST_PARTS})


def _fast_prepare(token: str, builder: CaseBuilder, chunk: Chunk):
    """``(preparer, chunk lots, rows per account of the other tables)`` for :func:`_solve_account`."""
    if token not in _PREPARERS or _PREPARERS[token].builder is not builder:
        _PREPARERS.clear()
        _PREPARERS[token] = ChunkPreparer(builder)
    counts = {name: frame["account_id"].value_counts().to_dict() for name, frame in chunk.tables.items()
              if name in OTHER_TABLES}
    return _PREPARERS[token], ChunkLots(chunk.lots), counts


def _solve_account(builder: CaseBuilder, account: dict, rows: dict[str, pd.DataFrame], row: dict, chunk_number: int,
                   timeout_s: float, fault, options: WorkOptions, fast=None) -> list[dict | None]:
    """Solve one lone account; fills ``row``; returns ``[its output frames]`` (``[None]`` if it failed).

    ``fast`` (from :func:`_fast_prepare`): a plain account's data come from the chunk's numpy
    columns (:mod:`optimizer.batch.fast_prepare`); any other takes the general path."""
    account_id = row["account_id"]
    started = time.perf_counter()
    build_seconds = 0.0
    produced = None
    try:
        data = None
        if fast is not None:
            preparer, chunk_lots, counts = fast
            data = preparer.prepare(account, chunk_lots, {name: c.get(account_id, 0) for name, c in counts.items()},
                                    lots_frame=lambda: rows["lots"], restrictions_frame=lambda: rows["restrictions"])
        if data is None:
            if "account_kind" in account:
                check_households(pd.DataFrame([account]))
            extra = {name: rows[name] for name in ACCOUNT_TABLES[2:] if name in rows}
            case, universe = builder.case(account, rows["lots"], rows["restrictions"], extra)
            row["notes"] = builder.last_notes
            data = prepare(case.portfolio, case.targets, case.market, case.settings, **case.options(),
                           universe=universe, lot_slots=builder.context.lot_slots)
        build_seconds = _build_program(data, options, chunk_number)
        if fault is not None:
            fault(account_id)
        result, solved, trade = _solve(data, options)
        cash_floor = max(data.settings.min_cash_usd, data.settings.min_cash_weight * result.nav_usd)
        rules = _order_rules(account, options)
        columns = None if solved is None else account_columns(account_id, solved, trade, result, rules, cash_floor)
        account_orders = None if columns is not None else orders_frame(result, account_id, rules=rules,
                                                                       cash_floor_usd=cash_floor)
    except Exception as exc:  # noqa: BLE001 - one account's failure (or bug) must not stop the batch
        row.update(_failure(exc))
    else:
        seconds = time.perf_counter() - started - build_seconds
        if seconds > timeout_s:
            row.update(status="failed", error_type="Timeout",
                       reason=f"timeout: the account took {seconds:.3f} s, over the {timeout_s:g} s limit "
                              "(program build not counted)")
        elif columns is not None:
            _diagnose(row, result, len(columns["trades"]["asset"]), len(columns["orders"]["asset"]),
                      len(columns["lot_sales"]["lot_id"]))
            produced = _Columns(columns)
        else:
            produced = _outputs(result, account_id, account_orders, row)
    row["build_seconds"] = build_seconds
    row["seconds"] = time.perf_counter() - started - build_seconds
    return [produced]


class _AccountRows(Mapping):
    """One account's rows of each per-account table of a chunk, each made on first read
    (a plain account on the fast path never needs them as frames)."""

    def __init__(self, tables: dict[str, pd.DataFrame], positions: dict[str, dict], account_id: str):
        self._tables, self._positions, self._account = tables, positions, account_id
        self._made: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._made:
            frame = self._tables[name]
            rows = self._positions[name].get(self._account)
            self._made[name] = frame.iloc[:0] if rows is None else frame.take(rows)
        return self._made[name]

    def __iter__(self):
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)


class _Columns(dict):
    """An account's output rows as columns (:func:`optimizer.batch.bulk_output.account_columns`)."""


def _solve_household(builder: CaseBuilder, members: list[dict], rows: list[dict[str, pd.DataFrame]],
                     diag_rows: list[dict], chunk_number: int, timeout_s: float, fault,
                     options: WorkOptions) -> list[dict | None]:
    """Solve a household as one program (:func:`optimizer.household.prepare_household`); fills each
    member's diagnostics row; returns each member's output frames (all ``None`` if it failed:
    every member is recorded failed with the same reason)."""
    started = time.perf_counter()
    build_seconds = 0.0
    produced: list[dict | None] = [None] * len(members)
    limit = timeout_s * len(members)
    try:
        check_households(pd.DataFrame(members))
        case = build_household(builder, list(zip(members, rows)), ACCOUNT_TABLES[2:])
        for row in diag_rows:
            row["notes"] = case.notes
        data, parts = prepare_household(case.household, case.targets, case.market, case.settings,
                                        universe=case.universe)
        build_seconds = _build_program(data, options, chunk_number)
        if fault is not None:
            for row in diag_rows:
                fault(row["account_id"])
        result = _solve(data, options)[0]
        per_member = member_results(case.household, data, split_result(case.household, data, parts, result))
        orders = {}
        for account in members:
            account_id = str(account["account_id"])
            member = per_member[account_id]
            cash_floor = max(0.0, case.settings.min_cash_weight * member.nav_usd)
            orders[account_id] = orders_frame(member, account_id, rules=_order_rules(account, options),
                                              cash_floor_usd=cash_floor)
    except Exception as exc:  # noqa: BLE001 - one household's failure (or bug) must not stop the batch
        failure = _failure(exc)
        failure["reason"] = f"household {diag_rows[0]['household_id']!r}: {failure['reason']}"
        for row in diag_rows:
            row.update(failure)
    else:
        seconds = time.perf_counter() - started - build_seconds
        if seconds > limit:
            for row in diag_rows:
                row.update(status="failed", error_type="Timeout",
                           reason=f"timeout: household {row['household_id']!r} took {seconds:.3f} s, over its "
                                  f"{limit:g} s limit ({timeout_s:g} s x {len(members)} accounts; program build "
                                  "not counted)")
        else:
            produced = [_outputs(per_member[r["account_id"]], r["account_id"], orders[r["account_id"]], r)
                        for r in diag_rows]
    share = (time.perf_counter() - started - build_seconds) / len(members)
    for row in diag_rows:
        row["build_seconds"] = build_seconds / len(members)
        row["seconds"] = share
    return produced


def diagnostics_frame(rows: list[dict]) -> pd.DataFrame:
    """Diagnostics rows with fixed columns and dtypes (so parts concatenate cleanly)."""
    frame = pd.DataFrame(rows, columns=list(DIAGNOSTIC_COLUMNS))
    for column in TEXT_DIAGNOSTICS:
        frame[column] = frame[column].astype(object).where(frame[column].notna(), "").astype(str)
    for column in frame.columns:
        if column not in TEXT_DIAGNOSTICS and column != "accurate":
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frame["accurate"] = frame["accurate"].astype("boolean")
    return frame


_TEXT_COLUMNS = ("account_id", "asset", "asset_class", "lot_id", "term", "instrument", "date", "side", "currency",
                 "lot_ids", "lot_shares", "reason")


def _frame(frames: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object if c in _TEXT_COLUMNS else float) for c in columns})
    return pd.concat(frames, ignore_index=True).loc[:, list(columns)]


def write_part(parts_dir: Path, name: str, frames: dict,
               before_write: Callable[[Path], None] | None = None) -> Path:
    """Write ``frames`` (DataFrames or ``pyarrow.Table``) as ``parts_dir/name/<table>.parquet``
    atomically and durably.

    Raises
    ------
    OutputError
        The filesystem refused a write (read-only, full, gone); the temporary folder is removed.
    """
    from optimizer.files import fsync_dir, sync_tree

    # a part is read once, by the consolidation: no dictionary pages (faster to write and read;
    # the tables read back are the same)
    tmp = parts_dir / f".tmp-{uuid.uuid4().hex}"
    try:
        parts_dir.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        for k, (table, frame) in enumerate(frames.items()):
            if isinstance(frame, pa.Table):
                pq.write_table(frame, tmp / f"{table}.parquet", use_dictionary=False)
            else:
                frame.to_parquet(tmp / f"{table}.parquet", index=False, use_dictionary=False)
            if k == 0 and before_write is not None:  # a drill: the disk fills up halfway through a part
                before_write(parts_dir)
        sync_tree(tmp)
        final = parts_dir / name
        if final.exists():  # a retried chunk whose first try got as far as the rename
            trash = parts_dir / f".trash-{uuid.uuid4().hex}"
            os.replace(final, trash)
            os.replace(tmp, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, final)
        fsync_dir(parts_dir)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"cannot write results under {str(parts_dir)!r}: {type(exc).__name__}: {exc}") from None
    return final


__all__ = ["BATCH_CONFLICT_SEARCH", "Chunk", "OUTPUT_TABLES", "WorkOptions", "diagnostics_frame", "program_builds", "solve_chunk",
           "write_part"]
