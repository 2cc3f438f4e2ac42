"""Nightly batch: rebalance thousands of accounts from a book (Parquet folder or DuckDB file) on Dask.

    >>> from optimizer.batch import run_batch
    >>> summary = run_batch(Path("problems/example_book"), "2024-06-28", Path("out"))  # doctest: +SKIP
    >>> print(summary.text())  # doctest: +SKIP

Modules: :mod:`~optimizer.batch.store` (book schema and readers/writers),
:mod:`~optimizer.batch.accounts` (rows -> one validated case per account, cached per shape),
:mod:`~optimizer.batch.worker` (what a Dask worker runs; its fast paths
:mod:`~optimizer.batch.fast_prepare`, :mod:`~optimizer.direct` and
:mod:`~optimizer.batch.bulk_output`), :mod:`~optimizer.batch.output`
(atomic parts, consolidated tables, manifest), :mod:`~optimizer.batch.runner` (scheduling,
retries, timeouts, progress), :mod:`~optimizer.batch.faults` (fault injection for drills).
"""

from optimizer._extras import require

require("batch", "optimizer.batch")   # a clear MissingExtraError before dask, pyarrow or duckdb is imported

from optimizer.batch.accounts import account_case  # noqa: E402
from optimizer.batch.runner import BatchSummary, execute, run_batch  # noqa: E402
from optimizer.batch.store import Book, load_book  # noqa: E402

__all__ = ["BatchSummary", "Book", "account_case", "execute", "load_book", "run_batch"]
