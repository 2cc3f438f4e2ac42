"""Plain accounts prepared from a chunk's numpy columns equal ``prepare`` of their cases.

Oracle: the general path, ``CaseBuilder.case`` then :func:`optimizer.prepare`, field by field.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from optimizer.batch.accounts import CaseBuilder, make_context
from optimizer.batch.fast_prepare import OTHER_TABLES, ChunkLots, ChunkPreparer
from optimizer.batch.store import Book, _normalise
from optimizer.problem_data import prepare
from problems.books import synthetic_book

DATE = "2024-06-28"


def _book(tables) -> Book:
    return Book(path=None, kind="parquet", tables={k: _normalise(k, v) for k, v in tables.items()}, checksums={})


def _general(builder: CaseBuilder, book: Book, account: dict):
    mine = account["account_id"]
    lots, restrictions = book["lots"], book["restrictions"]
    case, universe = builder.case(account, lots[lots["account_id"] == mine],
                                  restrictions[restrictions["account_id"] == mine], {})
    return prepare(case.portfolio, case.targets, case.market, case.settings, **case.options(), universe=universe,
                   lot_slots=builder.context.lot_slots)


def _assert_same(got, expected) -> None:
    for f in dataclasses.fields(expected):
        a, b = getattr(got, f.name), getattr(expected, f.name)
        if isinstance(b, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape, f.name
            if b.dtype.kind == "f":
                np.testing.assert_array_equal(a, b, err_msg=f.name)
            else:
                assert (a == b).all(), f.name
        else:
            assert a == b, f.name


def _fast(book: Book, **account_changes):
    context = make_context(book, DATE)
    preparer = ChunkPreparer(CaseBuilder(context))
    lots = ChunkLots(book["lots"])
    counts = {name: book[name]["account_id"].value_counts().to_dict() for name in OTHER_TABLES if name in book.tables}
    out = {}
    for account in book["accounts"].to_dict("records"):
        mine = account["account_id"]
        frame = book["lots"][book["lots"]["account_id"] == mine]
        rules = book["restrictions"][book["restrictions"]["account_id"] == mine]
        out[mine] = preparer.prepare(account, lots, {n: c.get(mine, 0) for n, c in counts.items()},
                                     lots_frame=lambda frame=frame: frame, restrictions_frame=lambda rules=rules: rules)
    return out, preparer


def test_every_plain_account_equals_prepare_of_its_case():
    tables = synthetic_book(40, 15, 3, n_models=3, seed=7, date=DATE)
    accounts = tables["accounts"]
    accounts["realized_gain_usd"] = np.where(np.arange(len(accounts)) % 3 == 0, 12_345.0, np.nan)
    accounts["risk_aversion"] = np.where(np.arange(len(accounts)) % 4 == 0, 3.0, np.nan)
    # a lot bought inside the wash-sale window blocks loss sales of the asset's other lots
    recent = tables["lots"].index[::17]
    tables["lots"].loc[recent, "acquired"] = pd.Timestamp(DATE) - pd.Timedelta(days=5)
    # lots in shuffled row order: slots follow each account's own row order
    tables["lots"] = tables["lots"].sample(frac=1.0, random_state=1).reset_index(drop=True)
    # restrictions of every kind on a few accounts (flags, a trade cap, a short allowance)
    assets = sorted(tables["market"]["asset"])
    tables["restrictions"] = pd.DataFrame({
        "account_id": ["ACC000001", "ACC000001", "ACC000002", "ACC000005", "ACC000006"],
        "asset": [assets[0], assets[1], assets[2], assets[3], assets[4]],
        "no_buy": [True, False, False, None, False], "no_sell": [False, True, False, False, False],
        "no_trade": [False, False, True, False, False], "allow_short": [False, False, False, False, True],
        "max_trade_usd": [np.nan, np.nan, np.nan, 5_000.0, np.nan], "max_short_usd": [np.nan] * 4 + [20_000.0]})
    book = _book(tables)
    fast, preparer = _fast(book)
    builder = CaseBuilder(make_context(book, DATE))
    restricted = set(book["restrictions"]["account_id"])
    assert len(restricted) == 4
    for account in book["accounts"].to_dict("records"):
        got = fast[account["account_id"]]
        assert got is not None
        _assert_same(got, _general(builder, book, account))
    assert fast["ACC000002"].buy_max[fast["ACC000002"].shape.assets.index(assets[2])] == 0.0  # not vacuous
    assert fast["ACC000006"].shape.shorts
    assert preparer.fast >= 36


@pytest.mark.parametrize("change", ["negative quantity", "late lot", "duplicate lot id", "nan basis", "nan cash",
                                    "outside holding", "household", "bad restriction"])
def test_accounts_the_general_path_must_judge_are_left_to_it(change):
    tables = synthetic_book(6, 8, 2, n_models=2, seed=2, date=DATE)
    lots, accounts = tables["lots"], tables["accounts"]
    mine = lots["account_id"] == "ACC000003"
    first = lots.index[mine][0]
    if change == "negative quantity":
        lots.loc[first, "quantity"] = -1.0
    elif change == "late lot":
        lots.loc[first, "acquired"] = pd.Timestamp(DATE) + pd.Timedelta(days=1)
    elif change == "duplicate lot id":
        lots.loc[lots.index[mine][1], "lot_id"] = lots.loc[first, "lot_id"]
    elif change == "nan basis":
        lots.loc[first, "cost_basis"] = np.nan
    elif change == "nan cash":
        accounts.loc[accounts["account_id"] == "ACC000003", "cash_usd"] = np.nan
    elif change == "outside holding":
        extra = tables["market"].iloc[[0]].copy()
        extra["asset"] = extra["asset_class"] = "ZOUT"
        tables["market"] = pd.concat([tables["market"], extra], ignore_index=True)
        risk = tables["risk"].iloc[[0]].copy()
        risk["key"] = "ZOUT"
        tables["risk"] = pd.concat([tables["risk"], risk], ignore_index=True)
        lots.loc[first, "asset"] = "ZOUT"
    elif change == "bad restriction":  # "yes" is not a flag: Restrictions refuses it on either path
        tables["restrictions"] = pd.DataFrame({"account_id": ["ACC000003"], "asset": [lots.loc[first, "asset"]],
                                               "no_buy": ["yes"]})
    elif change == "household":
        accounts["household_id"] = ""
        accounts.loc[accounts["account_id"] == "ACC000003", "household_id"] = "H1"
    fast, _ = _fast(_book(tables))
    assert fast["ACC000003"] is None
    assert sum(v is not None for v in fast.values()) >= 4


def test_typed_restriction_rows_read_with_numpy_equal_restrictions():
    """Restriction rows whose columns already have Restrictions' types (bool flags, float sizes)
    are read with numpy (``_RuleArrays``): the same ``flag``/``size`` answers as ``Restrictions``
    (the oracle), and such accounts still equal ``prepare`` of their cases; rows it must not
    judge (a negative size, a duplicate asset, a text flag) are left to ``Restrictions``."""
    from optimizer.batch.fast_prepare import _RuleArrays
    from optimizer.model import Restrictions
    from optimizer.model.restrictions import FLAG_COLUMNS, SIZE_COLUMNS

    tables = synthetic_book(12, 10, 2, n_models=2, seed=5, date=DATE)
    assets = sorted(tables["market"]["asset"])
    rules = pd.DataFrame({
        "account_id": ["ACC000001", "ACC000001", "ACC000001", "ACC000004", "ACC000007"],
        "asset": [assets[0], assets[1], "NOT_IN_BOOK", assets[2], assets[3]],
        "no_buy": [True, False, False, False, False], "no_sell": [False, True, False, False, False],
        "no_trade": [False, False, True, True, False], "allow_short": [False, False, False, False, True],
        "max_trade_usd": [np.nan, 2_500.0, np.nan, np.nan, 7_000.0],
        "max_short_usd": [np.nan, np.nan, np.nan, np.nan, 15_000.0]})
    asked = assets + ["NOT_IN_BOOK", "ELSEWHERE"]
    for account, rows in rules.groupby("account_id"):
        quick = _RuleArrays.of(rows)
        assert quick is not None
        oracle = Restrictions(rows.drop(columns=["account_id"]).set_index("asset"))
        for column in FLAG_COLUMNS:
            np.testing.assert_array_equal(quick.flag(column, asked), oracle.flag(column, asked), err_msg=column)
        for column in SIZE_COLUMNS:
            np.testing.assert_array_equal(quick.size(column, asked), oracle.size(column, asked), err_msg=column)
    only_flags = rules[["account_id", "asset", "no_buy"]].iloc[:2]
    np.testing.assert_array_equal(_RuleArrays.of(only_flags).size("max_trade_usd", asked), np.full(len(asked), np.inf))
    assert _RuleArrays.of(rules.assign(max_trade_usd=-1.0)) is None
    assert _RuleArrays.of(pd.concat([rules.iloc[:1], rules.iloc[:1]])) is None
    assert _RuleArrays.of(rules.assign(no_buy="yes")) is None

    tables["restrictions"] = rules[rules["asset"] != "NOT_IN_BOOK"].reset_index(drop=True)
    book = _book(tables)
    fast, _ = _fast(book)
    builder = CaseBuilder(make_context(book, DATE))
    for account in book["accounts"].to_dict("records"):
        got = fast[account["account_id"]]
        assert got is not None
        _assert_same(got, _general(builder, book, account))
    restricted = fast["ACC000004"]
    assert restricted.buy_max[restricted.shape.assets.index(assets[2])] == 0.0   # not vacuous
