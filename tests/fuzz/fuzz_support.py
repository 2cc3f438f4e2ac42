"""Shared pieces of the fuzz corpus: the valid base case, mutation helpers, the error check.

Every entry of a corpus is either **Bad** (must raise :class:`optimizer.InputError` naming
``field``, and ``asset``/``lot`` when given) or **Accepted** (accepted by design; a
``meaning`` check then asserts it was read as the documented value, so an acceptance is
never a silent misread).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from optimizer.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
BASE_CASE_FILE = ROOT / "problems" / "cases" / "three_asset.yaml"
ANY = object()


def base_case() -> dict:
    """The valid three-asset case as a plain dict (a fresh copy each call)."""
    return yaml.safe_load(BASE_CASE_FILE.read_text())


def with_overlay(d: dict) -> dict:
    d["overlays"] = [{"name": "ES", "multiplier": 50, "price": 5000.0, "exposure": {"EQUITY": 1.0},
                      "initial_margin": 0.06, "cost_per_contract_usd": 2.5, "contracts": 0}]
    return d


def with_restrictions(d: dict) -> dict:
    d["restrictions"] = {"VTI": {"no_sell": False}}
    return d


def _walk(d, path):
    for key in path[:-1]:
        d = d[key]
    return d


def set_(*path_and_value) -> Callable[[dict], dict]:
    """Mutation: set the value at ``path`` (keys and list positions) to the last argument."""
    *path, value = path_and_value

    def apply(d):
        _walk(d, path)[path[-1]] = copy.deepcopy(value)
        return d
    return apply


def drop(*path) -> Callable[[dict], dict]:
    """Mutation: delete the key at ``path``."""
    def apply(d):
        del _walk(d, path)[path[-1]]
        return d
    return apply


def rename(*path_and_new) -> Callable[[dict], dict]:
    """Mutation: rename the key at ``path`` to the last argument (a typo)."""
    *path, new = path_and_new

    def apply(d):
        parent = _walk(d, path)
        parent[new] = parent.pop(path[-1])
        return d
    return apply


def chain(*steps) -> Callable[[dict], dict]:
    def apply(d):
        for step in steps:
            d = step(d)
        return d
    return apply


@dataclass(frozen=True)
class Bad:
    """A bad input and the error it must give."""

    id: str
    mutate: Any
    field: str
    asset: Any = ANY
    lot: Any = ANY


@dataclass(frozen=True)
class Accepted:
    """An input accepted by design, with a check of what it must mean."""

    id: str
    mutate: Any
    meaning: Callable = field(default=lambda case: None)
    why: str = ""


def check_error(error: BaseException, bad: Bad) -> None:
    """``error`` is an InputError naming ``bad``'s field (and asset / lot when given), with no lost text."""
    assert isinstance(error, InputError), f"{bad.id}: {type(error).__name__}: {error}"
    assert error.field == bad.field, f"{bad.id}: field {error.field!r} != {bad.field!r} ({error})"
    if bad.asset is not ANY:
        assert error.asset == bad.asset, f"{bad.id}: asset {error.asset!r} != {bad.asset!r} ({error})"
    if bad.lot is not ANY:
        assert error.lot == bad.lot, f"{bad.id}: lot {error.lot!r} != {bad.lot!r} ({error})"
    assert bad.field in str(error)
