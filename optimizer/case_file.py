"""Read and write a single rebalance case as JSON or YAML (the format of ``rebalance solve CASE``).

Layout (every amount in the account currency; weights are NAV fractions)::

    date: 2020-12-31
    cash_usd: 50000                # optional, default 0
    overdraft_usd: 0               # optional
    realized_gain_usd: 0           # optional: net gain realized this tax year (null: unknown)
    recent_loss_sales: {BND: 2024-06-01}          # optional: latest loss sale per asset (wash sales)
    recent_buys:                                  # optional: buys of the last 30 days, held or sold
      - {asset: VTI, lot_id: L9, acquired: 2024-06-10}
    lots:                          # tax lots
      - {lot_id: L1, asset: SP500, quantity: 120, cost_basis: 250.0, acquired: 2018-03-01}
    untradeable_usd: {PE_FUND: 100000}           # optional
    assets:                        # market snapshot per asset
      SP500: {price: 370.0, asset_class: US_EQUITY, volatility: 0.012, adv_usd: 2.0e+10,
              half_spread: 0.0002, commission: 0.0}
    asset_class: {PE_FUND: PRIVATE}              # optional: classes of untradeable assets
    targets:
      cash_weight: 0.02
      keys: {US_EQUITY: {weight: 0.6, lower: 0.55, upper: 0.65}, ...}
    risk:                          # annual factor model on the target keys
      factors: [F1, F2]
      factor_cov: [[0.03, 0.0], [0.0, 0.004]]
      loadings: {US_EQUITY: [1.0, 0.0], ...}
      specific_var: {US_EQUITY: 0.0004, ...}
    tax: {short_term_rate: 0.37, long_term_rate: 0.20}        # optional
    overlays:                                                 # optional
      - {name: ES, multiplier: 50, price: 3700, exposure: {US_EQUITY: 1.0},
         initial_margin: 0.06, cost_per_contract_usd: 2.5, contracts: 0}
    restrictions: {SP500: {no_sell: true}}                    # optional
    settings: {risk_aversion: 10, bands: soft}                # optional

Reading is strict (:mod:`optimizer.schema`): an unknown key is refused with the closest valid
one, numbers are never text or booleans, dates never numbers, flags only ``true``/``false``,
a key may appear once per mapping, and lots may not be dated after ``date``. Every problem
raises :class:`InputError` naming the field, asset and lot.
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path

import numpy as np
import pandas as pd
from optimizer.errors import InputError
from optimizer.model import (Case, Market, OverlayInstrument, Portfolio, Restrictions, RiskModel, Settings, Targets,
                             TaxRules)
from optimizer.model.portfolio import LOT_COLUMNS
from optimizer.model.restrictions import FLAG_COLUMNS, SIZE_COLUMNS
from optimizer.schema import ACCOUNT_KEYS, CASE, HOUSEHOLD_CASE, check, parse_document

ASSET_FIELDS = ("price", "asset_class", "volatility", "adv_usd", "half_spread", "commission")


SUFFIXES = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}


def read_case(path: str | Path) -> Case:
    """Load a case file (``.json``, ``.yaml`` or ``.yml``), strictly.

    Raises
    ------
    InputError
        The path is missing, a folder or unreadable; the text is not valid JSON/YAML, has a
        duplicate key or is nested too deeply; or a field is unknown, of the wrong type or
        out of range (``field``, ``asset`` and ``lot`` say where). A household case file
        (top-level ``accounts:``) is refused: read it with :func:`read_household_case`.
    """
    raw, path = _read_raw(path)
    if "accounts" in raw:
        raise InputError("case", f"{path.name} is a household case file (top-level accounts:); read it with "
                         "read_household_case or read_case_file")
    return case_from_dict(raw, name=path.stem)


def read_household_case(path: str | Path) -> "HouseholdFile":
    """Load a household case file strictly (layout: :func:`household_case_from_dict`)."""
    raw, path = _read_raw(path)
    if "accounts" not in raw:
        raise InputError("case", f"{path.name} has no top-level accounts: list; it is a single-account case")
    return household_case_from_dict(raw, name=path.stem)


def read_case_file(path: str | Path) -> "Case | HouseholdFile":
    """A case file of either kind: a :class:`HouseholdFile` when it has a top-level ``accounts:``
    list, else a :class:`Case` (the same strict checks as :func:`read_case`)."""
    raw, path = _read_raw(path)
    if "accounts" in raw:
        return household_case_from_dict(raw, name=path.stem)
    return case_from_dict(raw, name=path.stem)


def _read_raw(path: str | Path) -> tuple[dict, Path]:
    """The parsed top-level mapping of a case file, and its path (see :func:`read_case` for errors)."""
    path = Path(path)
    if not path.exists():
        raise InputError("case", f"file {str(path)!r} does not exist")
    if path.is_dir():
        raise InputError("case", f"{str(path)!r} is a folder; give a case file (.json, .yaml or .yml)")
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise InputError("case", f"{path.name!r} has suffix {path.suffix!r}; use .json, .yaml or .yml")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError("case", f"{path.name} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError("case", f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    raw = parse_document(text, fmt, path.name)
    if not isinstance(raw, dict):
        raise InputError("case", f"{path.name} must hold a mapping at the top level")
    return raw, path


@dataclasses.dataclass(frozen=True)
class HouseholdMember:
    """One account of a household case file: its name, kind (``taxable``, ``deferred``, ``exempt``),
    cash flow and buffer (account currency), and its :class:`Case` (own portfolio and restrictions;
    market, targets, settings and tax are the household's)."""

    name: str
    kind: str
    cash_flow_usd: float
    min_cash_usd: float
    case: Case


@dataclasses.dataclass(frozen=True)
class HouseholdFile:
    """A household case file, read: the members and the ``household:`` options
    (``tax_drag`` as a Series by asset, ``cash_tax_drag``, ``after_tax_exposures``,
    ``withdrawal_tax_rate``; keywords of :class:`optimizer.household.Household`)."""

    name: str
    members: tuple[HouseholdMember, ...]
    options: dict

    @property
    def shared(self) -> Case:
        """The first member's case: its market, targets, settings and tax are the household's."""
        return self.members[0].case


def household_case_from_dict(raw: dict, name: str = "household") -> HouseholdFile:
    """Build a :class:`HouseholdFile` from a parsed household case file.

    Layout: the keys of a single case file that describe the market and the decision
    (``date``, ``assets``, ``asset_class``, ``targets``, ``risk``, ``tax``, ``settings``) are
    shared; ``accounts`` lists each account with ``name``, ``kind`` (``taxable`` default,
    ``deferred``, ``exempt``), ``cash_flow_usd``, ``min_cash_usd`` and the per-account keys of
    a case file (``cash_usd``, ``lots``, ``untradeable_usd``, ``recent_buys``,
    ``recent_loss_sales``, ``restrictions``, ``overdraft_usd``, ``realized_gain_usd``);
    ``household`` (optional) holds ``tax_drag`` (per asset, fraction a year), ``cash_tax_drag``,
    ``after_tax_exposures`` and ``withdrawal_tax_rate``. Checked against
    :data:`optimizer.schema.HOUSEHOLD_CASE`; each account is then built as a single case (the
    same checks), its errors named ``accounts[<name>].<field>``.

    Raises
    ------
    InputError
        Unknown key, wrong type, an empty or repeated account name, or a bad account.
    """
    data = check(raw, HOUSEHOLD_CASE)
    if not data["accounts"]:
        raise InputError("accounts", "is empty; a household needs at least one account")
    names = [a["name"] for a in data["accounts"]]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"accounts[{twice[0]}].name", "is used twice; account names are unique in a household")
    shared = {k: raw[k] for k in raw if k not in ("accounts", "household")}
    members = []
    for entry, account in zip(raw["accounts"], data["accounts"]):
        own = {k: entry[k] for k in ACCOUNT_KEYS if k in entry}
        try:
            case = case_from_dict({**shared, **own}, name=account["name"])
        except InputError as error:
            if error.field.split(".", 1)[0].split("[", 1)[0] not in ACCOUNT_KEYS:
                raise  # a problem of the shared part: its own field name says where
            raise InputError(f"accounts[{account['name']}].{error.field}", str(error).split(": ", 1)[-1],
                             asset=error.asset, lot=error.lot) from None
        members.append(HouseholdMember(account["name"], account["kind"], account["cash_flow_usd"],
                                       account["min_cash_usd"], case))
    options = dict(data.get("household", {}))
    if "tax_drag" in options:
        options["tax_drag"] = pd.Series(options["tax_drag"], dtype=float)
    return HouseholdFile(name=name, members=tuple(members), options=options)


def case_from_dict(raw: dict, name: str = "case") -> Case:
    """Build a :class:`Case` from the parsed file contents (checked against :data:`optimizer.schema.CASE`)."""
    data = check(raw, CASE)
    date = data["date"]
    lots = pd.DataFrame(data["lots"], columns=list(LOT_COLUMNS))
    overlays_raw = data.get("overlays", [])
    portfolio = Portfolio(
        lots=lots,
        cash_usd=data["cash_usd"],
        untradeable_usd=pd.Series(data.get("untradeable_usd", {}), dtype=float),
        overlay_contracts=pd.Series({o["name"]: o.get("contracts", 0.0) for o in overlays_raw}, dtype=float),
        recent_loss_sales=pd.Series(data.get("recent_loss_sales", {}), dtype="datetime64[ns]"),
        recent_buys=pd.DataFrame([{"asset": b["asset"], "lot_id": b.get("lot_id", ""), "acquired": b["acquired"]}
                                  for b in data.get("recent_buys", [])], columns=["asset", "lot_id", "acquired"]),
        overdraft_usd=data["overdraft_usd"],
        realized_gain_usd=data.get("realized_gain_usd"),
    )
    assets = data["assets"]
    if not assets:
        raise InputError("assets", "is empty; the market snapshot needs at least one asset")
    columns = {f: pd.Series({a: spec[f] for a, spec in assets.items()}, dtype=object) for f in ASSET_FIELDS}
    classes = pd.Series(data.get("asset_class", {}), dtype=object)
    both = sorted(set(classes.index) & set(assets))
    if both:
        raise InputError("asset_class", "is also given under assets; give an asset's class once", asset=both[0])
    asset_class = pd.concat([columns["asset_class"], classes])

    risk_raw = data["risk"]
    factors = risk_raw["factors"]
    if len(set(factors)) != len(factors):
        raise InputError("risk.factors", "names a factor twice")
    cov = risk_raw["factor_cov"]
    if len(cov) != len(factors) or any(len(row) != len(factors) for row in cov):
        shape = f"{len(cov)} rows of lengths {sorted({len(r) for r in cov})}" if cov else "no rows"
        raise InputError("risk.factor_cov", f"has {shape}; expected {len(factors)} x {len(factors)} "
                         "(one row and column per factor)")
    for key, row in risk_raw["loadings"].items():
        if len(row) != len(factors):
            raise InputError("risk.loadings", f"has {len(row)} loadings; expected {len(factors)} (one per factor)",
                             asset=key)
    loadings = pd.DataFrame.from_dict(risk_raw["loadings"], orient="index", columns=factors, dtype=float)
    risk = RiskModel(loadings=loadings, factor_cov=pd.DataFrame(cov, index=factors, columns=factors, dtype=float),
                     specific_var=pd.Series(risk_raw["specific_var"], dtype=float))
    market = Market(date=date, prices=columns["price"], asset_class=asset_class, risk=risk,
                    volatility=columns["volatility"], adv_usd=columns["adv_usd"],
                    half_spread=columns["half_spread"], commission=columns["commission"])

    targets_raw = data["targets"]
    keys = targets_raw["keys"]
    if not keys:
        raise InputError("targets.keys", "is empty; give at least one target")
    weight = {k: spec["weight"] for k, spec in keys.items()}
    lower = {k: spec.get("lower", weight[k]) for k, spec in keys.items()}
    upper = {k: spec.get("upper", weight[k]) for k, spec in keys.items()}
    targets = Targets(pd.Series(weight, dtype=float), pd.Series(lower, dtype=float), pd.Series(upper, dtype=float),
                      cash_weight=targets_raw["cash_weight"])

    overlays = tuple(OverlayInstrument(**{k: v for k, v in o.items() if k != "contracts"}) for o in overlays_raw)
    known_assets = set(assets) | set(data.get("untradeable_usd", {}))
    for asset in data.get("restrictions", {}):
        if asset not in known_assets:  # most likely a typo: the rule would bind nothing
            close = difflib.get_close_matches(asset, sorted(known_assets), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError("restrictions", f"names an asset that is not in assets or untradeable_usd{hint}",
                             asset=asset)
    restrictions = Restrictions(pd.DataFrame.from_dict(data.get("restrictions", {}), orient="index"))
    settings_raw = dict(data.get("settings", {}))
    if settings_raw.get("solvers") is not None:
        settings_raw["solvers"] = tuple(settings_raw["solvers"])
    settings = Settings(**settings_raw)
    tax = TaxRules(**data.get("tax", {}))
    return Case(portfolio=portfolio, targets=targets, market=market, settings=settings, tax=tax,
                overlays=overlays, restrictions=restrictions, name=name)


def case_to_dict(case: Case) -> dict:
    """The inverse of :func:`case_from_dict` (for writing example files)."""
    p, m, t = case.portfolio, case.market, case.targets
    lots = p.lots.copy()
    lots["acquired"] = lots["acquired"].dt.strftime("%Y-%m-%d")
    risk = m.risk
    out = {
        "date": m.date.strftime("%Y-%m-%d"),
        "cash_usd": float(p.cash_usd),
        "lots": [{k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in row.items()}
                 for row in lots.to_dict(orient="records")],
        "assets": {a: {"price": float(m.prices[a]), "asset_class": str(m.asset_class[a]),
                       "volatility": float(m.volatility[a]), "adv_usd": float(m.adv_usd[a]),
                       "half_spread": float(m.half_spread[a]), "commission": float(m.commission[a])}
                   for a in m.assets},
        "targets": {"cash_weight": float(t.cash_weight),
                    "keys": {k: {"weight": float(t.weight[k]), "lower": float(t.band_lower[k]),
                                 "upper": float(t.band_upper[k])} for k in t.keys}},
        "risk": {"factors": list(risk.loadings.columns),
                 "factor_cov": risk.factor_cov.to_numpy().tolist(),
                 "loadings": {k: [float(x) for x in row] for k, row in risk.loadings.iterrows()},
                 "specific_var": {k: float(v) for k, v in risk.specific_var.items()}},
        "tax": _plain_fields(case.tax, skip=("identical_groups",)),
        "settings": _plain_fields(case.settings, skip=("solvers",)),
    }
    if case.tax.identical_groups:
        out["tax"]["identical_groups"] = dict(case.tax.identical_groups)
    if case.settings.solvers is not None:
        out["settings"]["solvers"] = list(case.settings.solvers)
    if p.overdraft_usd:
        out["overdraft_usd"] = float(p.overdraft_usd)
    if p.realized_gain_usd is not None:
        out["realized_gain_usd"] = float(p.realized_gain_usd)
    if len(p.recent_loss_sales):
        out["recent_loss_sales"] = {str(a): pd.Timestamp(d).strftime("%Y-%m-%d") for a, d in p.recent_loss_sales.items()}
    if len(p.recent_buys):
        out["recent_buys"] = [{"asset": str(b.asset), "lot_id": str(b.lot_id),
                               "acquired": pd.Timestamp(b.acquired).strftime("%Y-%m-%d")}
                              for b in p.recent_buys.itertuples(index=False)]
    if len(p.untradeable_usd):
        out["untradeable_usd"] = {k: float(v) for k, v in p.untradeable_usd.items()}
        out["asset_class"] = {k: str(m.asset_class[k]) for k in p.untradeable_usd.index}
    if case.overlays:
        out["overlays"] = [_overlay_dict(o, float(p.overlay_contracts.get(o.name, 0.0))) for o in case.overlays]
    if not case.restrictions.table.empty:
        out["restrictions"] = {str(a): _restriction_dict(row) for a, row in case.restrictions.table.iterrows()}
    return out


def _plain_fields(obj, skip: tuple[str, ...] = ()) -> dict:
    """A frozen dataclass's fields as plain Python numbers, text and booleans."""
    out = {}
    for f in dataclasses.fields(obj):
        if f.name in skip:
            continue
        value = getattr(obj, f.name)
        out[f.name] = value.item() if isinstance(value, np.generic) else value
    return out


def _overlay_dict(o: OverlayInstrument, contracts: float) -> dict:
    out = {"name": o.name, "multiplier": float(o.multiplier), "price": float(o.price),
           "exposure": {str(k): float(v) for k, v in o.exposure.items()}, "initial_margin": float(o.initial_margin),
           "cost_per_contract_usd": float(o.cost_per_contract_usd), "holding_cost": float(o.holding_cost),
           "contracts": contracts}
    if np.isfinite(o.max_notional_usd):  # unlimited is the default; JSON has no infinity
        out["max_notional_usd"] = float(o.max_notional_usd)
    return out


def _restriction_dict(row: pd.Series) -> dict:
    out = {c: bool(row[c]) for c in FLAG_COLUMNS if bool(row[c])}
    out.update({c: float(row[c]) for c in SIZE_COLUMNS if np.isfinite(row[c])})
    return out
