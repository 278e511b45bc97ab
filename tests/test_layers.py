"""The import-layer contract (issue 33 item 3), read off the source with ``ast``:

- the library (``esmaml_jax/*.py``, ``esmaml_jax/algorithms/``) imports no app module, no task
  family, no plotting or checkpoint library: env-agnostic math and pure functions;
- the task families (``envs/``) import nothing of the app;
- no import cycle anywhere in ``esmaml_jax``, ``envs`` and ``benchmarks``, counting the
  imports inside functions too (a deferred import is still an arrow).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("esmaml_jax", "envs", "benchmarks")
LIBRARY_MAY_NOT = ("esmaml_jax.app", "envs", "matplotlib", "orbax", "argparse")


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (``from a import b`` counts a.b when a.b is
    a module of ours, else a)."""
    tree = ast.parse(path.read_text())
    here = _module(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def _ours() -> dict[str, set[str]]:
    modules = {_module(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m != name}
            for name, path in modules.items()}


def test_the_library_imports_no_app_env_or_io_library():
    bad = []
    for path in sorted((ROOT / "esmaml_jax").rglob("*.py")):
        name = _module(path)
        if name.startswith("esmaml_jax.app") or name == "esmaml_jax":
            continue
        for imported in _imports(path):
            if any(imported == p or imported.startswith(p + ".") for p in LIBRARY_MAY_NOT):
                bad.append(f"{name} imports {imported}")
    assert bad == []


def test_envs_import_nothing_of_the_app():
    bad = [f"{_module(p)} imports {m}" for p in sorted((ROOT / "envs").rglob("*.py"))
           for m in _imports(p) if m.startswith("esmaml_jax")]
    assert bad == []


def test_no_import_cycles():
    graph = _ours()
    # a package imports its own submodules through its __init__ (that is not a cycle)
    for name in graph:
        graph[name] = {m for m in graph[name] if not m.startswith(name + ".")}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_papers_constants_are_the_constructors_defaults():
    """The A.7.2 settings are written once (esmaml_jax/paper.py) and are what the
    constructors default to."""
    import inspect

    import esmaml_jax as ej
    from esmaml_jax import paper

    def default(fn, name):
        return inspect.signature(fn).parameters[name].default

    assert default(ej.zero_order, "num_perturbations") == paper.NUM_PERTURBATIONS == 150
    assert default(ej.zero_order, "sigma") == paper.SIGMA == 0.1
    for op in (ej.adaptation.es_gradient, ej.adaptation.rbo, ej.adaptation.asebo,
               ej.adaptation.dpp_es, ej.adaptation.hill_climb):
        assert default(op, "num_queries") == paper.NUM_QUERIES == 20
        assert default(op, "sigma") == paper.SIGMA
    for op in (ej.adaptation.es_gradient, ej.adaptation.rbo, ej.adaptation.asebo,
               ej.adaptation.dpp_es, ej.first_order):
        assert default(op, "step_size") == paper.INNER_STEP_SIZE == 0.05
    assert paper.OUTER_LEARNING_RATE == 0.01


def test_functions_and_files_stay_small():
    """Issue 33 item 5: no function over 80 lines (docstring and nested functions included)
    and no file over 400 lines in the library, the app and the task families."""
    long_functions, long_files = [], []
    for pkg in ("esmaml_jax", "envs"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            text = path.read_text()
            if text.count("\n") > 400:
                long_files.append(f"{_module(path)}: {text.count(chr(10))} lines")
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    n = node.end_lineno - node.lineno + 1
                    if n > 80:
                        long_functions.append(f"{_module(path)}.{node.name}: {n} lines")
    assert long_functions == [] and long_files == []
