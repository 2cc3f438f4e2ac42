"""Strict reading of case files: a parser that refuses ambiguity and a small schema checker.

Parsing (:func:`parse_document`)
    JSON or YAML text to plain Python. Duplicate keys in one mapping are refused (both
    formats would silently keep the last); YAML booleans are only ``true``/``false``
    (YAML 1.1 would read ``no``, ``off`` or the country code ``NO`` as False); JSON
    ``NaN``/``Infinity`` are refused; text nested too deeply for the parser gives an
    :class:`InputError`, not a ``RecursionError``.

Checking (:func:`check`)
    Walks the parsed value along a spec (:class:`Record`, :class:`MapOf`, :class:`ListOf`
    and the leaf types). Unknown keys are refused with their path and the closest valid
    key; numbers are ints or floats (never text or booleans); dates are dates or
    ``YYYY-MM-DD`` text (never numbers); flags are ``true``/``false`` only. Errors are
    :class:`InputError` with ``field`` the dotted path of record keys, ``asset`` the key of
    the enclosing asset/key mapping and ``lot`` the lot id of the enclosing lot.

The walk follows the spec, not the data, so its depth is bounded by the spec's.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
import yaml

from optimizer.errors import InputError
from optimizer.model._checks import is_number

# ---------------------------------------------------------------------------------------------
# Parsing


class _StrictYamlLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans (true/false only) and no duplicate keys."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key; the constructor reports it
                continue
            line = key_node.start_mark.line + 1
            if first is not None:
                raise _Duplicate(key, first, line)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


_StrictYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictYamlLoader.add_implicit_resolver("tag:yaml.org,2002:bool",
                                        re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_StrictYamlLoader.add_constructor("tag:yaml.org,2002:map", _StrictYamlLoader.construct_yaml_map)


class _Duplicate(Exception):
    def __init__(self, key, first_line: int | None, line: int | None):
        self.key, self.first_line, self.line = key, first_line, line


def _json_pairs(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key, None, None)
        out[key] = value
    return out


def _json_constant(name: str):
    raise _Constant(name)


class _Constant(Exception):
    pass


def parse_document(text: str, fmt: str, source: str) -> Any:
    """Parse ``text`` as ``fmt`` (``"json"`` or ``"yaml"``); ``source`` names it in errors.

    Raises
    ------
    InputError
        Not valid JSON/YAML, a duplicate key (``field`` is the key), a JSON ``NaN``, or
        nesting too deep to parse.
    """
    label = "JSON" if fmt == "json" else "YAML"
    try:
        if fmt == "json":
            return json.loads(text, object_pairs_hook=_json_pairs, parse_constant=_json_constant)
        return yaml.load(text, Loader=_StrictYamlLoader)  # noqa: S506 - a SafeLoader subclass
    except _Duplicate as dup:
        where = f" (lines {dup.first_line} and {dup.line})" if dup.line else ""
        raise InputError(str(dup.key), f"appears twice in the same mapping of {source}{where}; "
                         "each key may be given once") from None
    except _Constant as const:
        raise InputError("case", f"{source} holds {const.args[0]}, which is not JSON; give a number") from None
    except RecursionError:
        raise InputError("case", f"{source} is nested too deeply to read") from None
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InputError("case", f"{source} is not valid {label}: {exc}") from None


# ---------------------------------------------------------------------------------------------
# Where a value sits


@dataclass(frozen=True)
class Where:
    """Position of a value: dotted record path, and the enclosing asset and lot."""

    parts: tuple[str, ...] = ()
    asset: str | None = None
    lot: str | None = None

    @property
    def field(self) -> str:
        return ".".join(self.parts) if self.parts else "case"

    def child(self, name: str) -> "Where":
        return replace(self, parts=self.parts + (name,))

    def error(self, message: str) -> InputError:
        return InputError(self.field, message, asset=self.asset, lot=self.lot)


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "a boolean", type(None): "null"}.get(
        type(value), type(value).__name__)


# ---------------------------------------------------------------------------------------------
# Specs


class Spec:
    """A rule for one value; :meth:`check` returns the cleaned value or raises :class:`InputError`."""

    nullable: bool = False

    def check(self, value, where: Where):  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class Number(Spec):
    """An int or float (never text or a boolean); ``integer``: a whole number."""

    integer: bool = False
    nullable: bool = False

    def check(self, value, where):
        if value is None and self.nullable:
            return None
        if not is_number(value):
            raise where.error(f"is {_show(value)} ({_kind(value)}); expected a number")
        try:
            float(value)
        except OverflowError:
            raise where.error(f"is {_show(value)}; too large to be a number") from None
        if self.integer:
            if not float(value).is_integer():
                raise where.error(f"is {_show(value)}; expected a whole number")
            return int(value)
        return float(value)


@dataclass(frozen=True)
class Name(Spec):
    """An identifier: text, or (with ``integers``) an integer read as its text."""

    integers: bool = True

    def check(self, value, where):
        if isinstance(value, str) and value.strip():
            return value
        if self.integers and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise where.error(f"is {_show(value)} ({_kind(value)}); expected a name")


@dataclass(frozen=True)
class Choice(Spec):
    options: tuple[str, ...] = ()

    def check(self, value, where):
        if isinstance(value, str) and value in self.options:
            return value
        raise where.error(f"is {_show(value)}; use one of {list(self.options)}")


@dataclass(frozen=True)
class Flag(Spec):
    """``true`` or ``false`` only."""

    def check(self, value, where):
        if isinstance(value, bool):
            return value
        raise where.error(f"is {_show(value)} ({_kind(value)}); expected true or false")


@dataclass(frozen=True)
class Date(Spec):
    """A date: a YAML date, or ``YYYY-MM-DD`` text. Never a number."""

    def check(self, value, where):
        if isinstance(value, str):
            try:
                value = dt.datetime.fromisoformat(value.strip())
            except (ValueError, TypeError):
                raise where.error(f"{_show(value)} is not a date; use YYYY-MM-DD") from None
        if not isinstance(value, (dt.date, dt.datetime)):
            raise where.error(f"is {_show(value)} ({_kind(value)}); expected a date, YYYY-MM-DD")
        try:
            stamp = pd.Timestamp(value)
        except (ValueError, OverflowError):
            raise where.error(f"{_show(str(value))} is outside the dates this engine handles") from None
        return stamp.tz_convert(None) if stamp.tzinfo is not None else stamp


@dataclass(frozen=True)
class ListOf(Spec):
    """A list of ``item``. ``label``: ``"lot"`` names items by their ``lot_id``, ``"name"`` by their
    ``name`` (``field[name]``), ``None`` by position (``field[i]``)."""

    item: Spec = None
    label: str | None = None
    nullable: bool = False

    def check(self, value, where):
        if value is None and self.nullable:
            return None
        if not isinstance(value, list):
            raise where.error(f"is {_kind(value)}; expected a list")
        out = []
        for i, element in enumerate(value):
            if self.label == "lot":
                lot = element.get("lot_id") if isinstance(element, dict) else None
                asset = element.get("asset") if isinstance(element, dict) else None
                inner = replace(where, lot=str(lot) if isinstance(lot, (str, int)) else f"#{i + 1}",
                                asset=str(asset) if isinstance(asset, (str, int)) else where.asset)
            elif self.label == "name":
                name = element.get("name") if isinstance(element, dict) else None
                tag = str(name) if isinstance(name, str) else str(i)
                inner = replace(where, parts=where.parts[:-1] + (f"{where.parts[-1]}[{tag}]",))
            else:
                inner = replace(where, parts=where.parts[:-1] + (f"{where.parts[-1]}[{i}]",))
            out.append(self.item.check(element, inner))
        return out


@dataclass(frozen=True)
class MapOf(Spec):
    """A mapping name -> ``value``; the name becomes the error's ``asset``."""

    value: Spec = None

    def check(self, value, where):
        if not isinstance(value, dict):
            raise where.error(f"is {_kind(value)}; expected a mapping of name -> value")
        out = {}
        for key, element in value.items():
            name = Name().check(key, where)
            if name in out:
                raise where.error(f"names {name!r} twice")
            out[name] = self.value.check(element, replace(where, asset=name))
        return out


@dataclass(frozen=True)
class Key:
    """One key of a :class:`Record`: its spec, whether it is required, and its default."""

    spec: Spec
    required: bool = False
    default: Any = None


@dataclass(frozen=True)
class Record(Spec):
    """A mapping with known keys. Unknown keys are refused with the closest valid one."""

    keys: dict = field(default_factory=dict)
    nullable: bool = False

    def check(self, value, where):
        if value is None and self.nullable:
            return {}
        if not isinstance(value, dict):
            raise where.error(f"is {_kind(value)}; expected a mapping with keys {sorted(self.keys)}")
        for key in value:
            if not isinstance(key, str) or key not in self.keys:
                close = difflib.get_close_matches(str(key), list(self.keys), n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise where.child(str(key)).error(f"unknown key {key!r}; {hint}valid keys: {sorted(self.keys)}")
        out = {}
        for name, key in self.keys.items():
            inner = where.child(name)
            if name not in value or (value[name] is None and not key.spec.nullable):
                if name in value and not key.required:
                    raise inner.error("is null; give a value or leave the key out")
                if key.required:
                    raise inner.error("is required")
                if key.default is not None:
                    out[name] = key.default
                continue
            out[name] = key.spec.check(value[name], inner)
        return out


def check(value, spec: Spec, where: Where = Where()):
    """Check ``value`` against ``spec`` and return it cleaned (numbers float, dates Timestamps)."""
    return spec.check(value, where)


# ---------------------------------------------------------------------------------------------
# The case file

NUMBER = Number()
OPTIONAL_NUMBER = Number(nullable=True)

LOT = Record({"lot_id": Key(Name(), True), "asset": Key(Name(), True), "quantity": Key(NUMBER, True),
              "cost_basis": Key(NUMBER, True), "acquired": Key(Date(), True)})
ASSET = Record({"price": Key(NUMBER, True), "asset_class": Key(Name(), True), "volatility": Key(NUMBER, True),
                "adv_usd": Key(NUMBER, True), "half_spread": Key(NUMBER, True), "commission": Key(NUMBER, True)})
TARGET = Record({"weight": Key(NUMBER, True), "lower": Key(NUMBER), "upper": Key(NUMBER)})
RISK = Record({"factors": Key(ListOf(Name()), True), "factor_cov": Key(ListOf(ListOf(NUMBER)), True),
               "loadings": Key(MapOf(ListOf(NUMBER)), True), "specific_var": Key(MapOf(NUMBER), True)})
TAX = Record({"short_term_rate": Key(NUMBER), "long_term_rate": Key(NUMBER),
              "long_term_days": Key(Number(integer=True)), "wash_sale_days": Key(Number(integer=True)),
              "ordinary_offset_usd": Key(NUMBER), "horizon_years": Key(NUMBER), "discount_rate": Key(NUMBER),
              "at_horizon": Key(Choice(("liquidate", "step_up"))), "carry_value": Key(NUMBER),
              "identical_groups": Key(MapOf(Name())), "wait_for_long_term": Key(Flag())})
RECENT_BUY = Record({"asset": Key(Name(), True), "lot_id": Key(Name()), "acquired": Key(Date(), True)})
OVERLAY = Record({"name": Key(Name(), True), "multiplier": Key(NUMBER, True), "price": Key(NUMBER, True),
                  "exposure": Key(MapOf(NUMBER), True), "initial_margin": Key(NUMBER),
                  "cost_per_contract_usd": Key(NUMBER), "max_notional_usd": Key(NUMBER),
                  "holding_cost": Key(NUMBER), "contracts": Key(NUMBER)})
RESTRICTION = Record({"no_trade": Key(Flag()), "no_buy": Key(Flag()), "no_sell": Key(Flag()),
                      "allow_short": Key(Flag()), "max_trade_usd": Key(OPTIONAL_NUMBER),
                      "max_short_usd": Key(OPTIONAL_NUMBER)})
SETTINGS = Record({"risk_aversion": Key(NUMBER), "impact_weight": Key(NUMBER), "cost_weight": Key(NUMBER),
                   "tax_weight": Key(NUMBER), "impact_eta": Key(NUMBER), "bands": Key(Choice(("soft", "hard"))),
                   "band_penalty": Key(NUMBER), "min_cash_usd": Key(NUMBER), "min_cash_weight": Key(NUMBER),
                   "cash_flow_usd": Key(NUMBER), "overlay_gross_limit": Key(NUMBER), "wash_sale": Key(Flag()),
                   "solvers": Key(ListOf(Name(integers=False), nullable=True))})

#: The whole case file (see :mod:`optimizer.case_file` for the layout).
CASE = Record({
    "date": Key(Date(), True),
    "cash_usd": Key(NUMBER, default=0.0),
    "overdraft_usd": Key(NUMBER, default=0.0),
    "realized_gain_usd": Key(OPTIONAL_NUMBER),
    "lots": Key(ListOf(LOT, label="lot"), True),
    "untradeable_usd": Key(MapOf(NUMBER)),
    "recent_loss_sales": Key(MapOf(Date())),
    "recent_buys": Key(ListOf(RECENT_BUY, label="asset")),
    "assets": Key(MapOf(ASSET), True),
    "asset_class": Key(MapOf(Name())),
    "targets": Key(Record({"cash_weight": Key(NUMBER, default=0.0), "keys": Key(MapOf(TARGET), True)}), True),
    "risk": Key(RISK, True),
    "tax": Key(TAX),
    "overlays": Key(ListOf(OVERLAY, label="name")),
    "restrictions": Key(MapOf(RESTRICTION)),
    "settings": Key(SETTINGS),
})

#: One account of a household case file (its own lots, cash and trading history).
ACCOUNT = Record({
    "name": Key(Name(integers=False), True),
    "kind": Key(Choice(("taxable", "deferred", "exempt")), default="taxable"),
    "cash_usd": Key(NUMBER, default=0.0),
    "overdraft_usd": Key(NUMBER, default=0.0),
    "realized_gain_usd": Key(OPTIONAL_NUMBER),
    "cash_flow_usd": Key(NUMBER, default=0.0),
    "min_cash_usd": Key(NUMBER, default=0.0),
    "lots": Key(ListOf(LOT, label="lot"), True),
    "untradeable_usd": Key(MapOf(NUMBER)),
    "recent_loss_sales": Key(MapOf(Date())),
    "recent_buys": Key(ListOf(RECENT_BUY, label="asset")),
    "restrictions": Key(MapOf(RESTRICTION)),
})
#: Keys of a case file that belong to each account in a household case file.
ACCOUNT_KEYS = ("cash_usd", "overdraft_usd", "realized_gain_usd", "lots", "untradeable_usd", "recent_loss_sales",
                "recent_buys", "restrictions")
#: A household case file: ``accounts`` and the shared market, targets, risk, tax and settings
#: (see :func:`optimizer.case_file.read_household_case`).
HOUSEHOLD_CASE = Record({
    **{name: key for name, key in CASE.keys.items() if name not in ACCOUNT_KEYS + ("overlays",)},
    "accounts": Key(ListOf(ACCOUNT, label="name"), True),
    "household": Key(Record({"tax_drag": Key(MapOf(NUMBER)), "cash_tax_drag": Key(NUMBER),
                             "after_tax_exposures": Key(Flag()), "withdrawal_tax_rate": Key(NUMBER)})),
})
