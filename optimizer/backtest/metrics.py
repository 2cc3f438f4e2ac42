"""Performance, drift and cost metrics of a backtest.

Definitions (``ppy`` = periods per year of the data, ``years`` = span of the calendar):

* returns are time-weighted and *before* tax payments (tax paid is added back, so
  tracking error and volatility measure trading, not the tax calendar):
  ``r_t = (nav_t - flow_t + tax_t) / nav_{t-1} - 1``;
* ``tracking_error``: ``std(r_t - r*_t) * sqrt(ppy)`` against the frictionless target
  rebalanced every period, ``r*_t = sum_i w*_i r_it + (1 - sum w*) r_cash,t``;
* ``drift``: per date, the largest ``|w_it - w*_i|`` over assets (NAV fraction);
  ``drift_mean`` averages it over dates, ``drift_max`` is its maximum;
* ``rebalance_events``: dates the policy traded; ``forced_events``: dates cash was raised;
* ``turnover``: one-way, ``sum_t gross_t / (2 nav_t) / years`` (fraction of NAV per year);
* ``*_bps``: each cost as ``sum_t cost_t / nav_t / years`` in basis points per year;
  ``tax_bps`` counts tax paid during the run (the liquidation tax is in
  ``after_tax_terminal_usd``); ``trading_cost_bps`` = spread + commission + impact;
  ``total_cost_bps`` adds tax;
* ``annual_return`` (geometric), ``volatility`` (annualised), ``max_drawdown`` of the
  return index;
* ``after_tax_terminal_usd``: final NAV less the tax of liquidating every lot on the
  last date (at its price, no costs) and closing that final tax year with the ledger's
  US netting (the year's realized gains, the liquidation's gains and the loss
  carry-forward together); the tax of that year is paid, or credited when a net loss
  offsets ordinary income (up to ``TaxRules.ordinary_offset_usd``), so it can exceed NAV;
* ``losses_harvested_usd``: the losses realized lot by lot over the run that count for
  tax, as positive dollars: every relief's loss less the losses the ledger disallowed as
  wash sales (:func:`losses_harvested_usd`; gains are not netted against them);
* ``wash_sale_violations``: (loss relief, buy of the same asset or of a substantially
  identical one within 30 calendar days) pairs found by the independent checker
  :func:`optimizer.backtest.audit.wash_sale_violations`;
* ``disallowed_loss_usd``: total loss the ledger disallowed under the wash-sale rule
  (positive dollars; deferred into replacement lots' basis, to another account, or lost
  for good to a tax-exempt one);
* :func:`tax_alpha_bps`: annualised after-tax wealth ratio to a baseline run.

With an overlay (``result.overlay``) :func:`summarize` adds ``futures_trade_bps``,
``roll_bps``, ``swap_trade_bps``, ``financing_bps`` (swap spread over the cash rate),
``margin_call_sale_bps`` (costs of the sales that met margin calls), ``overlay_cost_bps``
(their sum; also added to ``total_cost_bps``), ``margin_calls`` and
``max_overlay_gross`` (largest gross notional, NAV fraction). :func:`overlay_summary` is
the $5bn overlay benchmark's table row (costs in bps of the starting NAV, days out of
band for a given band).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from optimizer.backtest.result import BacktestResult


def period_returns(result: "BacktestResult") -> np.ndarray:
    """Time-weighted portfolio returns per date after the first (tax payments added back)."""
    nav = result.nav_usd
    return (nav[1:] - result.flows_usd[1:] + result.tax_paid_usd[1:]) / nav[:-1] - 1.0


def target_returns(result: "BacktestResult") -> np.ndarray:
    """Returns of the frictionless target portfolio rebalanced every period."""
    asset_returns = result.prices[1:] / result.prices[:-1] - 1.0
    cash = 1.0 - result.target.sum()
    return asset_returns @ result.target + cash * (result.cash_growth[1:] - 1.0)


def drift(result: "BacktestResult") -> np.ndarray:
    """Largest absolute weight deviation from target per date (NAV fraction)."""
    weights = result.holdings_usd / result.nav_usd[:, None]
    return np.abs(weights - result.target).max(axis=1)


def years(result: "BacktestResult") -> float:
    return max((result.calendar[-1] - result.calendar[0]).days / 365.25, 1e-9)


def max_drawdown(returns: np.ndarray) -> float:
    level = np.cumprod(1.0 + returns)
    peak = np.maximum.accumulate(np.r_[1.0, level])[1:]
    return float((1.0 - level / peak).max()) if len(level) else 0.0


def losses_harvested_usd(result: "BacktestResult") -> float:
    """Realized losses that count for tax over the run, positive dollars.

    The losses of every lot relief (``result.lot_reliefs["gain_usd"] < 0``) less
    ``result.disallowed_loss_usd`` (wash sales: a disallowed loss moves into the
    replacement's basis and is counted when that lot is sold at a loss). Gains are not
    netted.
    """
    gains = result.lot_reliefs["gain_usd"].to_numpy(dtype=float)
    return float(max(np.abs(gains[gains < 0]).sum() - result.disallowed_loss_usd, 0.0))


def summarize(result: "BacktestResult") -> dict[str, float]:
    """All metrics of one run as a flat dict (see the module docstring)."""
    r = period_returns(result)
    rt = target_returns(result)
    ppy = result.periods_per_year
    span = years(result)
    d = drift(result)
    nav = result.nav_usd

    def bps(cost: np.ndarray) -> float:
        return float((cost / nav).sum() / span * 1e4)

    spread, commission, impact, tax = (bps(result.spread_usd), bps(result.commission_usd), bps(result.impact_usd),
                                       bps(result.tax_paid_usd))
    growth = float(np.prod(1.0 + r))
    overlay = {}
    if result.overlay is not None:
        costs = result.overlay.costs
        parts = {"futures_trade_bps": bps(costs["futures_trade"]), "roll_bps": bps(costs["futures_roll"]),
                 "swap_trade_bps": bps(costs["swap_trade"]), "financing_bps": bps(costs["swap_spread"]),
                 "margin_call_sale_bps": bps(result.overlay.call_cost_usd)}
        overlay = {**parts, "overlay_cost_bps": sum(parts.values()), "margin_calls": len(result.overlay.margin_calls),
                   "max_overlay_gross": float((result.overlay.gross_usd / nav).max())}
    return {
        "tracking_error": float(np.std(r - rt, ddof=1) * np.sqrt(ppy)) if len(r) > 1 else 0.0,
        "drift_mean": float(d.mean()),
        "drift_max": float(d.max()),
        "rebalance_events": int(result.events.sum()),
        "forced_events": int(result.forced.sum()),
        "turnover": float((result.traded_usd.sum(axis=1) / (2 * nav)).sum() / span),
        "spread_bps": spread,
        "commission_bps": commission,
        "impact_bps": impact,
        "tax_bps": tax,
        "trading_cost_bps": spread + commission + impact,
        "total_cost_bps": spread + commission + impact + tax + overlay.get("overlay_cost_bps", 0.0),
        "annual_return": growth ** (1.0 / span) - 1.0,
        "volatility": float(np.std(r, ddof=1) * np.sqrt(ppy)) if len(r) > 1 else 0.0,
        "max_drawdown": max_drawdown(r),
        "realized_short_usd": result.realized_short_usd,
        "realized_long_usd": result.realized_long_usd,
        "after_tax_terminal_usd": result.after_tax_terminal_usd,
        "losses_harvested_usd": losses_harvested_usd(result),
        "wash_sale_violations": result.wash_sale_violations(),
        "disallowed_loss_usd": result.disallowed_loss_usd,
        **overlay,
    }


def out_of_band(exposure_usd: np.ndarray, nav_usd: np.ndarray, target: np.ndarray, band: float,
                tolerance: float) -> np.ndarray:
    """Per date: is any exposure (holdings + overlay, NAV fraction) outside ``target +/- band``?"""
    weights = exposure_usd / nav_usd[:, None]
    return np.any((weights < target - band - tolerance) | (weights > target + band + tolerance), axis=1)


def overlay_summary(result: "BacktestResult", band: float, initial_usd: float) -> dict[str, float]:
    """The overlay benchmark's figures of one run (needs ``result.overlay``).

    Costs are totals over the run in bps of ``initial_usd`` (``cost_bps``, and per year of
    252 dates); ``impact_bps`` counts impact plus the whole cost of margin-call sales;
    ``futures_bps`` commissions and rolls; ``swap_bps`` dealer fees and financing spread.
    ``tracking_error_bps``: ``std(r_t - r*_t) * sqrt(252)`` (see :func:`target_returns`);
    ``days_out_of_band``: dates ending with an exposure outside ``target +/- band``;
    ``trigger_days``: dates the policy saw one outside before trading;
    ``physical_turnover``: policy trades (not margin-call sales) over ``initial_usd``.
    """
    ov = result.overlay
    if ov is None:
        raise ValueError("overlay_summary needs a run whose account held an overlay")
    years_252 = max(len(result.calendar) - 1, 1) / 252.0
    derivative = ov.costs
    total = float(result.spread_usd.sum() + result.commission_usd.sum() + result.impact_usd.sum()
                  + ov.call_cost_usd.sum() + sum(v.sum() for v in derivative.values()))
    active = period_returns(result) - target_returns(result)
    exposure = result.holdings_usd + ov.exposure_usd
    to_bps = 1e4 / initial_usd
    return {
        "days": int(len(result.calendar)),
        "cost_bps": total * to_bps,
        "cost_bps_per_year": total * to_bps / years_252,
        "impact_bps": float(result.impact_usd.sum() + ov.call_cost_usd.sum()) * to_bps,
        "futures_bps": float(derivative["futures_trade"].sum() + derivative["futures_roll"].sum()) * to_bps,
        "swap_bps": float(derivative["swap_trade"].sum() + derivative["swap_spread"].sum()) * to_bps,
        "tracking_error_bps": float(np.std(active, ddof=1) * np.sqrt(252) * 1e4) if len(active) > 1 else 0.0,
        "days_out_of_band": int(out_of_band(exposure, result.nav_usd, result.target, band, 1e-9).sum()),
        "trigger_days": int(out_of_band(ov.exposure_open_usd, ov.nav_open_usd, result.target, band, 1e-12).sum()),
        "physical_turnover": float(result.traded_usd.sum() / initial_usd),
        "max_overlay_gross": float((ov.gross_usd / result.nav_usd).max()),
        "margin_calls": len(ov.margin_calls),
        "return_pct": float((result.nav_usd[-1] / initial_usd - 1) * 100),
    }


def tax_alpha_bps(result: "BacktestResult", baseline: "BacktestResult") -> float:
    """Annualised after-tax wealth advantage over ``baseline`` (same data and flows), bps per year."""
    ratio = result.after_tax_terminal_usd / baseline.after_tax_terminal_usd
    return float((ratio ** (1.0 / years(result)) - 1.0) * 1e4)
