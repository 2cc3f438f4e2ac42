"""Households in the nightly batch: accounts linked by ``household_id`` are solved as one program.

Oracles: a household of one account is the lone account's solve; a two-account household's
trades are :func:`optimizer.rebalance_household` called directly on the same inputs; each
member's orders keep its own cash >= 0 (recomputed here from the orders and the book);
the wash-sale rule spans the members; bad households are refused naming field and
household; ``--resume`` after one member changed re-solves both members.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batch_books import DATE
from optimizer import InputError
from optimizer.batch import worker
from optimizer.batch.accounts import CaseBuilder, make_context
from optimizer.batch.faults import Stall
from optimizer.batch.households import build_household
from optimizer.batch.output import PARTS, part_dirs
from optimizer.batch.runner import _chunks, _split, execute
from optimizer.batch.store import load_book
from optimizer.book_schema import check_book_tables
from optimizer.household import rebalance_household
from optimizer.rebalancer import Rebalancer
from optimizer.trade_file import OrderRules
from problems.books import synthetic_book, write_parquet_book

N_ASSETS = 5


def household_book(seed: int = 3) -> dict[str, pd.DataFrame]:
    """6 accounts on one model: H1 = ACC000000 (taxable) + ACC000001 (IRA), H2 = ACC000002 (taxable)
    + ACC000003 (Roth), ACC000004 and ACC000005 alone. No cash flows, so the members' cash is
    what they hold."""
    t = synthetic_book(6, N_ASSETS, 2, n_models=1, seed=seed)
    accounts = t["accounts"]
    accounts["household_id"] = ["H1", "H1", "H2", "H2", None, None]
    accounts["account_kind"] = ["taxable", "deferred", "taxable", "exempt", "taxable", None]
    accounts["short_term_rate"] = 0.37
    accounts["long_term_rate"] = 0.20
    accounts["cash_flow_usd"] = 0.0
    t["restrictions"] = t["restrictions"].iloc[:0]
    return t


def solve(tmp_path, tables, name: str = "book", run: str = "run1", whole_shares: bool = True):
    """Run the worker on the book's accounts (no cluster); returns ``(diagnostics, part folder)``."""
    book = load_book(write_parquet_book(tables, tmp_path / name))
    token, blob = make_context(book, DATE).blob()
    chunks = _chunks(book["accounts"], book, len(book["accounts"]))
    day = tmp_path / f"{name}-out"
    options = worker.WorkOptions(whole_shares=whole_shares, orders=OrderRules(whole_shares=whole_shares))
    diag = pd.concat([worker.solve_chunk(token, blob, chunk, str(day / PARTS), run, 60.0, options=options)
                      for chunk in chunks], ignore_index=True)
    return diag.set_index("account_id"), day


def read(day, table: str) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p / f"{table}.parquet") for p in part_dirs(day)], ignore_index=True)


def members(book, ids):
    accounts = book["accounts"].set_index("account_id", drop=False)
    out = []
    for account_id in ids:
        rows = {name: book[name][book[name]["account_id"] == account_id]
                for name in ("lots", "restrictions", "untradeable", "overlay_positions", "recent_buys",
                             "recent_loss_sales") if name in book.tables}
        out.append((accounts.loc[account_id].to_dict(), rows))
    return out


def test_chunks_and_retries_keep_a_household_together():
    book_tables = household_book()
    accounts = book_tables["accounts"].sort_values("account_id").reset_index(drop=True)

    class Book:
        tables = book_tables

        def __getitem__(self, name):
            return book_tables[name]

    chunks = _chunks(accounts, Book(), 1)
    assert [list(c.account_ids) for c in chunks] == [["ACC000000", "ACC000001"], ["ACC000002", "ACC000003"],
                                                     ["ACC000004"], ["ACC000005"]]
    whole = _chunks(accounts, Book(), 3)
    assert [list(c.account_ids) for c in whole] == [["ACC000000", "ACC000001"], ["ACC000002", "ACC000003",
                                                                                   "ACC000004"], ["ACC000005"]]
    split = _split(whole[1], 10)
    assert [list(c.account_ids) for c in split] == [["ACC000002", "ACC000003"], ["ACC000004"]]
    assert set(split[0].lots["account_id"]) == {"ACC000002", "ACC000003"}


def test_a_household_of_one_account_is_the_lone_account(tmp_path):
    tables = household_book()
    tables["accounts"]["household_id"] = None
    alone, alone_parts = solve(tmp_path, tables, "alone")
    tables["accounts"].loc[tables["accounts"]["account_id"] == "ACC000004", "household_id"] = "SOLO"
    solo, solo_parts = solve(tmp_path, tables, "solo")
    assert solo.loc["ACC000004", "status"] == "ok" and solo.loc["ACC000004", "household_id"] == "SOLO"
    a = read(alone_parts, "trades").set_index(["account_id", "asset"]).loc["ACC000004"]
    b = read(solo_parts, "trades").set_index(["account_id", "asset"]).loc["ACC000004"]
    assert list(a.index) == list(b.index)
    np.testing.assert_allclose(b["trade_usd"], a["trade_usd"], atol=0.5)     # whole shares: same shares
    np.testing.assert_allclose(b["shares"], a["shares"], atol=1e-6)
    np.testing.assert_allclose(b["weight_after"], a["weight_after"], atol=1e-9)
    assert solo.loc["ACC000004", "objective_bps"] == pytest.approx(alone.loc["ACC000004", "objective_bps"],
                                                                    rel=1e-5, abs=1e-6)
    oa = read(alone_parts, "orders").set_index("account_id").loc[["ACC000004"]]
    ob = read(solo_parts, "orders").set_index("account_id").loc[["ACC000004"]]
    pd.testing.assert_frame_equal(oa.reset_index(drop=True), ob.reset_index(drop=True))


def test_a_household_trades_as_rebalance_household_on_the_same_inputs(tmp_path):
    tables = household_book()
    diag, parts = solve(tmp_path, tables, whole_shares=False)
    assert (diag["status"] == "ok").all(), diag[["status", "reason"]]
    assert list(diag.loc[["ACC000000", "ACC000001"], "household_id"]) == ["H1", "H1"]
    assert diag.loc["ACC000004", "household_id"] == ""
    # the oracle: the engine's household program called directly on the members' cases
    book = load_book(tmp_path / "book")
    builder = CaseBuilder(make_context(book, DATE))
    trades = read(parts, "trades").set_index(["account_id", "asset"])
    sales = read(parts, "lot_sales").set_index(["account_id", "lot_id"])
    for ids in (["ACC000000", "ACC000001"], ["ACC000002", "ACC000003"]):
        case = build_household(builder, members(book, ids), worker.ACCOUNT_TABLES[2:])
        assert [a.kind for a in case.household.accounts] == ["taxable", "deferred" if ids[0] == "ACC000000"
                                                             else "exempt"]
        direct = rebalance_household(case.household, case.targets, case.market, case.settings,
                                     universe=case.universe, rebalancer=Rebalancer())
        nav = direct.household.nav_usd
        for member in ids:
            want = direct.trades.loc[member, "trade_usd"]
            want = want[direct.trades.loc[member, "gross_usd"] >= 0.01]
            got = trades.loc[member]["trade_usd"]
            assert set(got.index) == set(want.index)
            np.testing.assert_allclose(got.reindex(want.index), want, atol=1e-6 * nav)
            sold = direct.lot_sales[direct.lot_sales["account"] == member].set_index("lot_id")["proceeds_usd"]
            mine = sales.loc[member]["proceeds_usd"] if member in sales.index.get_level_values(0) else sold.iloc[:0]
            np.testing.assert_allclose(mine.reindex(sold.index), sold, atol=1e-6 * nav)
        assert diag.loc[ids[0], "objective_bps"] == pytest.approx(direct.objective_bps, abs=1e-6)
        assert diag.loc[ids[0], "objective_bps"] == diag.loc[ids[1], "objective_bps"]


def test_cash_never_moves_between_members(tmp_path):
    """The IRA holds only cash, the taxable account only stocks: the household may buy with the IRA's
    cash in the IRA, never in the taxable account. Each member's orders leave its own cash >= 0."""
    tables = household_book()
    accounts = tables["accounts"]
    accounts.loc[accounts["account_id"] == "ACC000001", "cash_usd"] = 2e6
    accounts.loc[accounts["account_id"] == "ACC000000", "cash_usd"] = 0.0
    tables["lots"] = tables["lots"][tables["lots"]["account_id"] != "ACC000001"]
    diag, parts = solve(tmp_path, tables)
    assert (diag["status"] == "ok").all(), diag[["status", "reason"]]
    orders = read(parts, "orders")
    assert len(orders[orders["account_id"] == "ACC000001"]) > 0
    for account_id, cash in zip(accounts["account_id"], accounts["cash_usd"]):
        mine = orders[orders["account_id"] == account_id]
        signed = np.where(mine["side"] == "buy", mine["notional"], -mine["notional"]).sum()
        costs = diag.loc[account_id, ["cost_spread_usd", "cost_commission_usd", "cost_impact_usd"]].sum()
        assert cash - signed - costs >= -0.01, (account_id, cash, signed, costs)
    taxable = orders[orders["account_id"] == "ACC000000"]
    sells = taxable.loc[taxable["side"] == "sell", "notional"].sum()
    buys = taxable.loc[taxable["side"] == "buy", "notional"].sum()
    assert buys <= sells + 1e-6          # the taxable account pays its buys with its own sales only


def test_a_taxable_loss_sale_blocks_the_iras_buy(tmp_path):
    """ACC000000 (taxable) sold the asset the IRA most wants to buy at a loss ten days ago: the IRA
    member buys none of it (the same IRA alone would)."""
    tables = household_book()
    diag, parts = solve(tmp_path, tables, "free")
    trades = read(parts, "trades").set_index(["account_id", "asset"])
    ira = trades.loc["ACC000001"]["trade_usd"]
    wanted = str(ira.idxmax())
    assert ira.max() > 100.0
    tables["recent_loss_sales"] = pd.DataFrame({"account_id": ["ACC000000"], "asset": [wanted],
                                                "sold": [pd.Timestamp(DATE) - pd.Timedelta(days=10)]})
    diag, parts = solve(tmp_path, tables, "blocked")
    assert (diag["status"] == "ok").all(), diag[["status", "reason"]]
    trades = read(parts, "trades").set_index(["account_id", "asset"])
    for member in ("ACC000000", "ACC000001"):
        bought = trades.loc[member]["buy_usd"].get(wanted, 0.0)
        assert bought <= 1e-6, (member, bought)
    # the same loss sale in an account outside the household does not block the IRA
    tables["recent_loss_sales"]["account_id"] = "ACC000004"
    diag, parts = solve(tmp_path, tables, "elsewhere")
    trades = read(parts, "trades").set_index(["account_id", "asset"])
    assert trades.loc["ACC000001"]["buy_usd"].get(wanted, 0.0) > 100.0


def test_bad_kind_and_mixed_models_name_the_field_and_household(tmp_path):
    tables = household_book()
    tables["accounts"]["account_kind"] = ["taxable", "defered", "taxable", "exempt", "taxable", None]
    with pytest.raises(InputError) as error:
        check_book_tables(tables)
    assert error.value.field == "book.accounts.account_kind"
    assert "'deferred'" in str(error.value) and "ACC000001" in str(error.value)
    diag, _ = solve(tmp_path, tables, "kind")
    assert list(diag.loc[["ACC000000", "ACC000001"], "status"]) == ["failed", "failed"]
    assert (diag.loc[["ACC000002", "ACC000003", "ACC000004", "ACC000005"], "status"] == "ok").all()

    tables = household_book()
    extra = tables["models"].assign(model_id="M99")
    tables["models"] = pd.concat([tables["models"], extra], ignore_index=True)
    tables["accounts"].loc[tables["accounts"]["account_id"] == "ACC000003", "model_id"] = "M99"
    with pytest.raises(InputError) as error:
        check_book_tables(tables)
    assert error.value.field == "book.accounts.model_id" and "'H2'" in str(error.value)
    diag, _ = solve(tmp_path, tables, "models")
    failed = diag.loc[["ACC000002", "ACC000003"]]
    assert (failed["status"] == "failed").all() and (failed["error_type"] == "InputError").all()
    assert failed["reason"].str.contains("H2").all() and failed["reason"].nunique() == 1
    assert (diag.loc[["ACC000000", "ACC000001", "ACC000004", "ACC000005"], "status"] == "ok").all()


def test_resume_after_one_member_changed_solves_both_members(tmp_path, batch_client):
    tables = household_book()
    book = write_parquet_book(tables, tmp_path / "book")
    out = tmp_path / "out"
    first = execute(book, DATE, out, client=batch_client, progress=False, chunk_size=2)
    assert first.done == 6 and first.failed == 0
    lots = tables["lots"]
    row = lots.index[lots["account_id"] == "ACC000001"][0]
    lots.loc[row, "quantity"] = lots.loc[row, "quantity"] * 1.5
    write_parquet_book(tables, book)
    resumed = execute(book, DATE, out, client=batch_client, progress=False, resume=True, rerun_changed=True,
                      chunk_size=2)
    assert resumed.done == 2 and resumed.skipped == 4
    diag = pd.read_parquet(out / f"date={DATE}" / "diagnostics.parquet").set_index("account_id")
    runs = diag["run_id"]
    assert runs["ACC000000"] == runs["ACC000001"] != runs["ACC000002"]
    assert diag.loc["ACC000000", "input_sha"] == diag.loc["ACC000001", "input_sha"]


def test_members_with_different_holdings_share_one_universe(tmp_path):
    """The IRA also holds a private fund (untradeable, its own exposure key): both members are built
    on one universe (the taxable one sees the fund's key), the fund is never traded."""
    tables = household_book()
    risk = tables["risk"]
    tables["risk"] = pd.concat([risk, risk.iloc[[0]].assign(key="PE")], ignore_index=True)
    tables["untradeable"] = pd.DataFrame({"account_id": ["ACC000001"], "asset": ["PEFUND"],
                                          "value_usd": [50_000.0], "asset_class": ["PE"]})
    diag, parts = solve(tmp_path, tables)
    assert (diag["status"] == "ok").all(), diag[["status", "reason"]]
    trades = read(parts, "trades")
    assert "PEFUND" not in set(trades["asset"])
    book = load_book(tmp_path / "book")
    case = build_household(CaseBuilder(make_context(book, DATE)), members(book, ["ACC000000", "ACC000001"]),
                           worker.ACCOUNT_TABLES[2:])
    assert "PEFUND" in case.universe and "PE" in list(case.targets.keys)
    held = [float(a.portfolio.untradeable_usd.get("PEFUND", 0.0)) for a in case.household.accounts]
    assert held == [0.0, 50_000.0]


def test_a_household_fails_and_times_out_as_one(tmp_path):
    """A duplicated lot id in the IRA fails both members of H1 with one reason naming the IRA; a
    stall of one member past the household's limit (timeout x 2 members) times out both."""
    tables = household_book()
    lots = tables["lots"]
    ira = lots[lots["account_id"] == "ACC000001"]
    tables["lots"] = pd.concat([lots, ira.iloc[[1]].assign(lot_id=ira.iloc[0]["lot_id"])], ignore_index=True)
    diag, parts = solve(tmp_path, tables)
    h1 = diag.loc[["ACC000000", "ACC000001"]]
    assert (h1["status"] == "failed").all() and (h1["error_type"] == "InputError").all()
    assert h1["reason"].nunique() == 1 and "ACC000001" in h1["reason"].iloc[0]
    assert (diag.drop(index=h1.index)["status"] == "ok").all()
    assert not set(read(parts, "trades")["account_id"]) & {"ACC000000", "ACC000001"}

    book = load_book(write_parquet_book(household_book(), tmp_path / "stall"))
    token, blob = make_context(book, DATE).blob()
    chunk = _chunks(book["accounts"], book, 2)[0]
    assert chunk.account_ids == ["ACC000000", "ACC000001"]
    diag = worker.solve_chunk(token, blob, chunk, str(tmp_path / "stall-out" / PARTS), "run1", 1.0,
                              fault=Stall("ACC000001", 2.2)).set_index("account_id")
    assert (diag["error_type"] == "Timeout").all() and diag["reason"].nunique() == 1
    assert "household 'H1'" in diag["reason"].iloc[0] and "2 accounts" in diag["reason"].iloc[0]


def test_a_lone_roth_pays_no_tax_on_its_trades(tmp_path):
    """ACC000005 alone with ``account_kind: exempt`` trades as the same account with tax rates 0."""
    tables = household_book()
    tables["accounts"]["household_id"] = None
    tables["accounts"]["account_kind"] = None
    accounts = tables["accounts"]
    accounts.loc[accounts["account_id"] == "ACC000005", ["short_term_rate", "long_term_rate"]] = 0.0
    zero, zero_parts = solve(tmp_path, tables, "zero")
    accounts.loc[accounts["account_id"] == "ACC000005", ["short_term_rate", "long_term_rate"]] = [0.37, 0.20]
    taxed, taxed_parts = solve(tmp_path, tables, "taxed")
    accounts.loc[accounts["account_id"] == "ACC000005", "account_kind"] = "exempt"
    roth, roth_parts = solve(tmp_path, tables, "roth")
    pick = ["asset", "shares", "trade_usd"]

    def trades(day):
        frame = read(day, "trades")
        return frame[frame["account_id"] == "ACC000005"][pick].reset_index(drop=True)

    pd.testing.assert_frame_equal(trades(roth_parts), trades(zero_parts))
    assert roth.loc["ACC000005", "cost_tax_usd"] == 0.0
    assert taxed.loc["ACC000005", "cost_tax_usd"] != 0.0      # the rates matter for this account


def test_a_taxed_income_asset_moves_out_of_the_taxable_member(tmp_path):
    """``market.tax_drag`` prices holding an asset in a taxable account each year: with a high drag
    on A0000, H2's taxable member ends with less of it and its Roth with more than without; the
    batch equals rebalance_household with the same drag (fractional shares)."""
    tables = household_book()
    free, free_parts = solve(tmp_path, tables, "nodrag", whole_shares=False)
    tables["market"]["tax_drag"] = [0.03 if a == "A0000" else None for a in tables["market"]["asset"]]
    drag, drag_parts = solve(tmp_path, tables, "drag", whole_shares=False)
    assert (drag["status"] == "ok").all(), drag[["status", "reason"]]

    def after(day, account):
        trades = read(day, "trades").set_index(["account_id", "asset"])
        weight = trades.loc[account]["weight_after"]
        return float(weight.get("A0000", np.nan)) * read_nav(day, account)

    def read_nav(day, account):
        return float(read(day, "diagnostics").set_index("account_id").loc[account, "nav_usd"])

    assert after(drag_parts, "ACC000002") < after(free_parts, "ACC000002") - 1000.0
    assert after(drag_parts, "ACC000003") > after(free_parts, "ACC000003") + 1000.0
    book = load_book(tmp_path / "drag")
    case = build_household(CaseBuilder(make_context(book, DATE)), members(book, ["ACC000002", "ACC000003"]),
                           worker.ACCOUNT_TABLES[2:])
    assert case.household.tax_drag["A0000"] == 0.03 and case.household.tax_drag.drop("A0000").eq(0).all()
    direct = rebalance_household(case.household, case.targets, case.market, case.settings, universe=case.universe,
                                 rebalancer=Rebalancer())
    trades = read(drag_parts, "trades").set_index(["account_id", "asset"])
    for member in ("ACC000002", "ACC000003"):
        want = direct.trades.loc[member, "trade_usd"]
        want = want[direct.trades.loc[member, "gross_usd"] >= 0.01]
        np.testing.assert_allclose(trades.loc[member]["trade_usd"].reindex(want.index), want,
                                   atol=1e-6 * direct.household.nav_usd)
