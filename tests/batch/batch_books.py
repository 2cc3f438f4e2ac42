"""Small books for the batch tests: clean, and with four accounts broken on purpose."""

from __future__ import annotations

import pandas as pd

from problems.books import synthetic_book

DATE = "2024-06-28"


def small_book(n_accounts: int = 12, seed: int = 5) -> dict[str, pd.DataFrame]:
    """12 accounts x 8 assets x 2 lots, 3 models."""
    return synthetic_book(n_accounts, 8, 2, n_models=3, seed=seed)


def corrupt(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Break four accounts, each in its own way; the others stay clean.

    * ACC000001 holds ZBAD, an asset only it holds, whose price is NaN        -> InputError (prices)
    * ACC000002 has a duplicated lot id                                        -> InputError (lots.lot_id)
    * ACC000003 withdraws more than its cash while it may sell nothing          -> InfeasibleError
    * ACC000004 asks for a solver chain with no installed solver               -> SolverError
    """
    t = {k: v.copy() for k, v in tables.items()}
    market = t["market"]
    bad = market.iloc[[0]].copy()
    bad["asset"] = "ZBAD"
    bad["asset_class"] = "ZBAD"
    bad["price"] = float("nan")
    t["market"] = pd.concat([market, bad], ignore_index=True)
    risk_row = t["risk"].iloc[[0]].copy()
    risk_row["key"] = "ZBAD"
    t["risk"] = pd.concat([t["risk"], risk_row], ignore_index=True)
    lots = t["lots"]
    extra = lots[lots["account_id"] == "ACC000001"].iloc[[0]].copy()
    extra["lot_id"] = "ZBAD-L0"
    extra["asset"] = "ZBAD"
    dup = lots[lots["account_id"] == "ACC000002"].iloc[[1]].copy()
    dup["lot_id"] = lots[lots["account_id"] == "ACC000002"].iloc[0]["lot_id"]
    t["lots"] = pd.concat([lots, extra, dup], ignore_index=True)
    accounts = t["accounts"]
    row = accounts["account_id"] == "ACC000003"
    accounts.loc[row, "cash_flow_usd"] = -(accounts.loc[row, "cash_usd"] + 3e5)
    accounts["solvers"] = ""
    accounts.loc[accounts["account_id"] == "ACC000004", "solvers"] = "NO_SUCH_SOLVER"
    assets = sorted(market["asset"])
    no_sell = pd.DataFrame({"account_id": "ACC000003", "asset": assets, "no_buy": False, "no_sell": True,
                            "no_trade": False})
    t["restrictions"] = pd.concat([t["restrictions"][t["restrictions"]["account_id"] != "ACC000003"], no_sell],
                                  ignore_index=True)
    return t
