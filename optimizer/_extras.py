"""Optional extras: check their packages import before a feature needs them, and say which extra to install.

The core package (model, terms, program, rebalancer, policies, backtest) needs only the
dependencies every install has. Two stacks are extras in ``pyproject.toml``:

* ``batch``: dask + distributed, pyarrow, duckdb (:mod:`optimizer.batch`);
* ``report``: matplotlib (:mod:`optimizer.report`, and the demo that writes a report).

``[all]`` installs both; ``[test]`` installs ``[all]`` plus the test tools.
"""

from __future__ import annotations

import importlib

from optimizer.errors import MissingExtraError

#: Import names each extra provides (what its features import).
EXTRAS: dict[str, tuple[str, ...]] = {
    "batch": ("dask", "distributed", "pyarrow", "duckdb"),
    "report": ("matplotlib",),
}


def require(extra: str, feature: str) -> None:
    """Import every package of ``extra``; raise :class:`MissingExtraError` naming the first missing one.

    Only a package that is absent counts as missing: an installed package that fails
    while importing raises its own error, unchanged.
    """
    for package in EXTRAS[extra]:
        try:
            importlib.import_module(package)
        except ModuleNotFoundError as exc:
            if exc.name is not None and exc.name != package and not package.startswith(exc.name + "."):
                raise
            raise MissingExtraError(extra, package, feature) from exc
        except ImportError as exc:         # ``sys.modules[package] = None``: blocked, as good as absent
            if exc.name not in (None, package) or "None in sys.modules" not in str(exc):
                raise
            raise MissingExtraError(extra, package, feature) from exc
