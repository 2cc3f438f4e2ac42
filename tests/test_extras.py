"""Optional extras: every third-party import is declared, the core runs without the extras, and
a missing extra raises MissingExtraError naming the extra to install.

The declaration check scans the package's imports with ``ast`` (including imports inside
functions) and compares them with ``pyproject.toml``: a package the core imports must be a
core dependency; a package of an extra may be imported only under the feature that
requires that extra.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from optimizer._extras import EXTRAS, require
from optimizer.errors import MissingExtraError, RebalanceError

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "optimizer"
#: Import name -> distribution name, where they differ.
DISTRIBUTION = {"yaml": "pyyaml"}
#: Where each extra's packages may be imported (the modules that ``require`` it first).
EXTRA_HOMES = {"batch": ("optimizer/batch/", "optimizer/book_schema.py"), "report": ("optimizer/report/",)}


def third_party_imports(root: Path) -> dict[str, set[str]]:
    """Top-level third-party import name -> files importing it (relative to the repository)."""
    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "optimizer":
                    found.setdefault(top, set()).add(str(path.relative_to(root.parent)))
    return found


def requirement_name(requirement: str) -> str:
    name = requirement
    for stop in "[<>=!~; ":
        name = name.split(stop)[0]
    return name.strip().lower().replace("_", "-")


def declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {requirement_name(r) for r in project["dependencies"]}
    extras = {extra: {requirement_name(r) for r in reqs} for extra, reqs in project["optional-dependencies"].items()}
    return core, extras


def undeclared_imports(imports: dict[str, set[str]], core: set[str], extras: dict[str, set[str]]) -> list[str]:
    """One line per import that no dependency declares, or that the core makes of an extra's package."""
    problems = []
    for name, files in sorted(imports.items()):
        dist = DISTRIBUTION.get(name, name).lower()
        if dist == "distributed":                  # shipped by dask[distributed]
            dist = "dask"
        if dist in core:
            continue
        owners = [extra for extra in EXTRA_HOMES if dist in extras.get(extra, set())]
        if not owners:
            problems.append(f"{name} (imported by {', '.join(sorted(files))}) is declared nowhere in pyproject.toml")
            continue
        homes = tuple(home for extra in owners for home in EXTRA_HOMES[extra])
        outside = sorted(f for f in files if not f.startswith(homes))
        if outside:
            problems.append(f"{name} belongs to the extra {owners[0]!r} but is imported outside it: {outside}")
    return problems


def test_every_third_party_import_is_declared_where_it_is_used():
    core, extras = declared()
    problems = undeclared_imports(third_party_imports(PACKAGE), core, extras)
    assert not problems, "\n".join(problems)


def test_the_declaration_check_can_fail():
    imports = {"scipy": {"optimizer/problem_data.py"}, "matplotlib": {"optimizer/terms/x.py"}, "yaml": {"a.py"}}
    problems = undeclared_imports(imports, core={"pyyaml"}, extras={"report": {"matplotlib"}})
    assert problems == [
        "matplotlib belongs to the extra 'report' but is imported outside it: ['optimizer/terms/x.py']",
        "scipy (imported by optimizer/problem_data.py) is declared nowhere in pyproject.toml",
    ]


def test_extras_are_what_the_guards_require_and_test_pulls_in_everything():
    core, extras = declared()
    for extra, packages in EXTRAS.items():
        for package in packages:
            assert ("dask" if package == "distributed" else package) in extras[extra], (extra, package)
    assert "rebalance-optimizer" in extras["all"] and "rebalance-optimizer" in extras["test"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "rebalance-optimizer[batch,report]" in project["optional-dependencies"]["all"]
    assert "rebalance-optimizer[all]" in project["optional-dependencies"]["test"]
    assert "'.[test]'" in (ROOT / "Makefile").read_text()          # `make test` / `make demo` install all


@pytest.mark.parametrize("extra, package, module", [("report", "matplotlib", "optimizer.report"),
                                                     ("batch", "duckdb", "optimizer.batch")])
def test_a_missing_extra_raises_a_typed_error_naming_it(monkeypatch, extra, package, module):
    monkeypatch.setitem(sys.modules, package, None)           # as if not installed
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(MissingExtraError) as caught:
        __import__(module)
    assert caught.value.extra == extra and caught.value.package == package
    assert f"rebalance-optimizer[{extra}]" in str(caught.value)
    assert isinstance(caught.value, RebalanceError) and isinstance(caught.value, ImportError)


def test_require_passes_when_installed_and_does_not_mask_a_broken_install(monkeypatch, tmp_path):
    require("report", "test")                                  # matplotlib is installed here
    monkeypatch.setitem(EXTRAS, "absent", ("wt13_absent_package",))
    with pytest.raises(MissingExtraError):
        require("absent", "test")
    (tmp_path / "wt13_broken_package.py").write_text("import wt13_its_missing_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(EXTRAS, "broken", ("wt13_broken_package",))
    with pytest.raises(ModuleNotFoundError) as caught:        # installed but broken: its own error, unchanged
        require("broken", "test")
    assert not isinstance(caught.value, MissingExtraError)
    assert caught.value.name == "wt13_its_missing_dependency"


def test_the_core_runs_without_any_extra():
    blocked = sorted({p for packages in EXTRAS.values() for p in packages})
    code = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "import optimizer, optimizer.backtest, optimizer.policies, optimizer.overlays, optimizer.cli\n"
        "from problems.synthetic import synthetic_case\n"
        "print(optimizer.solve_case(synthetic_case(4, 2, 2, seed=1)).status)\n"
        "try:\n"
        "    import optimizer.batch\n"
        "except optimizer.errors.MissingExtraError as exc:\n"
        "    print(exc.extra)\n"
    )
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["optimal", "batch"]
