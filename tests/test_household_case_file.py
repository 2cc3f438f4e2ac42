"""Household case files (``rebalance solve`` of a file with a top-level ``accounts:`` list).

Oracles: the file's household solves to the same trades as :func:`rebalance_household` on a
household built by hand from the same numbers; strict reading names the account and the
field; the command's orders keep each account's own cash >= 0 (recomputed from the file).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from optimizer import InputError, Market, Portfolio, RiskModel, Settings, Targets, TaxRules
from optimizer.case_file import HouseholdFile, household_case_from_dict, read_case, read_case_file
from optimizer.cli import app
from optimizer.household import Account, Household, rebalance_household

FILE = Path(__file__).resolve().parents[1] / "problems" / "cases" / "household.yaml"


def raw() -> dict:
    return yaml.safe_load(FILE.read_text())


def by_hand() -> tuple[Household, Targets, Market, Settings]:
    """The example file's household, typed in again without the reader."""
    date = pd.Timestamp("2024-06-28")

    def lots(rows):
        return pd.DataFrame([(i, a, q, b, pd.Timestamp(d)) for i, a, q, b, d in rows],
                            columns=["lot_id", "asset", "quantity", "cost_basis", "acquired"])

    brokerage = Portfolio(lots=lots([("EQ-1", "VTI", 600, 180.0, "2021-03-01"),
                                     ("BD-1", "BND", 1500, 74.0, "2022-03-01")]), cash_usd=10_000.0,
                          realized_gain_usd=0.0)
    ira = Portfolio(lots=lots([("IRA-EQ", "VTI", 500, 200.0, "2020-01-15"),
                               ("IRA-BD", "BND", 400, 80.0, "2020-01-15")]), cash_usd=5_000.0)
    household = Household((Account("brokerage", brokerage), Account("ira", ira, kind="deferred")),
                          tax=TaxRules(short_term_rate=0.37, long_term_rate=0.20),
                          tax_drag=pd.Series({"VTI": 0.003, "BND": 0.0148}), cash_tax_drag=0.0148)
    risk = RiskModel(pd.DataFrame([[1.0, 0.0], [0.05, 1.0]], index=["EQUITY", "BONDS"],
                                  columns=["EQUITY_MKT", "RATES"]),
                     pd.DataFrame([[0.0289, 0.0], [0.0, 0.0036]], index=["EQUITY_MKT", "RATES"],
                                  columns=["EQUITY_MKT", "RATES"]),
                     pd.Series({"EQUITY": 0.0004, "BONDS": 0.0001}))
    market = Market(date=date, prices=pd.Series({"VTI": 265.0, "BND": 72.0}),
                    asset_class=pd.Series({"VTI": "EQUITY", "BND": "BONDS"}), risk=risk,
                    volatility=pd.Series({"VTI": 0.011, "BND": 0.004}), adv_usd=pd.Series({"VTI": 8e8, "BND": 4e8}),
                    half_spread=pd.Series({"VTI": 0.0001, "BND": 0.0001}), commission=pd.Series({"VTI": 0.0, "BND": 0.0}))
    targets = Targets(pd.Series({"EQUITY": 0.6, "BONDS": 0.39}), pd.Series({"EQUITY": 0.55, "BONDS": 0.34}),
                      pd.Series({"EQUITY": 0.65, "BONDS": 0.44}), cash_weight=0.01)
    return household, targets, market, Settings(risk_aversion=10, bands="soft")


def test_the_file_solves_as_the_household_typed_by_hand():
    loaded = read_case_file(FILE)
    assert isinstance(loaded, HouseholdFile)
    assert [(m.name, m.kind) for m in loaded.members] == [("brokerage", "taxable"), ("ira", "deferred")]
    shared = loaded.shared
    accounts = tuple(Account(m.name, m.case.portfolio, kind=m.kind) for m in loaded.members)
    from_file = rebalance_household(Household(accounts, tax=shared.tax, **loaded.options), shared.targets,
                                    shared.market, shared.settings)
    household, targets, market, settings = by_hand()
    direct = rebalance_household(household, targets, market, settings)
    np.testing.assert_allclose(from_file.trades["trade_usd"].to_numpy(), direct.trades["trade_usd"].to_numpy(),
                               atol=1e-3)
    assert list(from_file.trades.index) == list(direct.trades.index)
    assert from_file.objective_bps == pytest.approx(direct.objective_bps, abs=1e-9)


@pytest.mark.parametrize("edit, field", [
    (lambda r: r["accounts"][1].update(kind="ira"), "accounts[ira].kind"),
    (lambda r: r["accounts"][1].update(kindd="deferred"), "accounts[ira].kindd"),
    (lambda r: r["accounts"][1]["lots"][0].update(quantity="500"), "accounts[ira].lots.quantity"),
    (lambda r: r["accounts"][1]["lots"].append(dict(r["accounts"][1]["lots"][0])), "accounts[ira].lots.lot_id"),
    (lambda r: r["accounts"][1].update(name="brokerage"), "accounts[brokerage].name"),
    (lambda r: r.update(accounts=[]), "accounts"),
    (lambda r: r.update(cash_usd=5.0), "cash_usd"),
    (lambda r: r["household"].update(tax_dragg={}), "household.tax_dragg"),
    (lambda r: r["accounts"][0].update(restrictions={"VTII": {"no_sell": True}}), "accounts[brokerage].restrictions"),
])
def test_bad_household_files_name_the_account_and_field(edit, field):
    text = copy.deepcopy(raw())
    edit(text)
    with pytest.raises(InputError) as error:
        household_case_from_dict(text)
    assert error.value.field == field, str(error.value)


def test_a_single_case_reader_refuses_a_household_file():
    with pytest.raises(InputError, match="household case file"):
        read_case(FILE)


def test_rebalance_solve_writes_each_accounts_orders_within_its_cash(tmp_path):
    result = CliRunner().invoke(app, ["solve", str(FILE), "--out", str(tmp_path), "--whole-units", "--quiet"])
    assert result.exit_code == 0, result.output
    orders = pd.read_csv(tmp_path / "orders.csv")
    assert set(orders["account_id"]) <= {"brokerage", "ira"} and len(orders)
    assert (orders["shares"] == orders["shares"].round()).all()
    cash = {a["name"]: a["cash_usd"] for a in raw()["accounts"]}
    for account, rows in orders.groupby("account_id"):
        signed = np.where(rows["side"] == "buy", rows["notional"], -rows["notional"]).sum()
        costs = 0.0001 * rows["notional"].sum()          # the file's half spread, no commission
        assert cash[account] - signed - costs >= -0.01, account
    trades = pd.read_csv(tmp_path / "trades.csv")
    assert list(trades.columns[:2]) == ["account", "asset"]
    assert set(pd.read_csv(tmp_path / "accounts.csv")["account"]) == {"brokerage", "ira"}
