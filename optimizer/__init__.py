"""Rebalancing as one convex program: tracking error, impact, linear costs and lot-level tax.

    >>> import optimizer
    >>> result = optimizer.rebalance(portfolio, targets, market, optimizer.Settings())  # doctest: +SKIP
    >>> print(result.summary())  # doctest: +SKIP
"""

from optimizer.errors import DPPError, InfeasibleError, InputError, RebalanceError, SolverError
from optimizer.model import (Case, Market, OverlayInstrument, Portfolio, Restrictions, RiskModel, Settings, Targets,
                             TaxRules)
from optimizer.household import Account, Household, HouseholdResult, rebalance_household
from optimizer.calibration import BandCalibration, calibrate_bands
from optimizer.rebalancer import Rebalancer, rebalance, solve_case
from optimizer.result import RebalanceResult

__all__ = [
    "Account", "Household", "HouseholdResult", "rebalance_household",
    "BandCalibration", "calibrate_bands",
    "Case", "DPPError", "InfeasibleError", "InputError", "Market", "OverlayInstrument", "Portfolio", "RebalanceError",
    "RebalanceResult", "Rebalancer", "Restrictions", "RiskModel", "Settings", "SolverError", "Targets", "TaxRules",
    "rebalance", "solve_case",
]
