"""Default chunk sizing: full chunks, then smaller ones at the end so the worker threads finish together.

Oracles: every account exactly once and in order (the book's), no chunk above the size, a
household never split (written by hand), and a tail bounded by what is left per thread.
"""

from __future__ import annotations

import pandas as pd

from optimizer.batch.runner import MIN_TAIL_CHUNK, _chunks


class EmptyBook:
    tables: dict = {}

    def __getitem__(self, name):
        raise KeyError(name)


def accounts(n: int, households: dict[int, str] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame({"account_id": [f"ACC{i:05d}" for i in range(n)], "model_id": "M1"})
    if households:
        frame["household_id"] = [households.get(i, "") for i in range(n)]
    return frame


def test_tapered_chunks_cover_every_account_once_in_order():
    todo = accounts(10_000)
    chunks = _chunks(todo, EmptyBook(), 250, taper=2)
    sizes = [len(c.account_ids) for c in chunks]
    assert [a for c in chunks for a in c.account_ids] == list(todo["account_id"])
    assert max(sizes) == 250 and sizes[0] == 250
    assert all(later <= earlier for earlier, later in zip(sizes, sizes[1:]))     # never growing again
    assert sizes[-1] <= MIN_TAIL_CHUNK
    left = 10_000
    for size in sizes:      # each chunk at most a quarter of what is left per thread (or the floor)
        assert size <= max(MIN_TAIL_CHUNK, -(-left // 4))
        left -= size
    assert len(chunks) <= 10_000 // 250 + 15           # only a few more chunks than full ones
    assert [len(c.account_ids) for c in _chunks(todo, EmptyBook(), 250)] == [250] * 40   # no taper: as before


def test_tapering_never_splits_a_household():
    todo = accounts(60, households={57: "H1", 58: "H1", 59: "H1"})
    chunks = _chunks(todo, EmptyBook(), 25, taper=2)
    holding = [c for c in chunks if "ACC00057" in c.account_ids]
    assert len(holding) == 1 and {"ACC00058", "ACC00059"} <= set(holding[0].account_ids)
    assert [a for c in chunks for a in c.account_ids] == list(todo["account_id"])
