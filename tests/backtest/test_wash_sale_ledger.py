"""The ledger's wash-sale rule (IRS Pub. 550) against hand-computed cases, and bookkeeping
properties on random buy/sell sequences.

Rates 40% short / 20% long, 365-day holding period, 30-day window, 3000 dollars of
ordinary-income offset a year. Day counts in comments are calendar days.
"""

import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.backtest import Ledger
from optimizer.backtest.audit import wash_sale_violations
from optimizer.backtest.ledger import RECENT_BUY_COLUMNS
from optimizer.model import TaxRules

TAX = TaxRules(short_term_rate=0.40, long_term_rate=0.20, long_term_days=365)


def ledger(*assets: str, tax: TaxRules = TAX) -> Ledger:
    return Ledger(list(assets or ["A"]), tax, "fifo")


def lots(book: Ledger) -> dict[str, tuple[float, float, pd.Timestamp]]:
    """lot_id -> (shares, basis per share, holding-period start)."""
    return {row.lot_id: (row.quantity, row.cost_basis, row.acquired) for row in book.lots_frame().itertuples()}


def test_buy_after_a_loss_sale_disallows_it_into_the_new_lots_basis_and_holding_period():
    book = ledger()
    book.buy(0, 10.0, 100.0, "2021-01-04")                       # L0
    assert book.sell(0, 10.0, 80.0, "2021-03-01") == (-200.0, 0.0)   # held 56 days; nothing bought yet
    assert book.year_short_usd == -200.0
    book.buy(0, 10.0, 85.0, "2021-03-15")                        # L1, 14 days after: replaces all 10 shares
    assert book.year_short_usd == pytest.approx(0.0)
    assert book.total_short_usd == pytest.approx(0.0)
    # basis 85 + 200 / 10; acquired 2021-03-15 less the 56 days L0 was held
    assert lots(book) == {"L0000001": (10.0, pytest.approx(105.0), pd.Timestamp("2021-01-18"))}
    washes = book.wash_sales_frame()
    assert washes[["lot_id", "shares", "disallowed_usd", "replacement_lot_id", "kind"]].values.tolist() == [
        ["L0000000", 10.0, pytest.approx(200.0), "L0000001", "lot"]]
    assert washes["date"].tolist() == [pd.Timestamp("2021-03-01")]
    assert washes["booked"].tolist() == [pd.Timestamp("2021-03-15")]
    assert book.disallowed_loss_usd() == pytest.approx(200.0)


def test_buy_before_a_loss_sale_held_at_the_sale_replaces_it():
    book = ledger()
    book.buy(0, 10.0, 100.0, "2021-01-04")                       # L0
    book.buy(0, 10.0, 90.0, "2021-02-20")                        # L1, 9 days before the sale
    short, long = book.sell(0, 10.0, 80.0, "2021-03-01", specific={"L0000000": 10.0})
    assert (short, long) == (pytest.approx(0.0), 0.0)              # -200 booked, all disallowed at once
    assert book.reliefs_frame()["gain_usd"].tolist() == [-200.0]  # the relief log keeps the booked loss
    assert lots(book) == {"L0000001": (10.0, pytest.approx(110.0), pd.Timestamp("2021-02-20") - pd.Timedelta(days=56))}
    assert book.wash_sales_frame()["booked"].tolist() == [pd.Timestamp("2021-03-01")]


@pytest.mark.parametrize("buy_day, washed", [("2021-03-31", True), ("2021-04-01", False),
                                             ("2021-01-30", True), ("2021-01-29", False)])
def test_the_window_is_30_days_either_side_inclusive(buy_day, washed):
    book = ledger()
    book.buy(0, 10.0, 100.0, "2020-06-01")                       # L0, the loss lot
    if buy_day < "2021-03-01":
        book.buy(0, 10.0, 90.0, buy_day)
        book.sell(0, 10.0, 80.0, "2021-03-01", specific={"L0000000": 10.0})
    else:
        book.sell(0, 10.0, 80.0, "2021-03-01")
        book.buy(0, 10.0, 90.0, buy_day)
    assert book.year_short_usd == pytest.approx(0.0 if washed else -200.0)
    assert len(book.wash_sales_frame()) == int(washed)


def test_fewer_shares_bought_than_sold_disallow_pro_rata():
    book = ledger()
    book.buy(0, 10.0, 100.0, "2021-01-04")
    book.sell(0, 10.0, 80.0, "2021-03-01")                       # 10 loss shares, 20 each
    book.buy(0, 4.0, 85.0, "2021-03-10")                         # replaces 4 of them
    assert book.year_short_usd == pytest.approx(-200.0 + 4 * 20.0)
    assert lots(book)["L0000001"][:2] == (4.0, pytest.approx(105.0))
    book.buy(0, 3.0, 86.0, "2021-03-20")                         # 3 more, still inside the window
    assert book.year_short_usd == pytest.approx(-200.0 + 7 * 20.0)
    book.buy(0, 5.0, 86.0, "2021-04-05")                         # 35 days after: replaces nothing
    assert book.year_short_usd == pytest.approx(-60.0)
    assert book.wash_sales_frame()["shares"].tolist() == [4.0, 3.0]


def test_more_shares_bought_than_sold_split_the_lot_and_the_rest_can_replace_another_loss():
    book = ledger()
    book.buy(0, 4.0, 100.0, "2021-01-04")                        # L0
    book.buy(0, 6.0, 70.0, "2021-01-05")                         # L1
    book.sell(0, 4.0, 80.0, "2021-03-01")                        # L0: 4 shares lose 20 each, held 56 days
    book.buy(0, 10.0, 85.0, "2021-03-10")                        # L2: 4 shares replace L0's loss
    held = lots(book)
    assert held["L0000002w0"] == (4.0, pytest.approx(105.0), pd.Timestamp("2021-01-13"))
    assert held["L0000002"] == (6.0, 85.0, pd.Timestamp("2021-03-10"))
    book.sell(0, 6.0, 60.0, "2021-03-12", specific={"L0000001": 6.0})   # L1: loss 60, replaced by L2's free 6
    assert lots(book)["L0000002"] == (6.0, pytest.approx(95.0), pd.Timestamp("2021-03-10") - pd.Timedelta(days=66))
    assert book.year_short_usd == pytest.approx(0.0)
    assert book.wash_sales_frame()["replacement_lot_id"].tolist() == ["L0000002w0", "L0000002"]
    # the split-off lot sold at a loss: its own purchase (L2) replaces nothing; nothing else is left
    book.sell(0, 4.0, 100.0, "2021-03-15", specific={"L0000002w0": 4.0})
    relief = book.reliefs_frame().iloc[-1]
    assert (relief["lot_id"], relief["bought_lot_id"], relief["gain_usd"]) == ("L0000002w0", "L0000002",
                                                                              pytest.approx(-20.0))
    assert book.year_short_usd == pytest.approx(-20.0)
    assert len(book.wash_sales_frame()) == 2


def test_selling_part_of_a_new_lot_at_a_loss_is_not_washed_by_its_own_purchase():
    book = ledger()
    book.buy(0, 10.0, 100.0, "2021-03-01")
    book.sell(0, 5.0, 80.0, "2021-03-10")                        # the other 5 shares are the same purchase
    assert book.year_short_usd == -100.0
    assert book.wash_sales_frame().empty


def test_replacement_shares_sold_before_the_loss_sale_leave_the_loss_allowed():
    book = ledger()
    book.buy(0, 10.0, 100.0, "2021-01-04")                       # L0
    book.buy(0, 10.0, 90.0, "2021-02-20")                        # L1, inside the window before the sale
    book.sell(0, 10.0, 95.0, "2021-02-25", specific={"L0000001": 10.0})   # L1 gone at a gain of 50
    book.sell(0, 10.0, 80.0, "2021-03-01")                       # L0 loses 200: allowed
    assert book.year_short_usd == pytest.approx(50.0 - 200.0)
    assert book.wash_sales_frame().empty


def test_replacement_shares_sold_in_the_same_sale_replace_nothing():
    book = ledger()
    book.buy(0, 10.0, 100.0, "2021-01-04")                       # L0
    book.buy(0, 10.0, 90.0, "2021-02-20")                        # L1
    book.sell(0, 20.0, 80.0, "2021-03-01")                       # both: -200 and -100, both allowed
    assert book.year_short_usd == pytest.approx(-300.0)
    assert book.wash_sales_frame().empty


def test_a_purchase_of_a_substantially_identical_security_triggers_it():
    rules = TaxRules(short_term_rate=0.40, long_term_rate=0.20, long_term_days=365,
                     identical_groups={"VOO": "sp500", "IVV": "sp500"})
    book = ledger("VOO", "IVV", "QQQ", tax=rules)
    book.buy(0, 10.0, 100.0, "2021-01-04")
    book.sell(0, 10.0, 80.0, "2021-03-01")                       # VOO loses 200
    book.buy(2, 10.0, 50.0, "2021-03-05")                        # QQQ: another group
    assert book.year_short_usd == -200.0
    book.buy(1, 5.0, 40.0, "2021-03-06")                         # IVV: same group, replaces 5 shares
    assert book.year_short_usd == pytest.approx(-100.0)
    washes = book.wash_sales_frame()
    assert washes[["asset", "replacement_asset", "disallowed_usd"]].values.tolist() == [["VOO", "IVV", 100.0]]
    assert lots(book)["L0000002"][:2] == (5.0, pytest.approx(60.0))       # 40 + 100 / 5


def test_an_ira_purchase_disallows_the_loss_for_good():
    book = ledger()
    book.buy(0, 10.0, 100.0, "2021-01-04")
    book.sell(0, 10.0, 80.0, "2021-03-01")
    book.record_external_buy("A", 6.0, "2021-03-10", tax_exempt=True)
    assert book.year_short_usd == pytest.approx(-200.0 + 6 * 20.0)
    assert book.lots_frame().empty                               # no basis adjustment anywhere here
    washes = book.wash_sales_frame()
    assert washes[["kind", "replacement_lot_id", "disallowed_usd"]].values.tolist() == [["exempt", "X0000000",
                                                                                         pytest.approx(120.0)]]
    # the IRA shares are spent: they cannot replace another loss
    book.buy(0, 4.0, 100.0, "2021-03-11")
    book.sell(0, 4.0, 90.0, "2021-03-20")                        # own purchase: allowed
    assert book.year_short_usd == pytest.approx(-80.0 - 40.0)


def test_a_taxable_other_account_purchase_before_the_sale_defers_the_loss_there():
    book = ledger()
    book.buy(0, 10.0, 100.0, "2021-01-04")
    book.record_external_buy("B", 10.0, "2021-02-25", tax_exempt=False)   # B: not traded in this account
    book.record_external_buy("A", 10.0, "2021-02-25", tax_exempt=False)
    book.sell(0, 10.0, 80.0, "2021-03-01")
    assert book.year_short_usd == pytest.approx(0.0)
    assert book.wash_sales_frame()[["kind", "replacement_asset"]].values.tolist() == [["external", "A"]]
    recent = book.recent_buys("2021-03-01", 30)
    assert list(recent.columns) == RECENT_BUY_COLUMNS
    assert recent.values.tolist() == [["B", "", pd.Timestamp("2021-02-25")], ["A", "", pd.Timestamp("2021-02-25")]]


def test_a_january_buy_restates_the_closed_december_year():
    book = ledger("A", "B")
    book.buy(0, 100.0, 100.0, "2020-06-01")
    book.buy(1, 100.0, 50.0, "2020-06-01")
    book.cash_usd = 100_000.0
    book.sell(0, 100.0, 50.0, "2020-12-20")                      # A: ST loss 5000, held 202 days
    assert book.settle_tax() == pytest.approx(-0.40 * 3_000)     # offset credited; 2000 to carry
    book.sell(1, 100.0, 80.0, "2021-01-05")                      # B: ST gain 3000; closes 2020
    assert book.carry_short_usd == pytest.approx(2_000.0)
    book.buy(0, 100.0, 55.0, "2021-01-10")                       # 21 days after the loss: it was a wash sale
    # 2020 restated: no loss, no offset, no carry; the 1200 credit is taken back
    assert (book.carry_short_usd, book.carry_long_usd) == (pytest.approx(0.0), pytest.approx(0.0))
    assert book.closed_years[2020] == pytest.approx([0.0, 0.0, 0.0, 0.0, 0.0])
    # 2021: the 3000 gain, no carry left: 1200; plus the 2020 credit reversed: 1200
    assert book.settle_tax() == pytest.approx(1_200.0 + 1_200.0)
    assert book.tax_paid_usd == pytest.approx(1_200.0)
    assert lots(book)["L0000002"] == (100.0, pytest.approx(105.0), pd.Timestamp("2020-06-22"))


def test_a_january_buy_before_the_year_closes_corrects_december_directly():
    book = ledger("A")
    book.buy(0, 100.0, 100.0, "2020-06-01")
    book.sell(0, 100.0, 50.0, "2020-12-20")
    book.buy(0, 40.0, 55.0, "2021-01-10")                        # 2020 still open: no 2021 sale yet
    assert book.tax_year == 2020 and book.year_short_usd == pytest.approx(-3_000.0)
    assert book.settle_tax() == pytest.approx(-0.40 * 3_000)
    # liquidating the replacement (basis 105) at 55 loses 2000 in 2021, all of it offset: credit 800
    assert book.liquidation_tax_usd(np.array([55.0]), "2021-01-10") == pytest.approx(-0.40 * 2_000.0)


def test_the_carried_holding_period_makes_the_replacement_long_term():
    book = ledger()
    book.buy(0, 10.0, 100.0, "2020-03-02")
    book.sell(0, 10.0, 90.0, "2020-12-27")                       # held 300 days, loss 100
    book.buy(0, 10.0, 95.0, "2021-01-05")                        # holding period starts 2020-03-11
    short, long = book.sell(0, 10.0, 120.0, "2021-03-20")        # held 74 days itself, 374 with the carry
    assert (short, long) == (0.0, pytest.approx(10 * (120.0 - 105.0)))


def test_recent_buys_lists_sold_and_held_buys_of_the_window():
    book = ledger("A", "B")
    book.buy(0, 1.0, 10.0, "2021-01-04")
    book.buy(1, 1.0, 10.0, "2021-02-01")
    book.sell(1, 1.0, 11.0, "2021-02-02")                        # sold again: still listed
    book.buy(0, 1.0, 10.0, "2021-02-03")
    recent = book.recent_buys("2021-02-10", 30)
    assert recent.values.tolist() == [["B", "L0000001", pd.Timestamp("2021-02-01")],
                                      ["A", "L0000002", pd.Timestamp("2021-02-03")]]
    assert book.recent_buy_days("2021-02-10", 30) == {"A": 18661, "B": 18659}


def test_an_open_loss_survives_a_checkpoint():
    book = ledger()
    book.buy(0, 10.0, 100.0, "2021-01-04")
    book.sell(0, 10.0, 80.0, "2021-03-01")
    resumed = pickle.loads(pickle.dumps(book))
    resumed.buy(0, 10.0, 85.0, "2021-03-15")
    assert resumed.year_short_usd == pytest.approx(0.0)
    assert resumed.disallowed_loss_usd() == pytest.approx(200.0)


# -- properties on random books ---------------------------------------------------------------

DAY0 = pd.Timestamp("2020-11-02")
# (what, asset, shares or tenths sold, price, days since the previous op): long enough that
# most books wash a loss, split a lot, buy in another account and restate a closed year
ops = st.lists(st.tuples(st.sampled_from(["buy", "buy", "sell", "sell", "ira", "other"]), st.integers(0, 2),
                         st.integers(1, 20), st.integers(60, 140), st.integers(0, 12)),
               min_size=15, max_size=40)


def run(sequence, groups) -> Ledger:
    book = Ledger(["A", "B", "C"], TaxRules(short_term_rate=0.40, long_term_rate=0.20, long_term_days=365,
                                            identical_groups=groups), "hifo")
    day = DAY0
    for kind, i, size, price, gap in sequence:
        day += pd.Timedelta(days=gap)
        asset = book.assets[i]
        if kind == "buy":
            book.buy(i, float(size), float(price), day)
        elif kind == "sell" and book.shares[i] > 0:
            book.sell(i, book.shares[i] * min(size, 10) / 10, float(price), day)
        elif kind in ("ira", "other"):
            book.record_external_buy(asset, float(size), day, tax_exempt=kind == "ira")
        book.settle_tax()
    return book


@settings(max_examples=120, deadline=None)
@given(sequence=ops, grouped=st.booleans())
def test_every_disallowed_dollar_is_accounted_for(sequence, grouped):
    groups = {"A": "g", "B": "g"} if grouped else {}
    book = run(sequence, groups)
    paid = {lot_id: price for _, _, lot_id, _, price in book.buy_log}
    reliefs = book.reliefs_frame()
    washes = book.wash_sales_frame()
    booked = float(reliefs["gain_usd"].sum())
    raw = float((reliefs["shares"] * (reliefs["price"] - reliefs["bought_lot_id"].map(paid))).sum())
    open_lots = book.lots_frame()
    bought = open_lots["lot_id"].map({lot[0]: lot[4] for lots in book.lots for lot in lots}).map(paid)
    in_open_basis = float((open_lots["quantity"] * (open_lots["cost_basis"] - bought)).sum())
    realized_through_lots = float((reliefs["shares"] * (reliefs["basis"] - reliefs["bought_lot_id"].map(paid))).sum())
    external = float(washes.loc[washes["kind"] != "lot", "disallowed_usd"].sum())
    disallowed = book.disallowed_loss_usd()
    recognized = book.total_short_usd + book.total_long_usd
    # allowed (recognized) = booked + disallowed; booked = raw less the adjustments realized through lots
    assert recognized == pytest.approx(booked + disallowed, abs=1e-6)
    # every disallowed dollar: in an open lot's basis, realized later through its lot, or external
    assert disallowed == pytest.approx(in_open_basis + realized_through_lots + external, abs=1e-6)
    assert raw == pytest.approx(recognized - in_open_basis - external, abs=1e-6)
    # the tax years add up to the run's totals (restated closed years included)
    by_year = sum(r[0] + r[1] for r in book.closed_years.values()) + book.year_short_usd + book.year_long_usd
    assert by_year == pytest.approx(recognized, abs=1e-6)
    # each disallowed row is a loss relief with a replacement purchase of its group inside the window
    assert (washes["disallowed_usd"] > 0).all()
    found = wash_sale_violations(book.buys_frame(), reliefs, 30, groups)
    pairs = set(zip(found["loss_date"], found["lot_id"], found["buy_lot_id"]))
    for row in washes[washes["kind"] == "lot"].itertuples():
        origin = row.replacement_lot_id.split("w")[0]
        assert (row.date, row.lot_id, origin) in pairs
    # no loss share is disallowed twice, no replacement share used twice
    per_relief = washes.groupby(["date", "lot_id"])["shares"].sum()
    sold = reliefs.groupby(["date", "lot_id"])["shares"].sum()
    assert (per_relief <= sold.reindex(per_relief.index) + 1e-9).all()
