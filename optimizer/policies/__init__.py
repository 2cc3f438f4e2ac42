"""Rebalancing policies behind one interface: ``decide(date, state) -> Orders | None``.

Heuristics (buy-and-hold, calendar, threshold bands, calendar-checked bands, cash-flow
routing), the rule-based :class:`LossHarvester`, and :class:`OptimizerPolicy`, which wraps
one :class:`optimizer.Rebalancer`.
"""

from optimizer.policies.bands import Bands
from optimizer.policies.base import Orders, Policy, Schedule, State
from optimizer.policies.harvest import LossHarvester
from optimizer.policies.heuristics import (BuyAndHold, Calendar, CalendarThreshold, CashFlowRouting, Threshold,
                                           water_fill)
from optimizer.policies.optimizer_policy import OptimizerPolicy
from optimizer.policies.tactical import TargetPathCalendar, tactical_path
from optimizer.policies.timing import (MomentumFilteredBands, MomentumTilt, RiskTriggered, TrendSignal,
                                       VolatilityPacedBands, VolatilityPacing, VolatilitySignal)

__all__ = [
    "Bands", "BuyAndHold", "Calendar", "CalendarThreshold", "CashFlowRouting", "LossHarvester", "OptimizerPolicy",
    "Orders", "Policy", "Schedule", "State", "TargetPathCalendar", "Threshold", "tactical_path", "water_fill",
    "MomentumFilteredBands", "MomentumTilt", "RiskTriggered", "TrendSignal", "VolatilityPacedBands",
    "VolatilityPacing", "VolatilitySignal",
]
