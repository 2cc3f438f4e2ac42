"""Multi-period execution of large trades: optimal schedules, baselines, child orders.

Reference: R. Almgren and N. Chriss, "Optimal execution of portfolio transactions",
Journal of Risk 3(2), 2000, 5-39.

- :func:`almgren_chriss`: the paper's closed-form optimal trajectory.
- :func:`schedule` / :class:`ScheduleProgram`: the same problem as a convex program, with
  participation caps, per-period limits, a spread cost and no reversal; :func:`efficient_frontier`.
- :func:`twap`, :func:`vwap`: baselines; :func:`child_orders`: per-period slices.
- :func:`expected_cost_and_variance`: the model's E[x] and V[x] of any trajectory.
- :class:`ScheduledExecution`: a policy wrapper that executes another policy's decisions over
  several days of a backtest and measures implementation shortfall against the arrival price.

Every cost of the schedule functions is the model's expected cost, not a measured one;
``ScheduledExecution.shortfall`` measures the realized cost of a backtest's fills.
"""

from optimizer.execution.almgren_chriss import almgren_chriss
from optimizer.execution.baselines import twap, vwap
from optimizer.execution.costs import CostAndVariance, expected_cost_and_variance
from optimizer.execution.orders import child_orders
from optimizer.execution.program import (
    ExecutionSchedule,
    ScheduleInputs,
    ScheduleProgram,
    efficient_frontier,
    schedule,
)
from optimizer.execution.scheduled import ScheduledExecution

__all__ = [
    "CostAndVariance",
    "ExecutionSchedule",
    "ScheduleInputs",
    "ScheduleProgram",
    "ScheduledExecution",
    "almgren_chriss",
    "child_orders",
    "efficient_frontier",
    "expected_cost_and_variance",
    "schedule",
    "twap",
    "vwap",
]
