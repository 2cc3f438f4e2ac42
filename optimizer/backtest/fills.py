"""One fill path for every simulator: a net trade per asset against a ledger, priced once.

:class:`~optimizer.backtest.simulator.Simulator` (one account, with or without an overlay)
and :class:`~optimizer.backtest.household.HouseholdSimulator` (several accounts) both fill
through :func:`fill_trade`: sales before buys, buys scaled down to what cash pays
(:func:`affordable_buys`), every cost priced by ``price(trade_usd) -> (spread,
commission, impact)`` per asset, i.e. :func:`optimizer.backtest.costs.price_trade`, the
terms' own formulas (spread and commission on the gross trade, impact on the net one, as
the optimizer charges).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

#: Trades below this many dollars are not filled (noise from solvers and arithmetic).
MIN_TRADE_USD = 0.01

Pricer = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


def affordable_buys(cash: float, buy_usd: np.ndarray, sell_usd: np.ndarray, price: Pricer,
                    rounds: int = 4) -> np.ndarray:
    """``buy_usd`` scaled down so ``cash`` stays >= 0 after the fill and its costs (dollars).

    ``price(trade_usd)`` returns (spread, commission, impact) per asset; spread and
    commission are charged on the gross trade, impact on the net one, as the fills do.
    Each of at most ``rounds`` steps removes the shortfall from the buys.
    """
    scale = 1.0
    for _ in range(rounds):
        net = scale * buy_usd - sell_usd
        spread, commission, _ = price(scale * buy_usd + sell_usd)
        impact = price(net)[2]
        after = cash - net.sum() - float(spread.sum() + commission.sum() + impact.sum())
        if after >= 0:
            break
        scale = max(0.0, scale - (-after) * (1 + 1e-9) / buy_usd.sum() - 1e-12)
    return scale * buy_usd


@dataclass(frozen=True)
class Fill:
    """What one fill did, per asset in dollars: gross traded, spread, commission, impact paid,
    and ``bought`` as ``(asset index, shares)`` per buy."""

    gross: np.ndarray
    spread: np.ndarray
    commission: np.ndarray
    impact: np.ndarray
    bought: tuple[tuple[int, float], ...]

    @property
    def cost_usd(self) -> float:
        return float(self.spread.sum() + self.commission.sum() + self.impact.sum())


def fill_trade(ledger, date, prices: np.ndarray, trade_usd: np.ndarray, lot_sales: dict | None, price: Pricer, *,
               scale_buys: bool, rounds: int = 4, snap_named: bool = False,
               min_trade_usd: float = MIN_TRADE_USD, min_buy_usd: float = 0.0,
               cap_to_held: bool = False) -> Fill | None:
    """Fill a net trade per asset (+ buy, - sell, dollars) on ``ledger`` at ``prices``; None if
    nothing traded.

    A net sell relieves ``-trade_usd`` dollars (plus at most a sub-cent sliver closing a
    lot), the lots named in ``lot_sales[asset]`` first in the order given, the rest by the
    ledger's method; with ``snap_named`` a sale within ``1e-6`` (relative) plus a dollar of
    the named lots' value sells exactly those lots. A net buy opens one lot (only above
    ``min_buy_usd``). With ``cap_to_held`` a sale is capped at the shares held (else the
    ledger refuses an oversale). Trades under ``min_trade_usd`` are dropped; with ``scale_buys`` buys
    are scaled so cash stays >= 0 (:func:`affordable_buys`, ``rounds`` steps). Cash moves
    by the value of the shares actually relieved and bought, less costs.
    """
    lot_sales = lot_sales or {}
    trade = np.where(np.abs(trade_usd) < min_trade_usd, 0.0, np.asarray(trade_usd, dtype=float))
    sell_usd = np.maximum(-trade, 0.0)
    buy_usd = np.maximum(trade, 0.0)
    if not (sell_usd.any() or buy_usd.any()):
        return None
    if snap_named:
        for asset, lots in lot_sales.items():
            i = ledger.index[asset]
            named_usd = prices[i] * sum(lots.values())
            if sell_usd[i] > 0 and abs(named_usd - sell_usd[i]) <= 1e-6 * named_usd + 1.0:
                sell_usd[i] = named_usd
    if scale_buys and buy_usd.any():
        buy_usd = affordable_buys(ledger.cash_usd, buy_usd, sell_usd, price, rounds)
    sold = np.zeros_like(sell_usd)
    for i in np.nonzero(sell_usd > 0)[0]:
        before = ledger.shares[i]
        shares = min(sell_usd[i] / prices[i], before) if cap_to_held else sell_usd[i] / prices[i]
        ledger.sell(i, shares, prices[i], date, lot_sales.get(ledger.assets[i]))
        sold[i] = (before - ledger.shares[i]) * prices[i]
    buy_usd = np.where(buy_usd > min_buy_usd, buy_usd, 0.0)
    bought = []
    for i in np.nonzero(buy_usd)[0]:
        ledger.buy(i, buy_usd[i] / prices[i], prices[i], date)
        bought.append((int(i), float(buy_usd[i] / prices[i])))
    net = buy_usd - sold
    gross = buy_usd + sold
    spread, commission, _ = price(gross)   # linear costs on both sides, as the engine charges
    _, _, impact = price(net)              # impact on the net trade, as the engine charges
    fill = Fill(gross, spread, commission, impact, tuple(bought))
    ledger.cash_usd -= float(net.sum()) + fill.cost_usd
    return fill
