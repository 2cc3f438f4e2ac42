"""The run folder of one date: staged parts, the consolidated tables and the manifest.

Layout under ``OUT/date=YYYY-MM-DD/``::

    _parts/<run_id>-<chunk>/{trades,lot_sales,overlay,diagnostics}.parquet   staged, one per chunk
    trades.parquet       per account and asset that trades
    lot_sales.parquet    per account and lot sold
    overlay.parquet      per account and overlay instrument
    diagnostics.parquet  one row per account: status ok/failed, error_type, reason, solver,
                         objective and cost parts, seconds
    manifest.json        written last: inputs and their checksums, versions, counts, failures

Rules that keep results whole:

* A part is renamed into place whole (:func:`optimizer.batch.worker.write_part`).
* The final tables are rebuilt from the parts, keeping for each account only its latest
  part (runs are ordered by ``run_id``), so a rerun or resume never duplicates an account.
  Each is written to a temporary file and moved with ``os.replace``.
* The old manifest is removed before the final tables are replaced and the new one is
  written after them: a date folder without ``manifest.json`` is incomplete, and the
  manifest lists the SHA-256 of each final table it describes.
* A fresh run (not ``resume``) first moves earlier parts aside, then deletes them.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pandas as pd

from optimizer.batch.store import sha256
from optimizer.batch.worker import OUTPUT_TABLES

PARTS = "_parts"
MANIFEST = "manifest.json"


def day_dir(out: Path, date: str) -> Path:
    return Path(out) / f"date={pd.Timestamp(date).date()}"


def part_dirs(day: Path) -> list[Path]:
    """Whole parts, oldest run first (temporary and trash folders are ignored)."""
    parts = day / PARTS
    if not parts.is_dir():
        return []
    return sorted(p for p in parts.iterdir() if p.is_dir() and not p.name.startswith("."))


def clean_staging(day: Path, *, keep_parts: bool) -> None:
    """Remove leftovers of crashed writes; with ``keep_parts=False`` also every earlier part."""
    parts = day / PARTS
    if not parts.is_dir():
        return
    if not keep_parts:
        trash = day / f".trash-{uuid.uuid4().hex}"
        os.replace(parts, trash)
        shutil.rmtree(trash, ignore_errors=True)
        return
    for leftover in parts.iterdir():
        if leftover.name.startswith("."):
            shutil.rmtree(leftover, ignore_errors=True)
    for leftover in day.glob(".trash-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def latest_diagnostics(day: Path) -> pd.DataFrame:
    """One diagnostics row per account: the one from its latest part (column ``part`` names it)."""
    frames = []
    for part in part_dirs(day):
        frame = pd.read_parquet(part / "diagnostics.parquet")
        frame["part"] = part.name
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["account_id", "status", "part"])
    frame = pd.concat(frames, ignore_index=True)
    return frame.drop_duplicates("account_id", keep="last").reset_index(drop=True)


def done_accounts(day: Path) -> set[str]:
    """Accounts whose latest result is ``ok`` (what ``resume`` skips)."""
    diag = latest_diagnostics(day)
    return set(diag.loc[diag["status"] == "ok", "account_id"].astype(str))


def consolidate(day: Path) -> dict[str, pd.DataFrame]:
    """Build the final tables from the parts (latest part per account) and write them atomically."""
    diag = latest_diagnostics(day)
    winner = dict(zip(diag["account_id"].astype(str), diag["part"]))
    manifest = day / MANIFEST
    if manifest.exists():
        manifest.unlink()
    tables: dict[str, pd.DataFrame] = {"diagnostics": diag.drop(columns=["part"]).sort_values("account_id")
                                       .reset_index(drop=True)}
    for table in OUTPUT_TABLES:
        if table == "diagnostics":
            continue
        frames = []
        for part in part_dirs(day):
            frame = pd.read_parquet(part / f"{table}.parquet")
            keep = frame["account_id"].astype(str).map(winner).eq(part.name)
            frames.append(frame[keep.to_numpy()])
        non_empty = [f for f in frames if len(f)]
        frame = pd.concat(non_empty or frames[:1], ignore_index=True) if frames else pd.DataFrame()
        tables[table] = frame.sort_values(["account_id"], kind="stable").reset_index(drop=True) if len(frame) else frame
    for table, frame in tables.items():
        write_atomic(frame, day / f"{table}.parquet")
    return tables


def write_atomic(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def write_manifest(day: Path, manifest: dict) -> Path:
    """Write ``manifest.json`` last, with the checksum of every final table."""
    manifest = dict(manifest)
    manifest["outputs"] = {f"{t}.parquet": sha256(day / f"{t}.parquet") for t in OUTPUT_TABLES
                           if (day / f"{t}.parquet").exists()}
    tmp = day / f".{MANIFEST}.{uuid.uuid4().hex}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, default=str))
    os.replace(tmp, day / MANIFEST)
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
