"""``python -m problems``: the catalog commands that left the ``rebalance`` command (the package never imports problems)."""

from __future__ import annotations

from typer.testing import CliRunner

from optimizer.case_file import read_case
from problems.__main__ import app
from problems.catalog import CATALOG, load_case


def test_cases_lists_the_catalog():
    out = CliRunner().invoke(app, ["cases"])
    assert out.exit_code == 0
    assert out.output.split() == list(CATALOG)


def test_write_case_round_trips_and_an_unknown_name_exits_2(tmp_path):
    path = tmp_path / "case.yaml"
    out = CliRunner().invoke(app, ["write-case", "synthetic-20", str(path)])
    assert out.exit_code == 0, out.output
    written, original = read_case(path), load_case("synthetic-20")
    assert list(written.market.prices.index) == list(original.market.prices.index)
    assert written.portfolio.cash_usd == original.portfolio.cash_usd
    bad = CliRunner().invoke(app, ["write-case", "no-such-case", str(tmp_path / "x.yaml")])
    assert bad.exit_code == 2 and not (tmp_path / "x.yaml").exists()
