"""Households in the nightly batch: accounts linked by ``accounts.household_id`` solved as one program.

A book links accounts by ``household_id`` (empty: the account is alone) and says what each
is with ``account_kind`` (``taxable``, ``deferred``, ``exempt``; see
:mod:`optimizer.batch.store`). This module turns a household's rows into the engine's
:class:`~optimizer.household.Household` and lays the solved household back out as one
:class:`~optimizer.RebalanceResult` per member, so the worker writes each member's trades,
lot sales, orders and diagnostics exactly as it does for a lone account.

* :func:`units` groups a table of accounts into solving units (a household's rows together,
  at the place of its first member; a lone account alone): chunking and retries never
  separate a household.
* :func:`build_household` builds each member's case with the worker's
  :class:`~optimizer.batch.accounts.CaseBuilder` (every member sees the others' holdings, so
  all share one universe) and the :class:`Household` with the household's tax rules.
* :func:`optimizer.trade_file.member_results` turns the household's answer into per-member results, in each
  member's own dollars: weights are fractions of the member's own NAV; ``cash_after_usd``
  is after the member's own linear costs and market impact (the orders writer keeps it >= 0);
  ``exposures``, tracking error, objective and solver are the household's, the same on
  every member.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from optimizer.book_schema import account_kind, household_key
from optimizer.errors import InputError
from optimizer.household import Account, Household
from optimizer.model import Market, Settings, Targets
from optimizer.model._checks import is_missing
from optimizer.trade_file import member_results

from optimizer.batch.accounts import CaseBuilder


def units(accounts: pd.DataFrame) -> list[list[int]]:
    """Row positions of ``accounts`` grouped into solving units, in order of each unit's first row.

    A household (rows sharing a non-empty ``household_id``) is one unit; every other row is a
    unit of its own. Without a ``household_id`` column every row is alone.
    """
    if "household_id" not in accounts.columns:
        return [[i] for i in range(len(accounts))]
    groups: dict[str, list[int]] = {}
    out: list[list[int]] = []
    for i, value in enumerate(accounts["household_id"]):
        key = household_key(value)
        if key is None:
            out.append([i])
        elif key in groups:
            groups[key].append(i)
        else:
            groups[key] = [i]
            out.append(groups[key])
    return out


@dataclass(frozen=True)
class HouseholdCase:
    """A household's question: the :class:`Household`, its shared target, market and settings,
    and the universe every member was built on."""

    household: Household
    targets: Targets
    market: Market
    settings: Settings
    universe: tuple[str, ...]
    notes: str = ""


def build_household(builder: CaseBuilder, members: list[tuple[dict, dict[str, pd.DataFrame]]],
                    extra_tables: tuple[str, ...]) -> HouseholdCase:
    """The household of ``members`` (``(account row, its rows of each per-account table)``, in order).

    The household's tax rules are those of its taxable members (they share their rates; see
    :func:`optimizer.book_schema.check_households`), else the first member's (deferred
    withdrawals are taxed at its ``short_term_rate``). Settings are the first member's
    (members share them), cash flows and buffers stay per member.

    Raises
    ------
    InputError
        A member's data, or the household itself (named by field and account).
    """
    also: dict[str, str | None] = {}
    for _, rows in members:
        extra = {name: rows[name] for name in extra_tables if name in rows}
        for asset, key in builder.holdings(rows["lots"], extra).items():
            if also.get(asset) is None:
                also[asset] = key
    accounts, cases, universe, notes = [], [], None, []
    for account, rows in members:
        extra = {name: rows[name] for name in extra_tables if name in rows}
        try:
            case, members_universe = builder.case(account, rows["lots"], rows["restrictions"], extra,
                                                  also_held=also)
        except InputError as error:  # say which member, as prepare_household does
            raise InputError(f"accounts[{account['account_id']}].{error.field}", str(error).split(": ", 1)[-1],
                             asset=error.asset, lot=error.lot) from None
        if builder.last_notes:
            notes.append(builder.last_notes)
        if universe is None:
            universe = members_universe
        elif members_universe != universe:  # every member sees the others' holdings: cannot differ
            raise InputError(f"accounts[{account['account_id']}].universe",
                             f"differs from that of {members[0][0]['account_id']!r} in its household")
        cases.append(case)
        accounts.append(Account(name=str(account["account_id"]), portfolio=case.portfolio,
                                kind=account_kind(account.get("account_kind")),
                                cash_flow_usd=case.settings.cash_flow_usd, min_cash_usd=case.settings.min_cash_usd,
                                restrictions=case.restrictions))
    taxable = [row for (row, _), acc in zip(members, accounts) if acc.taxable]
    source = taxable[0] if taxable else members[0][0]
    tax = builder.tax(source["short_term_rate"], source["long_term_rate"])
    first = cases[0]
    settings = replace(first.settings, cash_flow_usd=0.0, min_cash_usd=0.0)
    market = builder.context.market
    drag = pd.Series(dtype=float)
    if "tax_drag" in market.columns:  # empty cells are 0; text is refused by Household (named)
        drag = market["tax_drag"].reindex(list(universe or ()))
        drag = drag.where(drag.notna(), 0.0)
    cash_drag = members[0][0].get("cash_tax_drag")
    household = Household(tuple(accounts), tax=tax, tax_drag=drag,
                          cash_tax_drag=0.0 if is_missing(cash_drag) else cash_drag)
    return HouseholdCase(household=household, targets=first.targets, market=first.market, settings=settings,
                         universe=tuple(universe or ()), notes="; ".join(dict.fromkeys(notes)))


__all__ = ["HouseholdCase", "build_household", "member_results", "units"]
