"""The library's structure, read from its source: modules, the imports between them (type-checking ones included),
cycles, imports inside functions, and the longest functions.

    .venv/bin/python -m tests.structure            # the figures
    .venv/bin/python -m tests.structure --edges    # and every import arrow

`tests/test_layers.py` holds the library to it: no cycle, and no import inside a function but the heavy libraries
imported lazily on purpose (`LAZY`).
"""

from __future__ import annotations

import argparse
import ast
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "monitoring"

# The library's layers, bottom up: a module imports only modules of its own layer or below (and no cycle within one).
LAYERS = (
    ("vocabulary and plumbing", ("vocabulary", "text", "config", "config_reference", "layout", "storage", "ids")),
    ("rules of evidence", ("bands", "verdicts")),
    ("computations", ("coercion", "distances", "evidently_adapter", "metrics", "quality", "operations",
                      "multivariate", "ingest", "contract", "labels", "sampling", "candidate", "importance")),
    ("fitted state", ("replicates", "estimators", "segments", "classes", "reference", "reference_store", "day_state",
                      "window_state", "records")),
    ("judging a day", ("judging", "windows", "gradual", "trailing", "weekly")),
    ("the day's summary", ("summary",)),
    ("what users see and receive", ("rules", "health", "history", "episodes", "alerts", "retraining_policy", "onboarding",
                                    "retraining", "manifest", "reports", "charts", "site", "links", "volume",
                                    "compare")),
    ("the steps and the shell", ("steps", "cli", "worker_preload", "__main__")),
)

# Imported inside functions on purpose: each costs seconds or hundreds of milliseconds to import, and the DAG files,
# the CLI's `check-config` and the tasks that do not need them must not pay for it.
LAZY = frozenset({"evidently", "sklearn", "scipy", "threadpoolctl", "boto3", "pyarrow", "datasketches"})


@dataclass
class Module:
    name: str
    path: Path
    imports: dict[str, set[str]] = field(default_factory=dict)  # imported module -> {"top", "typing", "function"}
    inside_functions: list[tuple[int, str]] = field(default_factory=list)  # (line, what) of imports in functions
    functions: list[tuple[str, int]] = field(default_factory=list)  # (qualified name, lines)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _targets(node: ast.Import | ast.ImportFrom, package: str, known: set[str]) -> list[str]:
    """The modules an import statement names (for `from a import b`, `a.b` when that is a module, else `a`)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join(parts + ([base] if base else []))
    found = []
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        found.append(candidate if candidate in known else base)
    return found


def read(root: Path = ROOT / PACKAGE) -> dict[str, Module]:
    paths = sorted(root.rglob("*.py"))
    known = {module_name(p) for p in paths}
    modules: dict[str, Module] = {}
    for path in paths:
        name = module_name(path)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        module = modules[name] = Module(name, path)
        tree = ast.parse(path.read_text(encoding="utf-8"))

        def visit(node: ast.AST, where: str, scope: tuple[str, ...]) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    for target in sorted(set(_targets(child, package, known))):
                        module.imports.setdefault(target, set()).add(where)
                        if where == "function":
                            module.inside_functions.append((child.lineno, target))
                elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    qualified = ".".join((*scope, child.name))
                    module.functions.append((qualified, child.end_lineno - child.lineno + 1))
                    visit(child, "function", (*scope, child.name))
                elif isinstance(child, ast.ClassDef):
                    visit(child, where, (*scope, child.name))
                elif isinstance(child, ast.If) and _is_type_checking(child):
                    visit(child, "typing", scope)
                else:
                    visit(child, where, scope)

        visit(tree, "top", ())
    return modules


def arrows(modules: dict[str, Module]) -> set[tuple[str, str]]:
    """(importer, imported) between the library's modules; a package's `__init__` is not an arrow to its children."""
    found = set()
    for name, module in modules.items():
        for target in module.imports:
            if target in modules and target != name and target != PACKAGE:
                found.add((name, target))
    return found


def cycles(modules: dict[str, Module]) -> list[list[str]]:
    """The strongly connected groups of more than one module (each holds at least one import cycle), Tarjan's."""
    graph: dict[str, list[str]] = {name: [] for name in modules}
    for source, target in arrows(modules):
        graph[source].append(target)
    index, low, on_stack, stack, groups, counter = {}, {}, set(), [], [], [0]

    def connect(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(groups)


def inside_functions(modules: dict[str, Module], lazy: frozenset[str] = LAZY) -> list[tuple[str, int, str]]:
    """Imports inside functions other than the lazy heavy libraries: (module, line, what)."""
    return [(name, line, target) for name, module in sorted(modules.items())
            for line, target in module.inside_functions if target.split(".")[0] not in lazy]


def layer_of(module: str) -> int | None:
    """The index of the module's layer (a module of `monitoring.steps` is in the steps' layer); None: unlisted."""
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else "__init__"
    return next((i for i, (_, names) in enumerate(LAYERS) if name in names), None)


def upward(modules: dict[str, Module]) -> list[tuple[str, str]]:
    """Arrows from a module to one of a higher layer (a layering break), sorted."""
    return sorted((s, t) for s, t in arrows(modules)
                  if layer_of(s) is not None and layer_of(t) is not None and layer_of(t) > layer_of(s))


def longest(modules: dict[str, Module], count: int = 10) -> list[tuple[str, int]]:
    every = [(f"{name}.{function}", lines) for name, module in modules.items() for function, lines in module.functions]
    return sorted(every, key=lambda f: (-f[1], f[0]))[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edges", action="store_true", help="print every import arrow")
    args = parser.parse_args()
    modules = read()
    found = arrows(modules)
    typing_only = sum(1 for s, t in found if modules[s].imports[t] == {"typing"})
    print(f"modules: {len(modules)}")
    print(f"import arrows between them: {len(found)} ({typing_only} of them type-checking imports)")
    groups = cycles(modules)
    print(f"groups of modules in an import cycle: {len(groups)}" + "".join(f"\n  {' <-> '.join(g)}" for g in groups))
    inside = inside_functions(modules)
    every_inside = sum(len(m.inside_functions) for m in modules.values())
    print(f"imports inside functions: {every_inside}, of which not a lazy heavy library ({', '.join(sorted(LAZY))}): "
          f"{len(inside)}" + "".join(f"\n  {name}:{line} imports {what}" for name, line, what in inside))
    up = upward(modules)
    print(f"arrows pointing up the layers: {len(up)}" + "".join(f"\n  {a} -> {b}" for a, b in up))
    print("the ten longest functions (lines):" + "".join(f"\n  {lines:4d}  {name}" for name, lines in longest(modules)))
    if args.edges:
        print("arrows:" + "".join(f"\n  {s} -> {t} ({', '.join(sorted(modules[s].imports[t]))})"
                                  for s, t in sorted(found)))


if __name__ == "__main__":
    main()
