"""Read and write a single rebalance case as JSON or YAML (the format of ``rebalance solve CASE``).

Layout (every amount in the account currency; weights are NAV fractions)::

    date: 2020-12-31
    cash_usd: 50000                # optional, default 0
    overdraft_usd: 0               # optional
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

A missing or malformed field raises :class:`InputError` naming it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from optimizer.errors import InputError
from optimizer.model import (Case, Market, OverlayInstrument, Portfolio, Restrictions, RiskModel, Settings, Targets,
                             TaxRules)

ASSET_FIELDS = ("price", "asset_class", "volatility", "adv_usd", "half_spread", "commission")


def read_case(path: str | Path) -> Case:
    """Load a case file (``.json``, ``.yaml`` or ``.yml``)."""
    path = Path(path)
    if not path.exists():
        raise InputError("case", f"file {str(path)!r} does not exist")
    text = path.read_text()
    try:
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InputError("case", f"{path.name} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from None
    if not isinstance(raw, dict):
        raise InputError("case", f"{path.name} must hold a mapping at the top level")
    return case_from_dict(raw, name=path.stem)


def _require(raw: dict, key: str, where: str = ""):
    if key not in raw or raw[key] is None:
        raise InputError(f"{where}{key}", "is required in the case file")
    return raw[key]


def case_from_dict(raw: dict, name: str = "case") -> Case:
    """Build a :class:`Case` from the parsed file contents."""
    date = pd.Timestamp(_require(raw, "date"))
    lots = pd.DataFrame(_require(raw, "lots"))
    portfolio = Portfolio(
        lots=lots if len(lots) else pd.DataFrame(columns=["lot_id", "asset", "quantity", "cost_basis", "acquired"]),
        cash_usd=raw.get("cash_usd", 0.0),
        untradeable_usd=pd.Series(raw.get("untradeable_usd") or {}, dtype=float),
        overlay_contracts=pd.Series({o["name"]: o.get("contracts", 0.0) for o in raw.get("overlays") or []}, dtype=float),
        recent_loss_sales=pd.Series(raw.get("recent_loss_sales") or {}, dtype="datetime64[ns]"),
        overdraft_usd=raw.get("overdraft_usd", 0.0),
    )
    assets = _require(raw, "assets")
    columns = {}
    for field in ASSET_FIELDS:
        values = {}
        for asset, spec in assets.items():
            if not isinstance(spec, dict) or field not in spec:
                raise InputError(f"assets.{field}", "is required for every asset", asset=str(asset))
            values[str(asset)] = spec[field]
        columns[field] = pd.Series(values)
    asset_class = pd.concat([columns["asset_class"].astype(str), pd.Series(raw.get("asset_class") or {}, dtype=str)])

    risk_raw = _require(raw, "risk")
    factors = [str(f) for f in _require(risk_raw, "factors", "risk.")]
    loadings = pd.DataFrame.from_dict(_require(risk_raw, "loadings", "risk."), orient="index", columns=factors)
    risk = RiskModel(loadings=loadings,
                     factor_cov=pd.DataFrame(_require(risk_raw, "factor_cov", "risk."), index=factors, columns=factors),
                     specific_var=pd.Series(_require(risk_raw, "specific_var", "risk."), dtype=float))
    market = Market(date=date, prices=columns["price"].astype(float), asset_class=asset_class, risk=risk,
                    volatility=columns["volatility"], adv_usd=columns["adv_usd"],
                    half_spread=columns["half_spread"], commission=columns["commission"])

    targets_raw = _require(raw, "targets")
    keys = _require(targets_raw, "keys", "targets.")
    weight, lower, upper = {}, {}, {}
    for key, spec in keys.items():
        weight[key] = _require(spec, "weight", f"targets.keys.{key}.")
        lower[key] = spec.get("lower", weight[key])
        upper[key] = spec.get("upper", weight[key])
    targets = Targets(pd.Series(weight, dtype=float), pd.Series(lower, dtype=float), pd.Series(upper, dtype=float),
                      cash_weight=targets_raw.get("cash_weight", 0.0))

    overlays = tuple(OverlayInstrument(**{k: v for k, v in o.items() if k != "contracts"})
                     for o in raw.get("overlays") or [])
    restrictions = Restrictions(pd.DataFrame.from_dict(raw.get("restrictions") or {}, orient="index"))
    try:
        settings = Settings(**(raw.get("settings") or {}))
        tax = TaxRules(**(raw.get("tax") or {}))
    except TypeError as exc:
        raise InputError("settings", str(exc)) from None
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
        "tax": {"short_term_rate": case.tax.short_term_rate, "long_term_rate": case.tax.long_term_rate},
        "settings": {"risk_aversion": case.settings.risk_aversion, "bands": case.settings.bands},
    }
    if len(p.untradeable_usd):
        out["untradeable_usd"] = {k: float(v) for k, v in p.untradeable_usd.items()}
        out["asset_class"] = {k: str(m.asset_class[k]) for k in p.untradeable_usd.index}
    return out
