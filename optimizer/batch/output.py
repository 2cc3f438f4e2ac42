"""The run folder of one date: staged parts, the consolidated tables and the manifest.

Layout under ``OUT/date=YYYY-MM-DD/``::

    _parts/<run_id>-<chunk>/{trades,lot_sales,overlay,orders,diagnostics}.parquet   one per chunk
                         (and orders_csv.parquet: the orders' CSV lines, made by the worker)
    inputs.json          written first: checksums of the book and of the run context (market,
                         models, risk) the parts were made from; checked by ``--resume``
    trades.parquet       per account and asset that trades (the decision, with weights)
    lot_sales.parquet    per account and lot sold
    overlay.parquet      per account and overlay instrument
    orders.parquet, orders.csv   the executable orders (:mod:`optimizer.trade_file`)
    diagnostics.parquet  one row per account: status ok/failed, error_type, reason, solver,
                         objective and cost parts, seconds, input_sha
    manifest.json        written last: inputs and their checksums, versions, counts, failures

Rules that keep results whole:

* A part is renamed into place whole (:func:`optimizer.batch.worker.write_part`).
* The final tables are rebuilt from the parts, keeping for each account of the book only
  its latest part (runs are ordered by ``run_id``), so a rerun or resume never duplicates
  an account and an account no longer in the book is not reported. Each file is written
  under a unique temporary name, fsynced and moved with ``os.replace``
  (:mod:`optimizer.files`).
* The old manifest is removed before the final tables are replaced and the new one is
  written after them: a date folder without ``manifest.json`` is incomplete, and the
  manifest lists the SHA-256 of each final table it describes.
* A fresh run (not ``resume``) first moves earlier parts aside, then deletes them.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from optimizer.batch.errors import BookChangedError, OutputError
from optimizer.batch.orders_csv import LINES_TABLE, arrow_orders, csv_lines, csv_text
from optimizer.batch.store import sha256
from optimizer.batch.worker import OUTPUT_TABLES
from optimizer.files import fsync_dir, write_text, write_with

PARTS = "_parts"
MANIFEST = "manifest.json"
INPUTS = "inputs.json"


class PartReads:
    """Part files read ahead of the consolidation (by the runner, as each chunk finishes, while
    the workers solve the next ones), each kept with the file's identity (inode, size,
    modification time): a read is used only while the file on disk is still that one, else
    the file is read again. Reading ahead moves this work out of the serial end of a run."""

    def __init__(self):
        self._kept: dict[Path, tuple[tuple, object]] = {}

    @staticmethod
    def _identity(file: Path) -> tuple:
        info = os.stat(file)
        return info.st_ino, info.st_size, info.st_mtime_ns

    def load(self, part: Path) -> None:
        """Read every table file of ``part`` now (a part that cannot be read is left to the consolidation)."""
        try:
            for file in part.iterdir():
                if file.suffix == ".parquet":
                    self.read(file)
        except (OSError, ValueError):
            pass

    def read(self, file: Path):
        """``file`` as the consolidation reads it: diagnostics as a DataFrame (``pd.read_parquet``),
        any other table as a ``pyarrow.Table`` (``pq.read_table``)."""
        file = Path(file)
        identity = self._identity(file)
        kept = self._kept.get(file)
        if kept is not None and kept[0] == identity:
            return kept[1]
        value = pd.read_parquet(file) if file.name == "diagnostics.parquet" else pq.read_table(file)
        self._kept[file] = (identity, value)
        return value


def _read_frame(file: Path, reads: "PartReads | None") -> pd.DataFrame:
    return reads.read(file).copy() if reads is not None else pd.read_parquet(file)


def _read_table(file: Path, reads: "PartReads | None") -> pa.Table:
    return reads.read(file) if reads is not None else pq.read_table(file)


def day_dir(out: Path, date: str) -> Path:
    return Path(out) / f"date={pd.Timestamp(date).date()}"


def part_dirs(day: Path) -> list[Path]:
    """Whole parts, oldest run first (temporary and trash folders are ignored)."""
    parts = day / PARTS
    if not parts.is_dir():
        return []
    return sorted(p for p in parts.iterdir() if p.is_dir() and not p.name.startswith("."))


def leftovers(out: Path) -> list[Path]:
    """Temporary and trash files or folders anywhere under ``out`` (a clean stop leaves none)."""
    out = Path(out)
    if not out.exists():
        return []
    return sorted(p for p in out.rglob(".*")
                  if p.name.startswith((".tmp-", ".trash-", ".probe-")) or p.name.endswith(".tmp"))


def clean_staging(day: Path, *, keep_parts: bool) -> None:
    """Remove leftovers of crashed writes; with ``keep_parts=False`` also every earlier part."""
    for leftover in leftovers(day):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
    parts = day / PARTS
    if not parts.is_dir():
        return
    if not keep_parts:
        trash = day / f".trash-{uuid.uuid4().hex}"
        os.replace(parts, trash)
        shutil.rmtree(trash, ignore_errors=True)


def check_inputs(day: Path, inputs: dict, *, rerun_changed: bool) -> str:
    """On ``--resume``: compare the inputs the date's results were made from with ``inputs``.

    Returns ``"same"``, ``"none"`` (no earlier record) or ``"changed"`` (only with
    ``rerun_changed``). The earlier record is ``inputs.json``, else the manifest's.

    Raises
    ------
    BookChangedError
        The book or the run context changed and the operator did not ask to rerun.
    """
    before = None
    for name in (INPUTS, MANIFEST):
        path = day / name
        if path.exists():
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if name == INPUTS:
                before = record
            else:
                before = {"files": record.get("inputs", {}), "context": record.get("context"),
                          "options": record.get("options_fingerprint")}
            break
    if before is None:
        return "none"
    changed = sorted(f for f in set(before.get("files", {})) | set(inputs["files"])
                     if before.get("files", {}).get(f) != inputs["files"].get(f))
    context_changed = before.get("context") is not None and before.get("context") != inputs["context"]
    options_changed = before.get("options") is not None and before.get("options") != inputs.get("options")
    if not changed and not context_changed and not options_changed:
        return "same"
    if rerun_changed:
        return "changed"
    what = ", ".join(changed) if changed else ("the market/model/risk data of the date" if context_changed
                                               else "the order options (--fractional, --min-notional, --dust)")
    raise BookChangedError(
        f"the book changed since the results in {str(day)!r} were made ({what}); resuming would mix stale "
        "results with new ones. Rerun without --resume to start the date over, or pass --rerun-changed to keep "
        "only the accounts whose own inputs and market are unchanged and solve the rest again")


def write_inputs(day: Path, inputs: dict) -> None:
    """Record the inputs of the parts about to be written (before any part)."""
    write_text(day / INPUTS, json.dumps(inputs, indent=2, sort_keys=True))


def latest_diagnostics(day: Path, reads: PartReads | None = None) -> pd.DataFrame:
    """One diagnostics row per account: the one from its latest part (column ``part`` names it).

    A part whose diagnostics cannot be read (damaged by a crash of the machine) is moved
    aside, so its accounts count as not done.
    """
    frames = []
    for part in part_dirs(day):
        try:
            frame = _read_frame(part / "diagnostics.parquet", reads)
            for table in OUTPUT_TABLES:
                if table != "diagnostics" and table != "orders" and not (part / f"{table}.parquet").exists():
                    raise OSError(f"{part} has no {table}.parquet")
        except (OSError, ValueError) as exc:  # pyarrow errors are OSError / ValueError subclasses
            trash = part.with_name(f".trash-{uuid.uuid4().hex}")
            os.replace(part, trash)
            shutil.rmtree(trash, ignore_errors=True)
            logging.getLogger(__name__).warning("dropped damaged part %s: %s", part.name, exc)
            continue
        frame["part"] = part.name
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["account_id", "status", "part", "input_sha", "run_id"])
    frame = pd.concat(frames, ignore_index=True)
    return frame.drop_duplicates("account_id", keep="last").reset_index(drop=True)


def done_accounts(day: Path, fingerprints: dict[str, str] | None = None) -> set[str]:
    """Accounts whose latest result is ``ok`` (what ``resume`` skips).

    With ``fingerprints`` (account -> input sha of the run now), only those whose result
    was made from the same inputs.
    """
    diag = latest_diagnostics(day)
    ok = diag[diag["status"] == "ok"]
    if fingerprints is None:
        return set(ok["account_id"].astype(str))
    same = ok["input_sha"].astype(str).to_numpy() == ok["account_id"].astype(str).map(fingerprints).to_numpy()
    return set(ok.loc[same, "account_id"].astype(str))


def consolidate(day: Path, accounts: set[str] | None = None, reads: PartReads | None = None) -> dict:
    """Build the final tables from the parts (latest part per account) and write them atomically.

    ``accounts``: keep only these (the accounts of the book being run); ``None`` keeps all.
    ``reads``: part files already read (:class:`PartReads`); the others are read here.
    Returns the tables written: ``diagnostics`` a DataFrame, the others ``pyarrow.Table``
    (joined in Arrow: no pandas round trip for the large tables), or DataFrames when the
    parts' schemas differ.

    Raises
    ------
    OutputError
        A table could not be written.
    """
    diag = latest_diagnostics(day, reads)
    if accounts is not None:
        diag = diag[diag["account_id"].astype(str).isin(accounts)]
    winner = dict(zip(diag["account_id"].astype(str), diag["part"]))
    manifest = day / MANIFEST
    try:
        manifest.unlink(missing_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot remove the old manifest {str(manifest)!r}: {exc}") from None
    tables: dict = {"diagnostics": diag.drop(columns=["part"]).sort_values("account_id").reset_index(drop=True)}
    value_sets = _value_sets(winner)
    for table in OUTPUT_TABLES:
        if table == "diagnostics":
            continue
        tables[table] = _latest_rows(day, table, winner, reads, value_sets)

    def write_csv() -> None:
        from optimizer.trade_file import ORDER_COLUMNS

        orders = tables["orders"]
        lines = _joined_lines(day, winner, orders, reads, value_sets)
        if lines is not None:
            write_text(day / "orders.csv", csv_text(lines))
            return
        if isinstance(orders, pa.Table) and not arrow_orders(orders):
            orders = orders.to_pandas()
        if not isinstance(orders, pa.Table) and not len(orders.columns):
            orders = pd.DataFrame(columns=list(ORDER_COLUMNS))
        write_text(day / "orders.csv", orders_csv_text(orders))

    # the files are independent: written at once (Arrow's writers release the GIL; the
    # workers are done, so the machine's cores are free)
    jobs = [partial(write_atomic, frame, day / f"{table}.parquet") for table, frame in tables.items()]
    if "orders" in tables:
        jobs.append(write_csv)
    try:
        with ThreadPoolExecutor(max_workers=min(len(jobs), WRITE_THREADS)) as pool:
            for future in [pool.submit(job) for job in jobs]:
                future.result()
    except OSError as exc:
        raise OutputError(f"cannot write the final tables under {str(day)!r}: {type(exc).__name__}: {exc}") from None
    return tables


#: Threads writing the final tables at once (:func:`consolidate`).
WRITE_THREADS = 3


def _value_sets(winner: dict[str, str]) -> dict[str, pa.Array]:
    """Per part name, the accounts whose latest part it is (``winner``: account -> part), as Arrow strings."""
    of_part: dict[str, list[str]] = {}
    for account, part in winner.items():
        of_part.setdefault(part, []).append(account)
    return {part: pa.array(accounts, pa.string()) for part, accounts in of_part.items()}


def orders_csv_text(orders) -> str:
    """:func:`optimizer.trade_file.orders_csv`, the same text, with the rows joined in Arrow
    (:func:`optimizer.batch.orders_csv.csv_lines`; pandas' ``to_csv`` took 1.6 s of the
    10,000-account consolidation). ``orders``: a DataFrame, or a ``pyarrow.Table`` whose
    text columns are used as they are. Frames Arrow cannot take as text (a non-string value
    in a text column) are left to ``orders_csv``."""
    from optimizer.trade_file import orders_csv

    lines = csv_lines(orders)
    if lines is None:
        return orders_csv(orders.to_pandas() if isinstance(orders, pa.Table) else orders)
    return csv_text(lines)


def _joined_lines(day: Path, winner: dict[str, str], orders, reads: PartReads | None = None,
                  value_sets: dict[str, pa.Array] | None = None) -> pa.ChunkedArray | None:
    """The winning orders' ``orders.csv`` lines as the workers made them (:data:`LINES_TABLE`
    of each part), or ``None`` when they do not match ``orders`` row for row (a part made
    without them, e.g. by an older version before a resume): the caller formats the orders."""
    if not isinstance(orders, pa.Table) or not arrow_orders(orders):
        return None
    try:
        lines = _latest_rows(day, LINES_TABLE, winner, reads, value_sets)
    except (OSError, ValueError):   # a damaged lines file: the orders themselves are whole
        return None
    if not isinstance(lines, pa.Table) or lines.num_rows != orders.num_rows or not orders.num_rows:
        return None
    if "line" not in lines.column_names or not pa.types.is_string(lines.schema.field("line").type):
        return None
    ids = orders.column("account_id")
    if not ids.type.equals(lines.schema.field("account_id").type):
        ids = pc.cast(ids, lines.schema.field("account_id").type)
    if not ids.equals(lines.column("account_id")):
        return None
    return lines.column("line")


def _latest_rows(day: Path, table: str, winner: dict[str, str], reads: PartReads | None = None,
                 value_sets: dict[str, pa.Array] | None = None):
    """The rows of ``table`` from each account's latest part (``winner``: account -> part name),
    in account order: a ``pyarrow.Table`` (read, filtered and joined in Arrow, no pandas), or
    a DataFrame made as before (pandas) when the parts' schemas do not join in Arrow.
    ``value_sets``: :func:`_value_sets` of ``winner``, when already made."""
    files = [(part.name, part / f"{table}.parquet") for part in part_dirs(day)]
    files = [(name, file) for name, file in files if file.exists()]
    if not files:
        return pd.DataFrame()
    if value_sets is None:
        value_sets = _value_sets(winner)
    nobody = pa.array([], pa.string())
    try:
        pieces = []
        for name, file in files:
            piece = _read_table(file, reads)
            ids = piece.column("account_id")
            if not pa.types.is_string(ids.type) and not pa.types.is_large_string(ids.type):
                ids = pc.cast(ids, pa.string())
            pieces.append(piece.filter(pc.is_in(ids, value_set=value_sets.get(name, nobody))))
        non_empty = [piece for piece in pieces if piece.num_rows] or pieces[:1]
        joined = pa.concat_tables(non_empty, promote_options="default")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return _latest_rows_pandas(files, winner)
    if joined.num_rows > 1:
        ids = joined.column("account_id")
        if pc.any(pc.less(ids.slice(1), ids.slice(0, len(ids) - 1))).as_py():  # parts come in account order
            joined = joined.take(pc.sort_indices(joined, [("account_id", "ascending")]))
    return joined.combine_chunks()


def _latest_rows_pandas(files: list[tuple[str, Path]], winner: dict[str, str]) -> pd.DataFrame:
    """:func:`_latest_rows` in pandas (parts whose columns changed type between runs)."""
    frames = []
    for name, file in files:
        frame = pd.read_parquet(file)
        keep = frame["account_id"].astype(str).map(winner).eq(name)
        frames.append(frame[keep.to_numpy()])
    non_empty = [f for f in frames if len(f)]
    frame = pd.concat(non_empty or frames[:1], ignore_index=True)
    if len(frame) and not frame["account_id"].is_monotonic_increasing:  # parts come in account order
        frame = frame.sort_values(["account_id"], kind="stable")
    return frame.reset_index(drop=True) if len(frame) else frame


def write_atomic(frame, path: Path) -> None:
    """Write a DataFrame or a ``pyarrow.Table`` as Parquet, atomically (:func:`optimizer.files.write_with`)."""
    if isinstance(frame, pa.Table):
        write_with(path, lambda tmp: pq.write_table(frame, tmp))
    else:
        write_with(path, lambda tmp: frame.to_parquet(tmp, index=False))


def write_manifest(day: Path, manifest: dict) -> Path:
    """Write ``manifest.json`` last, with the checksum of every final table."""
    manifest = dict(manifest)
    manifest["outputs"] = {f"{t}.parquet": sha256(day / f"{t}.parquet") for t in OUTPUT_TABLES
                           if (day / f"{t}.parquet").exists()}
    if (day / "orders.csv").exists():
        manifest["outputs"]["orders.csv"] = sha256(day / "orders.csv")
    try:
        write_text(day / MANIFEST, json.dumps(manifest, indent=2, default=str))
    except OSError as exc:
        raise OutputError(f"cannot write {str(day / MANIFEST)!r}: {type(exc).__name__}: {exc}") from None
    fsync_dir(day)
    return day / MANIFEST


def package_versions() -> dict[str, str]:
    """Versions of the packages that decide the numbers."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("rebalance-optimizer", "numpy", "pandas", "cvxpy", "clarabel", "osqp", "scs", "piqp", "dask",
                 "distributed", "pyarrow", "duckdb"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    import sys

    out["python"] = sys.version.split()[0]
    return out
