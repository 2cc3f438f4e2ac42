"""Consolidation in Arrow (``optimizer.batch.output._latest_rows``) against the pandas way it replaced.

Oracles: each account's rows come from its latest part only (written by hand below), and
the Arrow result read back equals the former pandas result (``_latest_rows_pandas``) for
reruns, parts out of account order and parts whose columns changed type (which fall back).
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from optimizer.batch.output import PARTS, _latest_rows, _latest_rows_pandas, part_dirs
from optimizer.batch.worker import write_part


def trades(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["account_id", "asset", "shares"])


def as_frame(table) -> pd.DataFrame:
    return table.to_pandas() if isinstance(table, pa.Table) else table


@pytest.fixture
def day(tmp_path):
    parts = tmp_path / PARTS
    # run 1 writes A, B, C (C's rows out of account order within the part); run 2 reruns B
    write_part(parts, "r1-000000", {"trades": trades([("A", "X", 1.0), ("C", "Y", 3.0), ("B", "X", 2.0),
                                                      ("B", "Z", 2.5)])})
    write_part(parts, "r2-000000", {"trades": trades([("B", "Y", 9.0)])})
    return tmp_path


def test_each_account_keeps_only_its_latest_part(day):
    winner = {"A": "r1-000000", "B": "r2-000000", "C": "r1-000000"}
    got = as_frame(_latest_rows(day, "trades", winner))
    expected = trades([("A", "X", 1.0), ("B", "Y", 9.0), ("C", "Y", 3.0)])   # by hand
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected)


def test_arrow_equals_the_pandas_way(day):
    files = [(part.name, part / "trades.parquet") for part in part_dirs(day)]
    for winner in ({"A": "r1-000000", "B": "r2-000000", "C": "r1-000000"},
                   {"A": "r1-000000", "B": "r1-000000"},                  # C left the book, B's rerun ignored
                   {}):
        got = as_frame(_latest_rows(day, "trades", winner))
        pd.testing.assert_frame_equal(got.reset_index(drop=True),
                                      _latest_rows_pandas(files, winner).reset_index(drop=True),
                                      check_index_type=False)


def test_parts_whose_columns_changed_type_fall_back_to_pandas(tmp_path):
    parts = tmp_path / PARTS
    write_part(parts, "r1-000000", {"trades": trades([("A", "X", 1.0)])})
    write_part(parts, "r2-000000", {"trades": pd.DataFrame({"account_id": ["B"], "asset": ["X"], "shares": ["2"]})})
    got = _latest_rows(tmp_path, "trades", {"A": "r1-000000", "B": "r2-000000"})
    assert isinstance(got, pd.DataFrame)
    assert list(got["account_id"]) == ["A", "B"]


def test_orders_csv_text_equals_the_library_csv():
    """Oracle: ``trade_file.orders_csv`` (pandas ``to_csv``), on fields that need quoting, nulls and none."""
    import numpy as np

    from optimizer.batch.output import orders_csv_text
    from optimizer.trade_file import ORDER_COLUMNS, orders_csv

    rng = np.random.default_rng(3)
    n = 40
    frame = pd.DataFrame({
        "account_id": [f"ACC{i:03d}" for i in range(n)], "date": ["2024-06-28"] * n,
        "asset": [f"A{i}" for i in range(n)], "side": rng.choice(["buy", "sell"], n),
        "shares": [round(v, int(d)) for v, d in zip(rng.uniform(0, 1e4, n), rng.integers(0, 7, n))],
        "price": rng.uniform(1, 500, n),
        "notional": rng.uniform(0, 1e6, n), "currency": ["USD"] * n, "lot_ids": [""] * n,
        "lot_shares": [""] * n, "reason": ["rebalance"] * n}, columns=list(ORDER_COLUMNS))
    frame.loc[1, "asset"] = 'say "hi"'
    frame.loc[2, "lot_ids"] = "L1;L2,x"
    frame.loc[3, "reason"] = None
    frame.loc[4, "currency"] = "line\nbreak"
    frame.loc[5, "lot_shares"] = " leading space"
    frame.loc[6, "reason"] = "cr\rhere"
    frame.loc[7, "shares"] = 137.0
    assert orders_csv_text(frame) == orders_csv(frame)
    assert orders_csv_text(pa.Table.from_pandas(frame, preserve_index=False)) == orders_csv(frame)   # from Arrow
    assert orders_csv_text(frame.iloc[:0]) == orders_csv(frame.iloc[:0])
    assert orders_csv_text(pa.Table.from_pandas(frame.iloc[:0], preserve_index=False)) == orders_csv(frame.iloc[:0])
    nulls = frame.assign(lot_ids=None)       # an all-null text column (Arrow type null)
    assert orders_csv_text(pa.Table.from_pandas(nulls, preserve_index=False)) == orders_csv(nulls)
    plain = frame.iloc[10:]
    assert orders_csv_text(plain) == orders_csv(plain)


def _orders(accounts: list[str], n_each: int, seed: int) -> pd.DataFrame:
    import numpy as np

    from optimizer.trade_file import ORDER_COLUMNS

    rng = np.random.default_rng(seed)
    n = len(accounts) * n_each
    return pd.DataFrame({
        "account_id": [a for a in accounts for _ in range(n_each)], "date": ["2024-06-28"] * n,
        "asset": [f"A{i}" for i in range(n)], "side": rng.choice(["buy", "sell"], n),
        "shares": np.round(rng.uniform(0, 1e4, n), 3), "price": rng.uniform(1, 500, n),
        "notional": rng.uniform(0, 1e6, n), "currency": ["USD"] * n,
        "lot_ids": rng.choice(["", "L1;L2", 'odd,"id"'], n), "lot_shares": [""] * n,
        "reason": ["rebalance"] * n}, columns=list(ORDER_COLUMNS))


def test_orders_csv_from_the_workers_lines_equals_the_library_csv(tmp_path, monkeypatch):
    """Oracle: ``trade_file.orders_csv`` of the winning rows. Each part carries its orders' lines
    (``orders_csv.parquet``, made as a worker makes them); run 2 reruns B, so B's lines of run 1
    must be left out; with a part lacking its lines (an older version's) the orders are formatted."""
    from optimizer.batch.orders_csv import LINES_TABLE, lines_table
    from optimizer.batch.output import consolidate
    from optimizer.batch.worker import diagnostics_frame
    from optimizer.trade_file import orders_csv

    parts = tmp_path / PARTS

    def part(name: str, accounts: list[str], orders: pd.DataFrame, with_lines: bool = True) -> None:
        frames = {"trades": trades([(a, "X", 1.0) for a in accounts]), "lot_sales": trades([]),
                  "overlay": trades([]), "orders": orders,
                  "diagnostics": diagnostics_frame([{"account_id": a, "model_id": "M", "status": "ok",
                                                     "run_id": name[:2]} for a in accounts])}
        if with_lines:
            frames[LINES_TABLE] = lines_table(orders)
        write_part(parts, name, frames)

    first, second = _orders(["A", "B", "C"], 4, 1), _orders(["B"], 3, 2)
    part("r1-000000", ["A", "B", "C"], first)
    part("r2-000000", ["B"], second)
    winners = pd.concat([first[first["account_id"] != "B"], second]).sort_values("account_id", kind="stable")
    expected = orders_csv(winners.reset_index(drop=True))
    from optimizer.batch import output

    def no_formatting(orders):
        raise AssertionError("the consolidation formatted the orders instead of joining the parts' lines")

    with monkeypatch.context() as patch:
        patch.setattr(output, "orders_csv_text", no_formatting)
        consolidate(tmp_path)
    assert (tmp_path / "orders.csv").read_text() == expected

    part("r2-000000", ["B"], second, with_lines=False)        # B's part from a version without lines
    consolidate(tmp_path)
    assert (tmp_path / "orders.csv").read_text() == expected


def test_part_reads_are_used_until_the_file_changes(tmp_path, monkeypatch):
    """``PartReads`` (parts read ahead by the runner): the consolidation uses a read part without
    reading it again, gives the same tables as reading the parts itself (the oracle), and reads
    a part again once it was replaced on disk (a retried chunk's new part)."""
    import pyarrow.parquet as pq

    from optimizer.batch import output
    from optimizer.batch.output import PartReads, consolidate
    from optimizer.batch.worker import diagnostics_frame

    parts = tmp_path / PARTS

    def part(name: str, accounts: list[str], shares: float) -> None:
        write_part(parts, name, {"trades": trades([(a, "X", shares) for a in accounts]), "lot_sales": trades([]),
                                 "overlay": trades([]), "orders": _orders(accounts, 2, 4),
                                 "diagnostics": diagnostics_frame([{"account_id": a, "model_id": "M", "status": "ok",
                                                                    "run_id": name[:2]} for a in accounts])})

    part("r1-000000", ["A", "B"], 1.0)
    part("r1-000001", ["C"], 2.0)
    expected = {k: as_frame(v) for k, v in consolidate(tmp_path).items()}
    reads = PartReads()
    for found in part_dirs(tmp_path):
        reads.load(found)
    with monkeypatch.context() as patch:
        patch.setattr(output.pq, "read_table", lambda *a, **k: (_ for _ in ()).throw(AssertionError("read again")))
        patch.setattr(output.pd, "read_parquet", lambda *a, **k: (_ for _ in ()).throw(AssertionError("read again")))
        got = {k: as_frame(v) for k, v in consolidate(tmp_path, reads=reads).items()}
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(got[name], frame, check_like=False)
    part("r1-000001", ["C"], 5.0)                               # replaced on disk after it was read
    got = consolidate(tmp_path, reads=reads)
    assert as_frame(got["trades"]).set_index("account_id").loc["C", "shares"] == 5.0
    assert pq.read_table(tmp_path / "trades.parquet").to_pandas().set_index("account_id").loc["C", "shares"] == 5.0
