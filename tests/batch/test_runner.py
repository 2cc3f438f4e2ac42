"""The batch runner: same answers as one-at-a-time, bad accounts recorded not fatal, resume and rerun exact."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from batch_books import DATE, corrupt, small_book
from optimizer import rebalance
from optimizer.batch import account_case, execute, load_book, run_batch
from optimizer.batch.errors import BookChangedError
from optimizer.batch.output import PARTS, day_dir, part_dirs
from optimizer.batch.worker import program_builds
from optimizer.trade_file import OrderRules, orders_cash_after, orders_frame
from problems.books import write_duckdb_book, write_parquet_book


def _read(out, table):
    return pd.read_parquet(day_dir(out, DATE) / f"{table}.parquet")


def _manifest(out):
    return json.loads((day_dir(out, DATE) / "manifest.json").read_text())


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory, batch_client):
    """One run of a clean 12-account book: (book folder, out folder, summary)."""
    root = tmp_path_factory.mktemp("clean")
    book = write_parquet_book(small_book(), root / "book")
    out = root / "out"
    builds_before = sum(batch_client.run(program_builds).values())
    summary = execute(book, DATE, out, client=batch_client, progress=False, chunk_size=4)
    builds = sum(batch_client.run(program_builds).values()) - builds_before
    return book, out, summary, builds


def test_batch_equals_solving_each_account_alone(clean_run):
    book, out, summary, _ = clean_run
    assert (summary.done, summary.failed, summary.skipped) == (12, 0, 0)
    loaded = load_book(book)
    trades = _read(out, "trades")
    sales = _read(out, "lot_sales")
    diag = _read(out, "diagnostics").set_index("account_id")
    orders = _read(out, "orders")
    for account_id in loaded["accounts"]["account_id"]:
        case, universe, slots = account_case(loaded, DATE, account_id)
        # the batch trades whole shares by default: the same rounding applied to a plain solve
        alone = rebalance(case.portfolio, case.targets, case.market, case.settings, **case.options(),
                          universe=universe, lot_slots=slots, whole_units=True)
        nav = alone.nav_usd
        mine_orders = orders[orders["account_id"] == account_id].reset_index(drop=True)
        expected = orders_frame(alone, account_id, rules=OrderRules(whole_shares=True))
        pd.testing.assert_frame_equal(mine_orders[["asset", "side", "shares"]], expected[["asset", "side", "shares"]],
                                      check_dtype=False)
        np.testing.assert_allclose(mine_orders["notional"], expected["notional"], atol=0.01)
        bought = mine_orders[mine_orders["side"] == "buy"]
        assert (bought["shares"] == np.round(bought["shares"])).all()  # whole shares on every buy
        assert orders_cash_after(alone, expected) >= 0
        mine = trades[trades["account_id"] == account_id].set_index("asset")["trade_usd"]
        theirs = alone.trades["trade_usd"]
        joined = pd.concat([mine.rename("batch"), theirs.rename("alone")], axis=1).fillna(0.0)
        np.testing.assert_allclose(joined["batch"], joined["alone"], atol=1e-5 * nav)
        assert diag.loc[account_id, "objective_bps"] == pytest.approx(alone.objective_bps, abs=1e-4)
        assert diag.loc[account_id, "cost_tax_usd"] == pytest.approx(alone.costs_usd["tax"], abs=1e-4 * nav)
        sold = sales[sales["account_id"] == account_id].set_index("lot_id")["proceeds_usd"].sort_index()
        alone_sold = alone.lot_sales["proceeds_usd"].sort_index()
        big = alone_sold[alone_sold > 1e-3 * nav].index
        np.testing.assert_allclose(sold.reindex(big).fillna(0.0), alone_sold[big], atol=1e-5 * nav)


def test_workers_reuse_one_built_program_per_shape(clean_run):
    book, *_, builds = clean_run
    accounts = load_book(book)["accounts"]
    exempt = (accounts["short_term_rate"] == 0) & (accounts["long_term_rate"] == 0)
    # one shape for the taxed accounts and one for the exempt ones (their lots pooled, one slot
    # per asset: optimizer/lot_pooling.py), two worker processes: at most one build of each
    # shape per worker (none if already cached)
    shapes = int((~exempt).any()) + int(exempt.any())
    assert builds <= 2 * shapes


def test_manifest_counts_inputs_and_versions(clean_run):
    book, out, summary, _ = clean_run
    manifest = _manifest(out)
    assert manifest["counts"]["accounts"] == 12 and manifest["counts"]["ok"] == 12
    assert manifest["counts"]["failed"] == 0 and manifest["failures"] == []
    assert set(manifest["inputs"]) >= {"accounts.parquet", "lots.parquet", "market.parquet"}
    assert manifest["versions"]["cvxpy"] and manifest["store"] == "parquet"
    assert set(manifest["outputs"]) == {"trades.parquet", "lot_sales.parquet", "overlay.parquet",
                                        "diagnostics.parquet", "orders.parquet", "orders.csv"}
    assert "12 accounts -> 12 solved, 0 failed" in summary.text()


def test_bad_accounts_are_recorded_and_the_rest_solved(tmp_path, batch_client, clean_run):
    tables = corrupt(small_book())
    ghost = tables["lots"].iloc[[0]].assign(account_id="GHOST")  # a lot of an account the book does not list
    tables["lots"] = pd.concat([tables["lots"], ghost], ignore_index=True)
    book = write_parquet_book(tables, tmp_path / "book")
    out = tmp_path / "out"
    summary = execute(book, DATE, out, client=batch_client, progress=False, chunk_size=5)
    diag = _read(out, "diagnostics").set_index("account_id")
    expected = {"ACC000001": ("InputError", "prices"), "ACC000002": ("InputError", "lots.lot_id"),
                "ACC000003": ("InfeasibleError", "cash floor"), "ACC000004": ("SolverError", "NO_SUCH_SOLVER")}
    for account_id, (kind, words) in expected.items():
        assert diag.loc[account_id, "status"] == "failed"
        assert diag.loc[account_id, "error_type"] == kind
        assert words in diag.loc[account_id, "reason"]
    others = diag.drop(index=list(expected))
    assert (others["status"] == "ok").all() and len(others) == 8
    assert (summary.done, summary.failed, summary.skipped) == (8, 4, 0)
    # the clean accounts get the same answers as in the clean book, up to whole-share rounding (the
    # duplicated lot gives this book 3 lot slots, another program shape, so solver noise can move a
    # share across a rounding edge: 0.05 bps is far below what one share of these accounts costs)
    clean = _read(clean_run[1], "diagnostics").set_index("account_id")
    np.testing.assert_allclose(others["objective_bps"], clean.loc[others.index, "objective_bps"], atol=0.05)
    manifest = _manifest(out)
    assert manifest["counts"]["failed"] == 4 and manifest["counts"]["ok"] == 8
    assert manifest["counts"]["by_error_type"] == {"InputError": 2, "InfeasibleError": 1, "SolverError": 1}
    assert {f["account_id"] for f in manifest["failures"]} == set(expected)
    assert manifest["counts"]["rows_of_unknown_accounts"]["lots"] == 1
    assert manifest["counts"]["rows_of_unknown_accounts"]["restrictions"] == 0
    assert not set(_read(out, "trades")["account_id"]) & set(expected)
    assert "FAILED ACC000003: InfeasibleError" in summary.text()


def test_rerun_replaces_and_resume_skips_done(tmp_path, batch_client, clean_run):
    book = write_parquet_book(corrupt(small_book()), tmp_path / "book")
    out = tmp_path / "out"
    execute(book, DATE, out, client=batch_client, progress=False, chunk_size=5)
    first_trades = _read(out, "trades")
    again = execute(book, DATE, out, client=batch_client, progress=False, chunk_size=3)
    assert (again.done, again.failed, again.skipped) == (8, 4, 0)
    trades = _read(out, "trades")
    assert len(trades) == len(first_trades)
    assert not trades.duplicated(["account_id", "asset"]).any()
    assert len(_read(out, "diagnostics")) == 12
    assert len({p.name.split("-")[0] for p in part_dirs(day_dir(out, DATE))}) == 1  # old parts are gone

    # fix the data and resume: the book changed, so a plain resume is refused (it would mix results)
    write_parquet_book(small_book(), tmp_path / "book")
    with pytest.raises(BookChangedError, match="market.parquet"):
        execute(book, DATE, out, client=batch_client, progress=False, resume=True)
    # asked to rerun what changed: the market file changed, so every account is solved again
    resumed = execute(book, DATE, out, client=batch_client, progress=False, resume=True, rerun_changed=True)
    assert (resumed.done, resumed.failed, resumed.skipped) == (12, 0, 0)
    diag = _read(out, "diagnostics")
    assert len(diag) == 12 and (diag["status"] == "ok").all()
    assert diag.groupby("run_id").size().to_dict()[_manifest(out)["run_id"]] == 12
    clean = _read(clean_run[1], "trades").sort_values(["account_id", "asset"]).reset_index(drop=True)
    now = _read(out, "trades").sort_values(["account_id", "asset"]).reset_index(drop=True)
    assert list(now["account_id"]) == list(clean["account_id"])
    np.testing.assert_allclose(now["trade_usd"], clean["trade_usd"], atol=1e-3)


def test_a_crashed_run_resumes_to_the_same_result(tmp_path, batch_client, clean_run):
    book, clean_out, _, _ = clean_run
    out = tmp_path / "out"
    shutil.copytree(clean_out, out)
    day = day_dir(out, DATE)
    # what a driver crash leaves: some parts, a half-written temporary part, no final tables, no manifest
    for part in part_dirs(day)[1:]:
        shutil.rmtree(part)
    half = day / PARTS / ".tmp-crashed"
    half.mkdir()
    (half / "trades.parquet").write_bytes(b"PAR1 truncated")
    for name in ("manifest.json", "trades.parquet", "lot_sales.parquet", "overlay.parquet", "diagnostics.parquet"):
        (day / name).unlink()
    kept = len(pd.read_parquet(part_dirs(day)[0] / "diagnostics.parquet"))
    summary = execute(book, DATE, out, client=batch_client, progress=False, resume=True)
    assert summary.skipped == kept and summary.done == 12 - kept and summary.failed == 0
    assert not half.exists()
    clean = _read(clean_out, "trades").sort_values(["account_id", "asset"]).reset_index(drop=True)
    now = _read(out, "trades").sort_values(["account_id", "asset"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(now[["account_id", "asset"]], clean[["account_id", "asset"]])
    np.testing.assert_allclose(now["trade_usd"], clean["trade_usd"], atol=1e-3)


def test_run_batch_on_a_duckdb_book_with_its_own_cluster(tmp_path, clean_run):
    file = write_duckdb_book(small_book(), tmp_path / "book.duckdb")
    out = tmp_path / "out"
    summary = run_batch(file, DATE, out, workers=1, progress=False)
    assert (summary.done, summary.failed, summary.skipped) == (12, 0, 0)
    assert _manifest(out)["store"] == "duckdb"
    clean = _read(clean_run[1], "diagnostics").set_index("account_id")["objective_bps"]
    mine = _read(out, "diagnostics").set_index("account_id")["objective_bps"]
    np.testing.assert_allclose(mine.sort_index(), clean.sort_index(), atol=1e-6)
