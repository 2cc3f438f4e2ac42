"""Re-export of :mod:`optimizer.datasets`, the loaders of the data shipped in the package.

The loaders moved into the package so that ``optimizer`` never imports ``problems``; this
module keeps ``problems.real_data.<name>`` working for the case catalog, tests and
benchmarks. New code should import :mod:`optimizer.datasets`.
"""

from optimizer.datasets import *  # noqa: F401,F403  (every public loader, constant and DataError)
