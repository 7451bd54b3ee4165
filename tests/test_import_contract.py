"""The package's import graph follows the flow of a planning question:

    inputs -> physics -> search -> plan -> api -> analysis -> cli

A module may import its own layer or a layer to its left, never one to its right,
and no chain of imports (module-level or inside a function) may lead back to where
it started. The graph is read from the source with ``ast``, so imports hidden inside
functions count as much as those at the top of a file.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parent.parent / "planner"
LAYERS = ("inputs", "physics", "search", "plan", "api", "analysis", "cli")


def _module_name(path: Path) -> str:
    parts = ("planner",) + path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _targets(name: str, path: Path, node: ast.AST, known: set[str]) -> list[str]:
    """The planner modules one import statement (or importlib call) loads."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "planner"]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        if module.split(".")[0] != "planner":
            return []
        subs = [f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in known]
        return subs if subs and len(subs) == len(node.names) else [module] + subs
    if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module" and node.args:
        arg = node.args[0]
        if isinstance(arg, ast.Constant) and str(arg.value).startswith("planner"):
            return [arg.value]
        if isinstance(arg, ast.JoinedStr) and isinstance(arg.values[0], ast.Constant):
            prefix = str(arg.values[0].value).rstrip(".")
            return sorted(m for m in known if m.startswith(prefix + "."))
    return []


def import_graph() -> nx.DiGraph:
    modules = _modules()
    known = set(modules)
    g = nx.DiGraph()
    g.add_nodes_from(known)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for target in _targets(name, path, node, known):
                if target != name:
                    g.add_edge(name, target)
    return g


def layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None  # the planner package itself
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


def test_every_module_belongs_to_a_layer():
    stray = [m for m in _modules() if m != "planner" and layer(m) is None]
    assert not stray, f"modules outside the layers {LAYERS}: {stray}"


def test_every_import_resolves_to_a_module():
    g = import_graph()
    known = set(_modules())
    missing = sorted(f"{a} -> {b}" for a, b in g.edges if b not in known)
    assert not missing, f"imports of modules that do not exist: {missing}"


def test_no_import_against_the_flow():
    g = import_graph()
    against = sorted(
        f"{a} ({LAYERS[layer(a)]}) imports {b} ({LAYERS[layer(b)]})"
        for a, b in g.edges
        if layer(a) is not None and layer(b) is not None and layer(b) > layer(a)
    )
    assert not against, "imports against the flow " + " -> ".join(LAYERS) + ":\n" + "\n".join(against)


def test_no_import_cycle():
    cycles = [c for c in nx.simple_cycles(import_graph())]
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c + c[:1]) for c in cycles)


def test_the_contract_sees_hidden_imports():
    """An import inside a function is an edge too: the graph must contain the
    function-level import of the cost model that planner/analysis/explain.py makes."""
    g = import_graph()
    explain = PACKAGE / "analysis" / "explain.py"
    inner = [
        n for f in ast.walk(ast.parse(explain.read_text())) if isinstance(f, ast.FunctionDef)
        for n in ast.walk(f) if isinstance(n, ast.ImportFrom) and n.module and "costmodel" in n.module
    ]
    assert inner, "explain.py no longer imports the cost model inside a function; pick another example"
    assert g.has_edge("planner.analysis.explain", "planner.physics.costmodel")
