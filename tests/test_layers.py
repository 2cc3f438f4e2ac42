"""The package's dependency rules, checked on the source with ``ast`` (no import-time effects).

1. Layers: a module may import its own layer or a lower one, never a higher one::

       errors < model < problem_data < terms < program < rebalancer < policies
              < backtest/batch/execution/overlays < report < cli

   Every import counts, including those inside functions and under ``TYPE_CHECKING``
   (a type-only upward import needs an entry in ``ALLOWED`` with its reason).
2. The package never imports ``problems``, ``tests`` or ``benchmarks``.
3. No import cycle between modules of the package (imports under ``TYPE_CHECKING`` do not
   run, so they do not count here).

The checker is tested on a synthetic package with a bad import, so it can fail.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "optimizer"

#: Layers from the bottom. A module's layer is that of the longest listed prefix of its name.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("errors", ("optimizer.errors", "optimizer._extras", "optimizer.files", "optimizer.console")),
    ("model", ("optimizer.model", "optimizer.datasets", "optimizer.case_file", "optimizer.schema")),
    ("problem_data", ("optimizer.problem_data",)),
    ("terms", ("optimizer.terms",)),
    ("program", ("optimizer.program", "optimizer.reference", "optimizer.solvers", "optimizer.result", "optimizer.lot_pooling",
                 "optimizer.rounding", "optimizer.wash_sale", "optimizer.direct")),
    ("rebalancer", ("optimizer.rebalancer", "optimizer.household", "optimizer.calibration", "optimizer")),   # the bare root: the facade
    ("policies", ("optimizer.policies",)),
    ("backtest/batch/execution", ("optimizer.backtest", "optimizer.batch", "optimizer.execution",
                                  "optimizer.overlays", "optimizer.book_schema", "optimizer.trade_file")),
    ("report", ("optimizer.report",)),
    ("cli", ("optimizer.demo", "optimizer.cli")),
)
FORBIDDEN_ROOTS = ("problems", "tests", "benchmarks")
#: (importer, imported) -> why an upward import is tolerated. Keep this short.
ALLOWED: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    importer: str       # dotted module name
    imported: str       # dotted module name (a submodule when ``from pkg import sub`` names one)
    path: Path
    line: int
    type_only: bool     # under ``if TYPE_CHECKING:``


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path, root: Path, modules: set[str]) -> list[Import]:
    """Every import statement of one file, resolved to module names of the package where possible."""
    name = module_name(path, root)
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    visit_stmt(stmt, True)
                for stmt in child.orelse:
                    visit_stmt(stmt, type_only)
                continue
            visit_stmt(child, type_only)

    def visit_stmt(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(name, alias.name, path, node.lineno, type_only))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append(Import(name, sub if sub in modules else target, path, node.lineno, type_only))
        visit(node, type_only)

    visit(ast.parse(path.read_text(), filename=str(path)), False)
    return found


def layer_of(module: str) -> int | None:
    """The layer of a module, or None if no entry of LAYERS covers it (the bare root covers only itself)."""
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            covers = module == prefix or ("." in prefix and module.startswith(prefix + "."))
            if covers and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    return best


def scan(root: Path) -> tuple[set[str], list[Import]]:
    files = sorted(root.rglob("*.py"))
    modules = {module_name(f, root) for f in files}
    return modules, [imp for f in files for imp in imports_of(f, root, modules)]


def layer_violations(root: Path, allowed: dict[tuple[str, str], str] | None = None) -> list[str]:
    """One readable line per import that breaks the layer order or reaches outside the package."""
    allowed = ALLOWED if allowed is None else allowed
    modules, imports = scan(root)
    order = " < ".join(label for label, _ in LAYERS)
    problems = []
    for imp in imports:
        where = f"{imp.path.relative_to(root.parent)}:{imp.line}"
        if imp.imported.split(".")[0] in FORBIDDEN_ROOTS:
            problems.append(f"{where}: {imp.importer} imports {imp.imported}; the package never imports "
                            f"{imp.imported.split('.')[0]!r} (move what it needs into the package)")
            continue
        if not imp.imported.startswith(root.name) or (imp.importer, imp.imported) in allowed:
            continue
        here, there = layer_of(imp.importer), layer_of(imp.imported)
        if here is None:
            problems.append(f"{where}: module {imp.importer} has no layer; add it to LAYERS in tests/test_layers.py")
        elif there is not None and there > here:
            problems.append(f"{where}: {imp.importer} (layer {LAYERS[here][0]!r}) imports {imp.imported} "
                            f"(higher layer {LAYERS[there][0]!r}); layers: {order}")
    return problems


def import_cycles(root: Path) -> list[str]:
    """One line per strongly connected group of modules (runtime imports only): a cycle through it and its members."""
    modules, imports = scan(root)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for imp in imports:
        if not imp.type_only and imp.imported in modules and imp.imported != imp.importer:
            graph[imp.importer].add(imp.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(v: str) -> None:      # Tarjan; the package is small enough for recursion
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                group = sorted(group)
                groups.append(" -> ".join(_cycle_path(group, graph)) + f"  (all {len(group)} modules of this "
                              f"cycle group: {', '.join(group)})")

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return groups


def _cycle_path(group: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A concrete cycle through the group's first module (breadth-first back to it)."""
    start, members = group[0], set(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                return paths[v] + [start]
            if w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    return group


# ----------------------------------------------------------------------------- the package


def test_every_import_respects_the_layers():
    problems = layer_violations(PACKAGE_ROOT)
    assert not problems, "imports against the layer order:\n" + "\n".join(problems)


def test_no_import_cycle_inside_the_package():
    cycles = import_cycles(PACKAGE_ROOT)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_every_allowed_exception_is_still_needed():
    modules, imports = scan(PACKAGE_ROOT)
    seen = {(imp.importer, imp.imported) for imp in imports}
    stale = [pair for pair in ALLOWED if pair not in seen]
    assert not stale, f"ALLOWED lists imports that no longer exist: {stale}"


# ----------------------------------------------------------------------------- the checker can fail


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "optimizer"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for folder in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
        (folder / "__init__.py").touch()
    return root


def test_checker_names_an_upward_import_inside_a_function(tmp_path):
    root = _package(tmp_path, {
        "errors.py": "",
        "model/case.py": "def solve():\n    from optimizer.rebalancer import Rebalancer\n",
        "rebalancer.py": "from optimizer.model.case import solve\n",
    })
    problems = layer_violations(root, allowed={})
    assert len(problems) == 1
    assert "optimizer/model/case.py:2" in problems[0]
    assert "optimizer.model.case (layer 'model') imports optimizer.rebalancer (higher layer 'rebalancer')" in problems[0]
    cycles = import_cycles(root)
    assert len(cycles) == 1
    assert cycles[0].startswith("optimizer.model.case -> optimizer.rebalancer -> optimizer.model.case")


def test_checker_flags_problems_and_from_package_import_submodule(tmp_path):
    root = _package(tmp_path, {
        "datasets.py": "from problems import real_data\n",
        "terms/cost.py": "from optimizer import program\n",
        "program.py": "",
    })
    problems = layer_violations(root, allowed={})
    assert any("optimizer/datasets.py:1" in p and "never imports 'problems'" in p for p in problems)
    assert any("optimizer.terms.cost (layer 'terms') imports optimizer.program" in p for p in problems)


def test_checker_ignores_type_only_imports_for_cycles_but_not_for_layers(tmp_path):
    root = _package(tmp_path, {
        "backtest/metrics.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                               "    from optimizer.backtest.result import Result\n",
        "backtest/result.py": "from optimizer.backtest import metrics\n",
        "policies/base.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                            "    from optimizer.backtest.result import Result\n",
    })
    assert import_cycles(root) == []
    problems = layer_violations(root, allowed={})
    assert len(problems) == 1 and "optimizer/policies/base.py:3" in problems[0]


def test_an_unlisted_module_is_reported(tmp_path):
    root = _package(tmp_path, {"gadgets.py": "from optimizer import errors\n", "errors.py": ""})
    problems = layer_violations(root, allowed={})
    assert problems == ["optimizer/gadgets.py:1: module optimizer.gadgets has no layer; "
                        "add it to LAYERS in tests/test_layers.py"]
