"""A chunk's tables built from numpy columns equal the general path's per-account tables.

Oracle: :func:`optimizer.trade_file.orders_frame` and the result's own ``trades`` /
``lot_sales`` tables (what the worker wrote per account before), for every account of a
book with withdrawals, inflows, restrictions, dust and wash-sale fixes.
"""

from __future__ import annotations

import pandas as pd
import pytest

from optimizer.batch.accounts import CaseBuilder, make_context
from optimizer.batch.bulk_output import ChunkTables, account_columns
from optimizer.batch.store import Book, _normalise
from optimizer.batch.worker import LOT_SALE_COLUMNS, TRADE_COLUMNS, _outputs
from optimizer.problem_data import prepare
from optimizer.rebalancer import Rebalancer
from optimizer.trade_file import ORDER_COLUMNS, OrderRules, orders_frame
from problems.books import synthetic_book

DATE = "2024-06-28"


@pytest.mark.parametrize("whole", [True, False])
def test_columns_equal_the_general_path_tables(whole):
    tables = synthetic_book(12, 15, 2, n_models=2, seed=4, date=DATE)
    book = Book(path=None, kind="parquet", tables={k: _normalise(k, v) for k, v in tables.items()}, checksums={})
    builder = CaseBuilder(make_context(book, DATE))
    rules = OrderRules(whole_shares=whole, min_notional_usd=250.0)  # large enough to drop some dust
    rebalancer = Rebalancer()
    bulk = ChunkTables({"trades": TRADE_COLUMNS, "lot_sales": LOT_SALE_COLUMNS, "orders": ORDER_COLUMNS})
    general = ChunkTables({"trades": TRADE_COLUMNS, "lot_sales": LOT_SALE_COLUMNS, "orders": ORDER_COLUMNS})
    fixes = 0
    for account in book["accounts"].to_dict("records"):
        mine = account["account_id"]
        lots, restrictions = book["lots"], book["restrictions"]
        case, universe = builder.case(account, lots[lots["account_id"] == mine],
                                      restrictions[restrictions["account_id"] == mine], {})
        data = prepare(case.portfolio, case.targets, case.market, case.settings, **case.options(),
                       universe=universe, lot_slots=builder.context.lot_slots)
        result, solved, trade = rebalancer.solve_parts(data, whole_units=whole)
        fixes += bool(result.wash_sale_fixes)
        floor = max(case.settings.min_cash_usd, case.settings.min_cash_weight * result.nav_usd)
        columns = account_columns(mine, solved, trade, result, rules, floor)
        bulk.add_columns(columns)
        row = {}
        frames = _outputs(result, mine, orders_frame(result, mine, rules=rules, cash_floor_usd=floor), row)
        general.add_frames({k: v for k, v in frames.items() if k != "overlay"})
        assert row["n_trades"] == len(columns["trades"]["asset"])
        assert row["n_orders"] == len(columns["orders"]["asset"])
        assert row["n_lot_sales"] == len(columns["lot_sales"]["lot_id"])
    assert fixes >= 2
    for name in ("trades", "lot_sales", "orders"):
        got, expected = bulk.frame(name), general.frame(name)
        assert len(expected) > 0
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
