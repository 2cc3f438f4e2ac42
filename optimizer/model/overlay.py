"""Derivative overlay instruments (futures, total-return swaps) that move exposure without trading the book."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from optimizer.errors import InputError
from optimizer.model._checks import finite_number, is_number


@dataclass(frozen=True)
class OverlayInstrument:
    """A futures contract or swap, priced per contract.

    Parameters
    ----------
    name:
        Instrument identifier, e.g. ``"ES"``.
    multiplier:
        Currency per index point (250 for the big S&P contract, 1 for a swap quoted in notional).
    price:
        Index level or price, > 0. Notional per contract is ``multiplier * price``.
    exposure:
        Exposure key -> beta per unit of notional (1.0 maps fully into that class;
        a bond future maps by its duration ratio).
    initial_margin:
        Margin posted from cash, as a fraction of the absolute notional.
    cost_per_contract_usd:
        Commission and spread per contract traded, account currency.
    max_notional_usd:
        Largest absolute notional allowed in this instrument (a swap counterparty's limit,
        a position limit). An existing position above it may be kept or reduced, not grown.
    holding_cost:
        Cost of holding one unit of absolute notional until the next decision, as a fraction
        of notional (roll costs and swap spread amortised over the rebalance interval). It
        is priced in the objective, not paid from cash now, and lets the program prefer
        physical exposure when the overlay costs more to carry.
    """

    name: str
    multiplier: float
    price: float
    exposure: Mapping[str, float]
    initial_margin: float = 0.05
    cost_per_contract_usd: float = 2.5
    max_notional_usd: float = float("inf")
    holding_cost: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputError("overlays.name", f"is {self.name!r}; expected a non-empty instrument name")
        field_prefix = f"overlays[{self.name}]"
        finite_number(self.multiplier, f"{field_prefix}.multiplier", minimum=1e-12)
        price = finite_number(self.price, f"{field_prefix}.price")
        if price <= 0:
            raise InputError(f"{field_prefix}.price", f"is {price!r}; it must be positive")
        finite_number(self.initial_margin, f"{field_prefix}.initial_margin", minimum=0.0)
        finite_number(self.cost_per_contract_usd, f"{field_prefix}.cost_per_contract_usd", minimum=0.0)
        finite_number(self.holding_cost, f"{field_prefix}.holding_cost", minimum=0.0)
        if not is_number(self.max_notional_usd):
            raise InputError(f"{field_prefix}.max_notional_usd", f"is {self.max_notional_usd!r}; expected a number")
        if not (self.max_notional_usd >= 0):
            raise InputError(f"{field_prefix}.max_notional_usd", f"is {self.max_notional_usd!r}; it must be >= 0")
        if not isinstance(self.exposure, Mapping):
            raise InputError(f"{field_prefix}.exposure", f"expected a mapping exposure key -> beta, got "
                             f"{type(self.exposure).__name__}")
        if not self.exposure:
            raise InputError(f"{field_prefix}.exposure", "maps to no exposure key")
        exposure = {str(k): finite_number(v, f"{field_prefix}.exposure[{k}]") for k, v in self.exposure.items()}
        object.__setattr__(self, "exposure", MappingProxyType(exposure))

    @property
    def notional_per_contract_usd(self) -> float:
        return float(self.multiplier * self.price)

    def contracts_for(self, notional_usd: float) -> float:
        """Contracts (not rounded) that give ``notional_usd`` of exposure."""
        return notional_usd / self.notional_per_contract_usd
