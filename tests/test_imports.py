"""`import mlfactory` and `mlfactory --help` stay fast: no heavy library is imported."""

import ast
import subprocess
import sys
from pathlib import Path

import mlfactory

HEAVY = ["mlflow", "lightgbm", "optuna", "sklearn", "fastapi", "ray", "pyspark", "dask"]


def _imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    modules = done.stdout.split()
    return {m.split(".")[0] for m in modules}


def test_import_mlfactory_imports_no_heavy_library() -> None:
    loaded = _imported_after("import mlfactory")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_cli_help_imports_no_heavy_library() -> None:
    code = (
        "import sys\nfrom mlfactory.cli import main\nsys.argv=['mlfactory','--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    loaded = _imported_after(code)
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_public_names_are_pinned() -> None:
    assert mlfactory.__all__ == [
        "BadInputError",
        "DataError",
        "EngineError",
        "FactorySpec",
        "MlfactoryError",
        "ModelPackage",
        "ModelRef",
        "ModelReferenceError",
        "Registry",
        "RegistryError",
        "RegistryLocationError",
        "SpecError",
        "TamperedArtifactError",
        "TrainResult",
        "__version__",
        "load_model",
        "load_spec",
        "train",
    ]
    for name in mlfactory.__all__:
        assert getattr(mlfactory, name) is not None


# -- no import cycles, counting imports under TYPE_CHECKING and inside functions ----------

SRC = Path(mlfactory.__file__).parent

# Cycles that exist and are being removed by other work; the test fails once one is gone,
# so the entry is removed with it. Everything else must be acyclic.
KNOWN_CYCLES: list[frozenset[str]] = []  # none: a new cycle is a bug


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports, read with ``ast``.

    Every import counts: at module level, inside functions and under ``if
    TYPE_CHECKING:``. A package is its ``__init__``. ``from P import N`` is the
    module ``P.N`` when there is one, else ``P``'s ``__init__``. Importing ``A.B.C``
    also runs the ``__init__`` of ``A.B`` and ``A`` first, so those count too, except
    the packages that hold the importing module (they are already being imported).
    """
    names: dict[str, Path] = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path

    def nearest(name: str) -> str | None:
        while name and name not in names:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in names.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {found for alias in node.names if (found := nearest(alias.name))}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    source = node.module or ""
                for alias in node.names:
                    found = f"{source}.{alias.name}"
                    target = found if found in names else nearest(source)
                    if target:
                        targets.add(target)
        parts = module.split(".")
        own = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        for target in list(targets):
            pieces = target.split(".")
            targets |= {
                ancestor
                for i in range(1, len(pieces))
                if (ancestor := ".".join(pieces[:i])) in names and ancestor not in own
            }
        graph[module] = targets - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> dict[frozenset[str], list[str]]:
    """Each set of modules that import each other, with one shortest cycle through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[frozenset[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            members = {stack.pop()}
            while node not in members:
                members.add(stack.pop())
            if len(members) > 1:
                components.append(frozenset(members))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return {component: _shortest_cycle(graph, component) for component in components}


def _shortest_cycle(graph: dict[str, set[str]], component: frozenset[str]) -> list[str]:
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while True:  # breadth first: every member of a component reaches the start
        node = queue.pop(0)
        nexts = sorted(graph[node] & component)
        if start in nexts:
            return [*paths[node], start]
        for nxt in nexts:
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)


def test_no_import_cycles() -> None:
    found = cycles(import_graph(SRC))
    new = [path for component, path in found.items() if component not in KNOWN_CYCLES]
    assert not new, "import cycles:\n" + "\n".join(" -> ".join(path) for path in new)
    gone = [sorted(known) for known in KNOWN_CYCLES if known not in found]
    assert not gone, f"these known cycles are gone; remove them from KNOWN_CYCLES: {gone}"


# What a layer may not reach, through any chain of imports (docs/architecture.md, Layers).
# Only training, loop and cli read factory.yaml (the spec).
_NOT_READING_THE_SPEC = (
    "data features metrics models forecasting tasks registry scoring serving monitoring"
)
_BELOW_ETML = (
    "data features metrics models forecasting tasks registry scoring serving monitoring "
    "training batch engines loop spec"
)
MAY_NOT_REACH = [
    *[(f"mlfactory.{layer}", "mlfactory.training") for layer in ("serving", "monitoring")],
    ("mlfactory.scoring", "mlfactory.training"),
    ("mlfactory.registry", "mlfactory.training"),
    ("mlfactory.registry", "mlfactory.scoring"),
    *[(f"mlfactory.{layer}", "mlfactory.spec") for layer in _NOT_READING_THE_SPEC.split()],
    *[
        (f"mlfactory.{layer}", "mlfactory.registry")
        for layer in ("data", "features", "tasks", "forecasting")
    ],
    ("mlfactory.metrics", "mlfactory.tasks"),
    ("mlfactory.forecasting", "mlfactory.training"),
    # the ETML job sits beside loop: it scores and fits detectors, never trains a model
    ("mlfactory.etml", "mlfactory.training"),
    *[(f"mlfactory.{layer}", "mlfactory.etml") for layer in _BELOW_ETML.split()],
    # deployment files are written by the cli alone
    *[(f"mlfactory.{layer}", "mlfactory.deploy") for layer in [*_BELOW_ETML.split(), "etml"]],
]
# Modules that import the top package ``mlfactory`` itself, which imports training and
# the registry for its lazy names: the serving-protocols work of issue 10 removes these.
KNOWN_FACADE_IMPORTS: set[str] = set()  # none: every module imports what it needs directly


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_imports_point_down() -> None:
    graph = import_graph(SRC)
    facade = {m for m, targets in graph.items() if "mlfactory" in targets}
    assert facade - {"mlfactory.__main__"} == KNOWN_FACADE_IMPORTS
    cli_users = {
        m for m, targets in graph.items() if any(_within(t, "mlfactory.cli") for t in targets)
    }
    assert {m for m in cli_users if not _within(m, "mlfactory.cli")} == {"mlfactory.__main__"}
    below = {m: targets - {"mlfactory"} for m, targets in graph.items()}  # facade: above
    broken = []
    for layer, forbidden in MAY_NOT_REACH:
        for start in (m for m in below if _within(m, layer)):
            path = {start: [start]}
            queue = [start]
            while queue:
                node = queue.pop(0)
                if _within(node, forbidden):
                    broken.append(" -> ".join(path[node]))
                    break
                for nxt in sorted(below[node] - set(path)):
                    path[nxt] = [*path[node], nxt]
                    queue.append(nxt)
    assert not broken, "imports that point up:\n" + "\n".join(broken)


def test_the_cycle_finder_counts_type_checking_and_function_imports(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sub import thing\n"
    )
    (package / "sub" / "__init__.py").write_text("from pkg.sub.b import thing\n")
    (package / "sub" / "b.py").write_text("def thing():\n    from . import c\n")
    (package / "sub" / "c.py").write_text("def f():\n    import pkg.a\n")
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg.sub"}  # a name from the package: its __init__
    assert graph["pkg.sub.c"] == {"pkg.a"}  # pkg itself holds c: not counted
    assert list(cycles(graph).values()) == [["pkg.a", "pkg.sub", "pkg.sub.b", "pkg.sub.c", "pkg.a"]]
    (package / "sub" / "c.py").write_text("import numpy\n")
    assert cycles(import_graph(package)) == {}
