"""The lines of ``orders.csv``, made per row in Arrow so that workers can make them with their parts.

:func:`optimizer.trade_file.orders_csv` writes the orders with pandas' ``to_csv``; formatting
the numbers of a 10,000-account book's orders took ~1.5 s of the serial consolidation.
Each line depends on its own row only, so a worker formats its chunk's orders as lines
(:func:`csv_lines`, written beside the part's ``orders.parquet`` as
:data:`LINES_TABLE`) and the consolidation only joins the winning rows' lines
(:func:`optimizer.batch.output.consolidate`). ``tests/batch/test_consolidate.py`` checks
the text equal to ``orders_csv``'s.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: The part file holding a chunk's ``orders.csv`` lines (columns ``account_id``, ``line``; rows as ``orders``).
LINES_TABLE = "orders_csv"

#: Characters that make pandas' ``to_csv`` (the csv module, line terminator "\n") quote a field.
_NEEDS_QUOTES = '[,"\n]'
_ORDER_NUMBERS = ("shares", "price", "notional")


def header() -> str:
    """The file's first line, with its newline."""
    from optimizer.trade_file import ORDER_COLUMNS

    return ",".join(ORDER_COLUMNS) + "\n"


def arrow_orders(table: pa.Table) -> bool:
    """Whether an orders table can be written from Arrow as it is: every order column there,
    numbers as floats, text as strings (or all null)."""
    from optimizer.trade_file import ORDER_COLUMNS

    if any(name not in table.column_names for name in ORDER_COLUMNS):
        return False
    for name in ORDER_COLUMNS:
        kind = table.schema.field(name).type
        if name in _ORDER_NUMBERS and not pa.types.is_floating(kind):
            return False
        if name not in _ORDER_NUMBERS and not (pa.types.is_string(kind) or pa.types.is_large_string(kind)
                                               or pa.types.is_null(kind)):
            return False
    return True


def csv_lines(orders) -> pa.Array | None:
    """Each order's line of ``orders.csv`` without its newline (a string array, rows in order),
    or ``None`` when only ``orders_csv`` can write these rows (a non-string value in a text
    column). ``orders``: a DataFrame or a ``pyarrow.Table`` (text columns used as they are).
    Numbers are formatted as ``orders_csv`` formats them; a text field is quoted as pandas
    quotes it (a comma, quote or "\\n" inside, quotes doubled)."""
    from optimizer.trade_file import ORDER_COLUMNS, _number

    if isinstance(orders, pa.Table) and not arrow_orders(orders):
        orders = orders.to_pandas()
    arrow = isinstance(orders, pa.Table)
    if isinstance(orders, pd.DataFrame) and any(name not in orders.columns for name in ORDER_COLUMNS):
        return None
    rows = orders.num_rows if arrow else len(orders)
    if not rows:
        return pa.array([], type=pa.string())
    try:
        columns = []
        for name in ORDER_COLUMNS:
            values = orders.column(name) if arrow else orders[name]
            if name in _ORDER_NUMBERS:
                values = values.to_numpy(zero_copy_only=False) if arrow else values.to_numpy()
                text = _formatted(values, _number if name != "notional" else _cents)
            elif arrow:
                text = values.combine_chunks().cast(pa.string())
            else:
                text = pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
            text = pc.fill_null(text, "")
            if pc.any(pc.match_substring_regex(text, _NEEDS_QUOTES)).as_py():
                quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
                text = pc.if_else(pc.match_substring_regex(text, _NEEDS_QUOTES), quoted, text)
            columns.append(text)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return None
    return pc.binary_join_element_wise(*columns, ",")


def _cents(value: float) -> str:
    return f"{value:.2f}"


def _formatted(values, form) -> pa.Array:
    """``[form(v) for v in values]`` as a string array, each distinct value formatted once
    (prices repeat per asset, whole share counts often): values are told apart by their
    bits, so -0.0 and 0.0, or two NaNs, are formatted each as they are."""
    values = np.asarray(values)
    if values.dtype != np.float64 or len(values) < 64:
        return pa.array([form(v) for v in values], type=pa.string())
    distinct, where = np.unique(values.view(np.int64), return_inverse=True)
    text = pa.array([form(v) for v in distinct.view(np.float64)], type=pa.string())
    return text.take(pa.array(where.ravel()))


def csv_text(lines) -> str:
    """``orders.csv`` from its lines (an Arrow string array or chunked array, rows in order)."""
    if not len(lines):
        return header()
    return header() + "\n".join(lines.to_pylist()) + "\n"


def lines_table(orders) -> pa.Table | None:
    """A part's :data:`LINES_TABLE`: ``account_id`` and ``line`` per order row, or ``None``
    when the lines cannot be made here (the consolidation then formats the orders itself)."""
    lines = csv_lines(orders)
    if lines is None:
        return None
    ids = orders.column("account_id") if isinstance(orders, pa.Table) else orders["account_id"]
    try:
        ids = pa.array(ids.to_numpy(zero_copy_only=False) if isinstance(ids, pa.ChunkedArray)
                       else ids.to_numpy(dtype=object), type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    return pa.table({"account_id": ids, "line": lines})


__all__ = ["LINES_TABLE", "arrow_orders", "csv_lines", "csv_text", "header", "lines_table"]
