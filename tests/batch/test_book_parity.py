"""Book parity with the engine: untradeable holdings, overlays, recent buys and loss sales travel in the book.

Oracle: each account is rebuilt here by hand from the raw tables (independent of
``optimizer.batch.accounts``) and solved with :func:`optimizer.rebalance`; the batch must
give the same trades. The wash-sale rows are put where an unconstrained solve would
break them, so the test fails if the batch drops them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batch_books import DATE, small_book
from optimizer import Market, OverlayInstrument, Portfolio, RiskModel, Settings, Targets, TaxRules, rebalance
from optimizer.batch import account_case, execute, load_book
from optimizer.batch.output import day_dir
from problems.books import write_parquet_book

DAY = pd.Timestamp(DATE)


def _hand_case(t: dict, account_id: str):
    """The account's inputs, built from the raw tables without the batch code."""
    account = t["accounts"].set_index("account_id").loc[account_id]
    model = t["models"][t["models"]["model_id"] == account["model_id"]].set_index("key")
    market = t["market"].set_index("asset")
    risk = t["risk"].set_index("key")
    cov = t["factor_cov"].set_index("factor")
    factors = list(cov.index)

    columns = {"untradeable": ["account_id", "asset", "value_usd", "asset_class"],
               "overlay_positions": ["account_id", "instrument", "contracts"],
               "recent_buys": ["account_id", "asset", "lot_id", "acquired"],
               "recent_loss_sales": ["account_id", "asset", "sold"]}

    def rows(name):
        frame = t.get(name, pd.DataFrame(columns=columns.get(name, ["account_id"])))
        return frame[frame["account_id"] == account_id]

    untradeable = rows("untradeable")
    overlays = rows("overlay_positions")
    buys = rows("recent_buys")
    losses = rows("recent_loss_sales")
    lots = rows("lots").drop(columns=["account_id"])
    portfolio = Portfolio(
        lots=lots, cash_usd=account["cash_usd"],
        untradeable_usd=pd.Series(untradeable["value_usd"].to_numpy(), index=untradeable["asset"], dtype=float),
        overlay_contracts=pd.Series(overlays["contracts"].to_numpy(), index=overlays["instrument"], dtype=float),
        recent_loss_sales=pd.Series(pd.to_datetime(losses["sold"]).to_numpy(), index=losses["asset"]),
        recent_buys=buys.drop(columns=["account_id"]).reset_index(drop=True))
    classes = market["asset_class"].astype(str)
    classes = pd.concat([classes, pd.Series(untradeable["asset_class"].to_numpy(), index=untradeable["asset"])])
    keys = list(model.index)
    mkt = Market(date=DAY, prices=market["price"], asset_class=classes,
                 risk=RiskModel(risk.loc[keys, factors], cov.loc[factors, factors], risk.loc[keys, "specific_var"]),
                 volatility=market["volatility"], adv_usd=market["adv_usd"], half_spread=market["half_spread"],
                 commission=market["commission"])
    targets = Targets(model["weight"], model["band_lower"], model["band_upper"],
                      cash_weight=float(model["cash_weight"].iloc[0]))
    instruments = []
    for name, group in t.get("overlay_instruments", pd.DataFrame(columns=["name"])).groupby("name"):
        if name in set(overlays["instrument"]):
            instruments.append(OverlayInstrument(name=name, multiplier=float(group["multiplier"].iloc[0]),
                                                 price=float(group["price"].iloc[0]),
                                                 exposure=dict(zip(group["key"], group["beta"]))))
    tax = TaxRules(short_term_rate=float(account["short_term_rate"]), long_term_rate=float(account["long_term_rate"]))
    return portfolio, targets, mkt, Settings(cash_flow_usd=float(account["cash_flow_usd"])), tax, tuple(instruments)


def _solve(t, account_id):
    portfolio, targets, market, settings, tax, overlays = _hand_case(t, account_id)
    return rebalance(portfolio, targets, market, settings, tax=tax, overlays=overlays)


@pytest.fixture(scope="module")
def parity_book():
    t = small_book()
    t["restrictions"] = t["restrictions"].iloc[:0]
    t["accounts"]["short_term_rate"] = 0.37  # every account taxable: loss sales are worth something
    t["accounts"]["long_term_rate"] = 0.20
    # pick, from unconstrained solves, an account buying an asset and one selling a loss lot
    buyer = seller = None
    for account_id in t["accounts"]["account_id"]:
        result = _solve(t, account_id)
        bought = result.trades.index[result.trades["buy_usd"] > 1e-3 * result.nav_usd]
        losses = result.lot_sales[result.lot_sales["gain_usd"] < -1.0]
        if buyer is None and len(bought):
            buyer = (account_id, str(bought[0]))
        elif seller is None and len(losses) and account_id != (buyer or ("",))[0]:
            seller = (account_id, str(losses["asset"].iloc[0]))
        if buyer and seller:
            break
    assert buyer and seller
    others = [a for a in t["accounts"]["account_id"] if a not in (buyer[0], seller[0])]
    t["recent_loss_sales"] = pd.DataFrame({"account_id": [buyer[0]], "asset": [buyer[1]],
                                           "sold": [DAY - pd.Timedelta(days=10)]})
    t["recent_buys"] = pd.DataFrame({"account_id": [seller[0]], "asset": [seller[1]], "lot_id": ["SOLD-BEFORE"],
                                     "acquired": [DAY - pd.Timedelta(days=5)]})
    t["untradeable"] = pd.DataFrame({"account_id": [others[0]], "asset": ["PE_FUND"], "value_usd": [150_000.0],
                                     "asset_class": ["A0000"]})
    t["overlay_instruments"] = pd.DataFrame({"name": ["FUT"], "multiplier": [50.0], "price": [4000.0],
                                             "key": ["A0001"], "beta": [1.0]})
    t["overlay_positions"] = pd.DataFrame({"account_id": [others[1]], "instrument": ["FUT"], "contracts": [2.0]})
    return t, buyer, seller, others[0], others[1]


def test_parity_rows_reach_the_engine_and_change_the_answer(tmp_path, batch_client, parity_book):
    t, buyer, seller, pe_account, overlay_account = parity_book
    book = write_parquet_book(t, tmp_path / "book")
    out = tmp_path / "out"
    summary = execute(book, DATE, out, client=batch_client, progress=False, chunk_size=4, whole_shares=False)
    assert summary.failed == 0
    day = day_dir(out, DATE)
    trades = pd.read_parquet(day / "trades.parquet")
    sales = pd.read_parquet(day / "lot_sales.parquet")
    overlay = pd.read_parquet(day / "overlay.parquet")

    # the wash-sale rows bind: no buy back of the recently sold loss, no loss sale after a recent buy
    mine = trades[(trades["account_id"] == buyer[0]) & (trades["asset"] == buyer[1])]
    assert mine.empty or float(mine["buy_usd"].iloc[0]) < 1e-6
    lost = sales[(sales["account_id"] == seller[0]) & (sales["asset"] == seller[1]) & (sales["gain_usd"] < -1e-6)]
    assert lost.empty
    # each account equals a plain solve of the account rebuilt by hand
    for account_id in (buyer[0], seller[0], pe_account, overlay_account):
        alone = _solve(t, account_id)
        got = trades[trades["account_id"] == account_id].set_index("asset")["trade_usd"]
        joined = pd.concat([got.rename("batch"), alone.trades["trade_usd"].rename("alone")], axis=1).fillna(0.0)
        np.testing.assert_allclose(joined["batch"], joined["alone"], atol=1e-4 * alone.nav_usd)
    # the untradeable holding counts in NAV and is never traded; the overlay is held and priced
    case, _, _ = account_case(load_book(book), DATE, pe_account)
    assert case.portfolio.untradeable_usd.to_dict() == {"PE_FUND": 150_000.0}
    assert "PE_FUND" not in set(trades.loc[trades["account_id"] == pe_account, "asset"])
    row = overlay[overlay["account_id"] == overlay_account].set_index("instrument").loc["FUT"]
    assert row["contracts_before"] == pytest.approx(2.0)
    alone = _solve(t, overlay_account)
    assert row["contracts_after"] == pytest.approx(alone.overlay.loc["FUT", "contracts_after"], abs=1e-4)
