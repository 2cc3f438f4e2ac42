"""The optimizer policy's fast decision path gives the checked path's answers.

* every decision's trusted :class:`Market` and :class:`Portfolio` equal, field by field and
  bit for bit, what the checking constructors make of the same inputs, and every solve's
  trade and lot sales read off the solution equal the result's tables;
* a whole backtest is bit-identical with ``validate_inputs`` on and off (NAV, trades and
  lot reliefs per date, final lots);
* lot groups read from the ledger's arrays equal those from its lots frame, and the slot
  sharing's shortcut equals the sharing rule it skips (an independent copy of that rule).
"""

from dataclasses import fields
from itertools import product

import numpy as np
import pandas as pd
import pytest

from optimizer.backtest import BacktestConfig, CostModel, Simulator
from optimizer.backtest.ledger import Ledger
from optimizer.errors import InputError
from optimizer.model import Market, Portfolio, RiskModel, TaxRules
from optimizer.policies import OptimizerPolicy
from optimizer.policies.lot_groups import _slots_per_kind, group_lot_arrays, group_lots
from optimizer.result import build_result


def volatile_prices(n_assets: int = 5, days: int = 320, seed: int = 11) -> pd.DataFrame:
    """Seeded log-normal daily prices (30-45% a year), so lots gain and lose and the policy
    harvests, meets the wash-sale window and trades in small amounts."""
    rng = np.random.default_rng(seed)
    vol = np.linspace(0.30, 0.45, n_assets) / np.sqrt(252)
    common = rng.standard_normal((days, 1)) * 0.6
    shocks = (common + 0.8 * rng.standard_normal((days, n_assets))) * vol
    levels = 100.0 * np.exp(np.cumsum(shocks, axis=0))
    return pd.DataFrame(levels, index=pd.bdate_range("2021-01-04", periods=days),
                        columns=[f"S{i}" for i in range(n_assets)])


def assert_same_fields(checked, fast) -> None:
    """Every dataclass field of ``fast`` equals ``checked``'s exactly (values, dtypes, indexes)."""
    assert type(checked) is type(fast)
    for f in fields(checked):
        a, b = getattr(checked, f.name), getattr(fast, f.name)
        if isinstance(a, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b, check_exact=True, check_index_type=True, check_column_type=True,
                                          obj=f.name)
        elif isinstance(a, pd.Series):
            pd.testing.assert_series_equal(a, b, check_exact=True, check_index_type=True, obj=f.name)
        else:
            assert type(a) is type(b) and (a is b or a == b), f.name


class Comparing(OptimizerPolicy):
    """Builds every decision's inputs both ways and checks they are the same objects."""

    compared = 0

    def _inputs(self, date, state, risk, groups):
        self.validate_inputs = True
        checked_market, checked_portfolio = super()._inputs(date, state, risk, groups)
        self.validate_inputs = False
        market, portfolio = super()._inputs(date, state, risk, groups)
        assert_same_fields(checked_market, market)
        assert_same_fields(checked_portfolio, portfolio)
        self.compared += 1
        self.saw_losses = getattr(self, "saw_losses", False) or len(portfolio.recent_loss_sales) > 0
        self.saw_buys = getattr(self, "saw_buys", False) or len(portfolio.recent_buys) > 0
        return market, portfolio

    def _data(self, date, state, risk, targets, groups, settings):
        """Compares the inputs (the data itself is built from arrays: tests/policies/test_decision_data.py)."""
        if not self.validate_inputs:
            self._inputs(date, state, risk, groups)
        return super()._data(date, state, risk, targets, groups, settings)

    def _solve(self, data):
        """The answer read off the solution equals the result's tables."""
        answer = super()._solve(data)
        solved = answer.solved
        result = build_result(solved.data, solved.trade, solver=solved.solver, accurate=solved.accurate,
                              attempts=solved.attempts, solve_seconds=0.0, wash_sale_fixes=solved.wash_sale_fixes,
                              whole_units=self.whole_shares, program=solved.program)
        trades, sales = result.trades, result.lot_sales
        assert np.array_equal(answer.trade_usd, trades["trade_usd"].reindex(list(answer.assets)).to_numpy())
        assert answer.lot_sales == [(str(a), str(g), float(q)) for g, a, q in
                                    zip(sales.index, sales["asset"], sales["shares"])]
        self.solves = getattr(self, "solves", 0) + 1
        self.saw_sales = getattr(self, "saw_sales", False) or len(sales) > 0
        return answer


def stressed_costs(prices: pd.DataFrame) -> CostModel:
    """Per-asset spreads and ADV, scaled each date by a stress level (the Market's Series then
    change every decision)."""
    names = list(prices.columns)
    level = pd.Series(np.linspace(12.0, 60.0, len(prices)), index=prices.index)
    return CostModel(half_spread=pd.Series(np.linspace(2e-4, 6e-4, len(names)), index=names), commission=1e-4,
                     adv_usd=pd.Series(np.linspace(5e6, 5e7, len(names)), index=names), stress=level)


@pytest.mark.parametrize("stressed", [False, True])
def test_trusted_inputs_equal_the_checked_ones_on_every_decision(stressed):
    prices = volatile_prices()
    target = pd.Series(0.95 / prices.shape[1], index=prices.columns)
    costs = stressed_costs(prices) if stressed else CostModel()
    policy = Comparing(target, costs=costs, every="W", lookback=40, n_factors=2, risk_aversion=30.0)
    Simulator(prices, BacktestConfig(tax=TaxRules(), costs=costs)).run(policy)
    assert policy.compared == policy.decisions > 40
    assert policy.saw_losses and policy.saw_buys          # both non-empty and empty books were compared
    assert policy.solves > policy.decisions and policy.saw_sales


@pytest.mark.parametrize("options", [dict(every="W"), dict(every="D", whole_shares=True, min_holding_days=10,
                                                            min_harvest_usd=50.0)])
def test_a_backtest_is_bit_identical_with_and_without_input_checks(options):
    prices = volatile_prices(days=240 if options["every"] == "W" else 75)
    target = pd.Series(0.95 / prices.shape[1], index=prices.columns)
    runs = {}
    for validate in (True, False):
        policy = OptimizerPolicy(target, lookback=40, n_factors=2, risk_aversion=30.0, **options)
        policy.validate_inputs = validate
        runs[validate] = (Simulator(prices, BacktestConfig(tax=TaxRules())).run(policy), policy)
    (checked, checked_policy), (fast, fast_policy) = runs[True], runs[False]
    assert fast_policy.decisions == checked_policy.decisions > 20
    assert np.count_nonzero(checked.traded_usd) > 20 and len(checked.lot_reliefs) > 0
    for name in ("nav_usd", "cash_usd", "holdings_usd", "traded_usd", "tax_paid_usd"):
        assert np.array_equal(getattr(checked, name), getattr(fast, name)), name
    for name in ("final_lots", "lot_reliefs", "buys"):
        pd.testing.assert_frame_equal(getattr(checked, name), getattr(fast, name), check_exact=True, obj=name)


@pytest.mark.parametrize("seed, max_groups", [(0, 4), (1, 8), (2, 5)])
def test_lot_groups_from_ledger_arrays_equal_those_from_the_lots_frame(seed, max_groups):
    rng = np.random.default_rng(seed)
    assets = ["A", "B", "C", "D", "E"]
    ledger = Ledger(assets)
    days = pd.bdate_range("2020-01-02", periods=400)
    for k in rng.choice(len(days), size=120, replace=False):
        i = int(rng.choice([0, 2, 3, 4]))               # B never held: a gap in the ledger's asset positions
        ledger.buy(i, float(rng.uniform(1, 50)), float(rng.uniform(60, 140)), days[k])
    price = rng.uniform(70, 130, len(assets))
    date = days[-1]
    from_frame = group_lots(ledger.lots_frame(), pd.Series(price, index=assets), date, 365, max_groups)
    lot_id, asset, shares, basis, acquired = ledger.lot_arrays()
    from_arrays = group_lot_arrays(lot_id, asset, np.asarray(assets, dtype=object), price, shares, basis, acquired,
                                   date, 365, max_groups)
    assert from_arrays.lots.groupby("asset").size().max() <= max_groups < 120 / 4
    pd.testing.assert_frame_equal(from_frame.lots, from_arrays.lots, check_exact=True)
    for name in ("loss", "member_group", "member_id", "member_quantity"):
        assert np.array_equal(getattr(from_frame, name), getattr(from_arrays, name)), name


def reference_slots(counts: np.ndarray, max_groups: int) -> np.ndarray:
    """The slot-sharing rule as first written (proportional shares, rounding handed out by size)."""
    share = np.ones(len(counts), dtype=int)
    spare = max_groups - len(counts)
    extra = counts - 1
    if spare > 0 and extra.sum() > 0:
        share += np.minimum(np.floor(extra / extra.sum() * spare).astype(int), extra)
        for k in np.argsort(-counts, kind="stable"):
            add = min(int(counts[k] - share[k]), max_groups - int(share.sum()))
            share[k] += max(add, 0)
    return share


def test_slot_sharing_shortcut_equals_the_full_rule():
    checked = 0
    for n_kinds in range(1, 5):
        for counts in product(range(1, 8), repeat=n_kinds):
            for max_groups in range(4, 12):
                counts_array = np.array(counts)
                assert np.array_equal(_slots_per_kind(counts_array, max_groups),
                                      reference_slots(counts_array, max_groups)), (counts, max_groups)
                checked += 1
    assert checked > 20_000


def test_ledger_lot_arrays_and_recent_buys_read_the_books():
    ledger = Ledger(["A", "B"])
    ledger.buy(1, 10.0, 50.0, "2021-03-01")
    ledger.buy(0, 5.0, 20.0, "2021-03-03")
    ledger.buy(1, 2.0, 55.0, "2021-04-20")
    lot_id, asset, shares, basis, acquired = ledger.lot_arrays()
    assert lot_id.tolist() == ["L0000001", "L0000000", "L0000002"]        # asset by asset, as lots_frame
    assert asset.tolist() == [0, 1, 1] and shares.tolist() == [5.0, 10.0, 2.0] and basis.tolist() == [20.0, 50.0, 55.0]
    assert np.array_equal(acquired, np.array(["2021-03-03", "2021-03-01", "2021-04-20"], dtype="datetime64[ns]"))
    recent = ledger.recent_buys("2021-04-25", 30)
    assert recent["asset"].tolist() == ["B"] and recent["lot_id"].tolist() == ["L0000002"]
    assert recent["acquired"].tolist() == [pd.Timestamp("2021-04-20")]
    everything = ledger.recent_buys("2021-04-25", 60)
    assert everything["lot_id"].tolist() == ["L0000000", "L0000001", "L0000002"]       # oldest first
    assert len(ledger.recent_buys("2021-02-01", 30)) == 0
    empty = Ledger(["A"]).lot_arrays()
    assert [len(column) for column in empty] == [0] * 5


def test_trusted_constructors_check_nothing_so_bad_data_goes_through():
    """What the trusted path gives up (so it stays for data valid by construction): the
    checking constructor refuses a negative price, the trusted one keeps it."""
    from optimizer.errors import InputError
    names = pd.Index(["A"], dtype=str)
    risk_model = RiskModel.from_covariance(pd.DataFrame([[0.04]], index=names, columns=names), 1)
    market = dict(date=pd.Timestamp("2021-01-04"), prices=pd.Series([-1.0], index=names),
                  asset_class=pd.Series(["A"], index=names), risk=risk_model,
                  volatility=pd.Series([0.01], index=names), adv_usd=pd.Series([1e9], index=names),
                  half_spread=pd.Series([0.0], index=names), commission=pd.Series([0.0], index=names))
    with pytest.raises(InputError):
        Market(**market)
    assert Market.trusted(**market).prices.iloc[0] == -1.0
    lots = pd.DataFrame({"lot_id": ["x"], "asset": ["A"], "quantity": [-5.0], "cost_basis": [1.0],
                         "acquired": pd.to_datetime(["2020-01-02"])})
    book = dict(cash_usd=0.0, recent_loss_sales=pd.Series([], index=pd.Index([], dtype=str), dtype="datetime64[ns]"),
                recent_buys=pd.DataFrame({"asset": [], "lot_id": [], "acquired": pd.to_datetime([])}))
    with pytest.raises(InputError):
        Portfolio(lots=lots, **book)
    assert Portfolio.trusted(lots, **book).lots["quantity"].iloc[0] == -5.0


def test_risk_model_still_names_the_first_non_finite_loading():
    """The loadings' finiteness is checked on the whole matrix now (100 assets: 44 -> 2.5 ms a
    model); the error still names the first bad row and factor."""
    keys, factors = ["AAA", "BBB", "CCC"], ["F0", "F1"]
    loadings = pd.DataFrame([[1.0, 0.0], [0.5, np.inf], [np.nan, 1.0]], index=keys, columns=factors)
    with pytest.raises(InputError) as error:
        RiskModel(loadings, pd.DataFrame(np.eye(2) * 0.01, index=factors, columns=factors),
                  pd.Series(0.01, index=keys))
    assert error.value.field == "risk.loadings[BBB]" and error.value.asset == "F1"
