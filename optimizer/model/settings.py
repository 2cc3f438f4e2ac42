"""Knobs of one rebalance decision: objective weights, band handling, cash rules and solvers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from optimizer.errors import InputError
from optimizer.model._checks import finite_number, flag


@dataclass(frozen=True)
class Settings:
    """Objective weights and rules. Defaults give a sensible after-cost, after-tax trade.

    The objective, in NAV fractions, is::

        0.5 * risk_aversion * TE_variance      (annual tracking-error variance of exposures)
        + impact_weight * impact               (sum of impact_eta * vol_i / ADV_i * u_i^2 / NAV)
        + cost_weight * linear costs           (half-spread + commission, overlay per contract)
        + tax_weight * tax                     (rate * gain, per lot sold; losses are negative)
        + band_penalty * band violation        (only with soft bands)

    "Trade to target" is a large ``risk_aversion`` (costs matter little); "trade to the
    band edge" is hard bands with a small ``risk_aversion`` (only the bands pull).

    Parameters
    ----------
    risk_aversion:
        Weight on tracking-error variance; >= 0.
    impact_weight, cost_weight, tax_weight:
        Weights on the cost parts; 1 prices them at face value.
    impact_eta:
        Impact coefficient: a trade of ``u`` dollars moves price by ``eta * vol * u / ADV``.
    bands:
        ``"soft"``: bands may be violated at ``band_penalty`` per unit of NAV fraction, so an
        infeasible book still gets the best trade; ``"hard"``: infeasible raises.
    band_penalty:
        Price of one NAV fraction outside a band. Above every marginal cost (1 = 100%),
        so soft bands hold whenever they can.
    min_cash_usd, min_cash_weight:
        Cash buffer after trading (the larger of the two applies), before overlay margin.
    cash_flow_usd:
        Inflow (+) or withdrawal (-) settled with this rebalance.
    overlay_gross_limit:
        Cap on the sum of absolute overlay notionals, as a NAV fraction.
    wash_sale:
        Enforce the wash-sale rule: the 61-day window per wash-sale group (``TaxRules``) and
        same-date conflicts settled per group (:mod:`optimizer.wash_sale`).
    solvers:
        Solver chain to try in order; ``None`` uses the measured default.
    """

    risk_aversion: float = 10.0
    impact_weight: float = 1.0
    cost_weight: float = 1.0
    tax_weight: float = 1.0
    impact_eta: float = 1.0
    bands: Literal["soft", "hard"] = "soft"
    band_penalty: float = 1.0
    min_cash_usd: float = 0.0
    min_cash_weight: float = 0.0
    cash_flow_usd: float = 0.0
    overlay_gross_limit: float = 0.5
    wash_sale: bool = True
    solvers: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("risk_aversion", "impact_weight", "cost_weight", "tax_weight", "impact_eta", "band_penalty",
                     "min_cash_usd", "min_cash_weight", "overlay_gross_limit"):
            finite_number(getattr(self, name), f"settings.{name}", minimum=0.0)
        finite_number(self.cash_flow_usd, "settings.cash_flow_usd")
        if self.bands not in ("soft", "hard"):
            raise InputError("settings.bands", f"is {self.bands!r}; use 'soft' or 'hard'")
        flag(self.wash_sale, "settings.wash_sale")
        if self.solvers is not None:
            if isinstance(self.solvers, str) or not isinstance(self.solvers, (list, tuple)):
                raise InputError("settings.solvers", f"is {self.solvers!r}; expected a list of solver names")
            for name in self.solvers:
                if not isinstance(name, str) or not name.strip():
                    raise InputError("settings.solvers", f"lists {name!r}; expected solver names such as 'CLARABEL'")
            object.__setattr__(self, "solvers", tuple(str(s).strip().upper() for s in self.solvers))
