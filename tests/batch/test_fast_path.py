"""The batch's fast solve path gives the engine's answers.

Oracles: the program's own solver chain through cvxpy (:meth:`Program.solve`), the plain
:meth:`Rebalancer.solve` per account, and per-account :func:`optimizer.rebalance` of each
account's case (``account_case``) turned into orders by the same writer.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from optimizer.batch.accounts import CaseBuilder, account_case, make_context
from optimizer.direct import DirectProgram
from optimizer.lot_pooling import lots_interchangeable, unpool_sells
from optimizer.batch.store import Book, _normalise
from optimizer.problem_data import prepare
from optimizer.program import Program
from optimizer.rebalancer import Rebalancer, rebalance
from optimizer.trade_file import OrderRules, orders_frame
from problems.books import synthetic_book

DATE = "2024-06-28"


def _book(n_accounts: int, n_assets: int, lots: int, seed: int) -> Book:
    tables = synthetic_book(n_accounts, n_assets, lots, n_models=3, seed=seed, date=DATE)
    return Book(path=None, kind="parquet", tables={k: _normalise(k, v) for k, v in tables.items()}, checksums={})


def _datas(book: Book) -> list:
    context = make_context(book, DATE)
    builder = CaseBuilder(context)
    lots, restrictions = book["lots"], book["restrictions"]
    out = []
    for account in book["accounts"].to_dict("records"):
        mine = account["account_id"]
        case, universe = builder.case(account, lots[lots["account_id"] == mine],
                                      restrictions[restrictions["account_id"] == mine], {})
        out.append(prepare(case.portfolio, case.targets, case.market, case.settings, **case.options(),
                           universe=universe, lot_slots=context.lot_slots))
    return out


@pytest.fixture(scope="module")
def datas():
    return _datas(_book(10, 20, 3, seed=3))


def _first_in_first_out(data, trade):
    """In an untaxed account an asset's lots are interchangeable: any split of its sale among
    them has the same objective, so solvers may pick different ones. Compared as the sale
    per asset handed to the lots first in, first out (what the rebalancer does there)."""
    if not lots_interchangeable(data):
        return trade
    return unpool_sells(data, dataclasses.replace(trade, sell=trade.sold(data)))


def test_direct_solves_equal_the_chain_including_bounded_resolves(datas):
    chain_program = Program(datas[0].shape)
    direct = DirectProgram(Program(datas[0].shape))
    assert direct.direct
    rng = np.random.default_rng(0)
    for data in datas:
        # a wash-sale style re-solve: only the bounds change (the limits-only update path)
        blocked = rng.random(data.shape.n_assets) < 0.3
        bounded = data.with_bounds(buy_max=np.where(blocked, 0.0, data.buy_max),
                                   lot_sell_max=np.where(np.repeat(~blocked, data.shape.lot_slots), 0.0,
                                                         data.lot_sell_max))
        for case in (data, bounded):
            expected, expected_outcome = chain_program.solve(case)
            got, outcome = direct.solve(case)
            assert outcome.solver == expected_outcome.solver == "PIQP"
            assert outcome.accurate
            assert (got.buy >= 0).all() and (got.sell >= 0).all()  # projected like cvxpy's nonneg variables
            got, expected = _first_in_first_out(case, got), _first_in_first_out(case, expected)
            for name in ("buy", "sell", "short"):
                np.testing.assert_allclose(getattr(got, name), getattr(expected, name), atol=1e-6)
            assert chain_program.objective_value(case, got) == pytest.approx(
                chain_program.objective_value(case, expected), abs=1e-5)
    assert direct.direct_solves == 2 * len(datas) and direct.fallbacks == 0


def test_a_chain_not_led_by_piqp_goes_to_the_program(datas):
    data = dataclasses.replace(datas[0], settings=dataclasses.replace(datas[0].settings, solvers=("CLARABEL",)))
    direct = DirectProgram(Program(data.shape))
    trade, outcome = direct.solve(data)
    assert outcome.solver == "CLARABEL" and direct.fallbacks == 1 and direct.direct_solves == 0
    expected, _ = Program(data.shape).solve(data)
    np.testing.assert_allclose(trade.buy, expected.buy, atol=1e-6)


def test_fast_path_results_equal_the_rebalancer_with_wash_sale_settling(datas):
    rebalancer = Rebalancer(direct=False)
    fast = Rebalancer()
    settled = 0
    for data in datas:
        expected = rebalancer.solve(data)
        got = fast.solve(data)
        assert got.wash_sale_fixes == expected.wash_sale_fixes
        settled += bool(expected.wash_sale_fixes)
        assert got.objective_bps == pytest.approx(expected.objective_bps, abs=1e-5)
        # the fast path solves an equivalent, smaller QP (folded squares, bounds for rows): its
        # answer agrees to solver accuracy, where the objective is flat (1e-9 of NAV in objective
        # allows ~1e-5 of NAV in a trade of an asset with little impact and specific risk)
        np.testing.assert_allclose(got.trades["trade_usd"], expected.trades["trade_usd"], atol=1e-5 * got.nav_usd)
        assert got.solver == expected.solver
        # whole shares: the same, except where solver noise crosses a rounding edge (one share)
        whole = rebalancer.solve(data, whole_units=True)
        whole_got = fast.solve(data, whole_units=True)
        moved = (whole_got.trades["shares"] - whole.trades["shares"]).abs()
        assert moved.max() <= 1.0 + 1e-9 and (moved > 1e-9).sum() <= 2
    assert settled >= 3  # the book does exercise the conflict settling
    assert fast._direct[datas[0].shape].direct_solves > 0 and not rebalancer._direct


def test_a_chunk_gives_the_orders_of_per_account_rebalance(tmp_path):
    from optimizer.batch.runner import _chunks
    from optimizer.batch.store import load_book, write_parquet
    from optimizer.batch.worker import WorkOptions, solve_chunk

    tables = synthetic_book(8, 12, 2, n_models=2, seed=11, date=DATE)
    path = write_parquet(tables, tmp_path / "book")
    book = load_book(path)
    context = make_context(book, DATE)
    token, blob = context.blob()
    accounts = book["accounts"].sort_values("account_id").reset_index(drop=True)
    (chunk,) = _chunks(accounts, book, 100)
    options = WorkOptions(whole_shares=True, orders=OrderRules(whole_shares=True))
    diagnostics = solve_chunk(token, blob, chunk, str(tmp_path / "parts"), "r1", 60.0, None, options)
    assert (diagnostics["status"] == "ok").all()
    (part,) = (tmp_path / "parts").iterdir()
    orders = pd.read_parquet(part / "orders.parquet")
    for account_id in accounts["account_id"]:
        case, universe, slots = account_case(book, DATE, account_id)
        result = rebalance(case.portfolio, case.targets, case.market, case.settings, **case.options(),
                           universe=universe, lot_slots=slots, whole_units=True)
        floor = max(case.settings.min_cash_usd, case.settings.min_cash_weight * result.nav_usd)
        expected = orders_frame(result, account_id, rules=OrderRules(whole_shares=True), cash_floor_usd=floor)
        got = orders[orders["account_id"] == account_id].reset_index(drop=True)
        columns = ["asset", "side", "shares", "notional", "lot_ids", "lot_shares", "reason"]
        pd.testing.assert_frame_equal(got[columns], expected[columns].reset_index(drop=True), check_dtype=False)
