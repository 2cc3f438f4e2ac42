"""The batch's wash-sale search setting (``execute(conflict_search=...)``).

Oracle: the library's own solve of each account (``account_case`` then ``Rebalancer.solve_case``):
with ``LIBRARY_SEARCH`` the batch reports the same objective and the same wash-sale decisions.
"""

from __future__ import annotations

import pandas as pd
import pytest

from batch_books import DATE, small_book
from optimizer import Rebalancer
from optimizer.batch import account_case, execute, load_book
from optimizer.batch.output import day_dir
from optimizer.batch.worker import BATCH_CONFLICT_SEARCH, WorkOptions
from optimizer.wash_sale import LIBRARY_SEARCH
from problems.books import write_parquet_book


def test_the_search_is_part_of_the_input_fingerprint():
    """Resume never mixes answers of two searches: each gives its own fingerprint."""
    assert WorkOptions(conflict_search=LIBRARY_SEARCH).fingerprint() != \
        WorkOptions(conflict_search=BATCH_CONFLICT_SEARCH).fingerprint()


def test_library_search_gives_the_library_answers(tmp_path, batch_client):
    tables = small_book(8, seed=11)
    tables["accounts"]["short_term_rate"] = 0.37   # taxable: loss sales matter, so conflicts arise
    tables["accounts"]["long_term_rate"] = 0.20
    tables["restrictions"] = tables["restrictions"].iloc[:0]
    book = write_parquet_book(tables, tmp_path / "book")
    execute(book, DATE, tmp_path / "out", client=batch_client, progress=False, chunk_size=4, whole_shares=False,
            conflict_search=LIBRARY_SEARCH)
    diag = pd.read_parquet(day_dir(tmp_path / "out", DATE) / "diagnostics.parquet").set_index("account_id")
    loaded = load_book(book)
    fixed = 0
    for account_id in diag.index:
        case, universe, slots = account_case(loaded, DATE, account_id)
        alone = Rebalancer().solve_case(case, universe=universe, lot_slots=slots)
        assert diag.loc[account_id, "status"] == "ok"
        assert diag.loc[account_id, "objective_bps"] == pytest.approx(alone.objective_bps, abs=1e-6)
        assert diag.loc[account_id, "wash_sale_fixes"] == len(alone.wash_sale_fixes)
        fixed += len(alone.wash_sale_fixes) > 0
    assert fixed >= 1      # not vacuous: some accounts settle wash-sale conflicts
