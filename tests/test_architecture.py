"""The package's layers, checked on its source (docs/architecture.md draws them).

An AST walk of every module, imports inside functions included: the model layer imports
nothing else of the package (and of the outside world only Keras, NumPy and the standard
library), nothing imports the command-line tools, the import graph has no cycle, no private
name crosses a module boundary, and errors are caught by type, never by their text.
"""

from __future__ import annotations

import ast
import os
import pathlib
import subprocess
import sys

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "inception_keras"
NAME = "inception_keras"
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 700


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
TREES = {name: ast.parse(path.read_text(encoding="utf-8"), str(path)) for name, path in MODULES.items()}


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _lazy_exports(module: str):
    """The modules named by a package's table of lazy attributes (``_EXPORTS = {"name": ".module"}``,
    see :mod:`inception_keras.utils.lazy`): imports too, made on first use."""
    for node in TREES[module].body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "_EXPORTS" for t in node.targets):
            for key, value in zip(node.value.keys, node.value.values, strict=True):
                level = len(value.value) - len(value.value.lstrip("."))
                yield ast.ImportFrom(module=value.value.lstrip(".") or None, names=[ast.alias(key.value)],
                                     level=level, lineno=node.lineno)


def _imports(module: str):
    """(imported module, name or None, line) for every import in ``module``, at any depth,
    and every lazy attribute of a package."""
    for node in [*ast.walk(TREES[module]), *_lazy_exports(module)]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            for alias in node.names:
                if f"{target}.{alias.name}" in MODULES:
                    yield f"{target}.{alias.name}", None, node.lineno
                else:
                    yield target, alias.name, node.lineno


def _internal(target: str) -> str | None:
    """The package module that ``target`` names (a module or the package itself), else None."""
    if target != NAME and not target.startswith(NAME + "."):
        return None
    while target not in MODULES:
        target = target.rpartition(".")[0]
    return target


GRAPH = {m: {t for t in (_internal(x) for x, _, _ in _imports(m)) if t and t != m} for m in MODULES}


def _where(module: str, line: int) -> str:
    return f"{MODULES[module].relative_to(PACKAGE.parent)}:{line}"


def test_the_walk_sees_the_whole_package():
    layers = {m.split(".")[1] for m in MODULES if m.count(".") >= 1}
    assert {"models", "weights", "tasks", "data", "utils", "cli", "export", "inference", "training"} <= layers
    assert len(MODULES) > 60 and sum(len(v) for v in GRAPH.values()) > 150  # the walk is not empty


def test_models_import_only_keras_numpy_and_the_standard_library():
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    bad = []
    for module in (m for m in MODULES if m.startswith(f"{NAME}.models")):
        for target, _, line in _imports(module):
            internal = _internal(target)
            if internal is not None:
                if not internal.startswith(f"{NAME}.models"):
                    bad.append(f"{_where(module, line)} imports {internal}")
            elif target.split(".")[0] not in stdlib | {"keras", "numpy"}:
                bad.append(f"{_where(module, line)} imports {target}")
    assert not bad, "the model layer imports only keras, numpy and the standard library:\n" + "\n".join(bad)


def test_nothing_imports_the_command_line_tools():
    bad = [f"{_where(m, line)} imports {t}" for m in MODULES if not m.startswith(f"{NAME}.cli")
           for t, _, line in _imports(m) if (_internal(t) or "").startswith(f"{NAME}.cli")]
    assert not bad, "\n".join(bad)


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(root):
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_has_no_cycle():
    # a package's __init__ that names its submodules is not a cycle of the code: leave out
    # the edges from a package to its own children
    graph = {m: {t for t in targets if not (MODULES[m].name == "__init__.py" and t.startswith(m + "."))}
             for m, targets in GRAPH.items()}
    assert _cycles(graph) == []


IMPORT_EACH_FIRST = """
import importlib, sys
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "inception_keras" or m.startswith("inception_keras.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as e:  # noqa: BLE001 - every failure is reported
        failed.append(f"{name}: {type(e).__name__}: {e}")
print("\\n".join(failed))
"""


def test_every_module_imports_first_in_a_fresh_process():
    """The cycle test above reads the graph of the code; this one runs it: each module imported
    first (its package's __init__ runs, then whatever it imports at module level), as a tool that
    starts with it does. A module-level cycle through a package's __init__ fails only here."""
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", IMPORT_EACH_FIRST, *MODULES], capture_output=True, text=True,
                            env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "", result.stdout


def test_no_private_name_crosses_a_module():
    bad = []
    for module in MODULES:
        for target, name, line in _imports(module):
            if name and name.startswith("_") and not name.startswith("__") and _internal(target) \
                    and _internal(target) != module:
                bad.append(f"{_where(module, line)} imports {name} from {target}")
    assert not bad, "make these public or move them:\n" + "\n".join(bad)


def _matches_error_text(node) -> bool:
    """``"..." in str(e)``, ``str(e).startswith(...)``, ``e.args[0] == ...`` inside an except."""
    def is_str_of_error(n):
        return isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "str" and n.args \
            and isinstance(n.args[0], ast.Name)

    if isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn, ast.Eq)) for op in node.ops):
        return any(is_str_of_error(n) for n in [node.left, *node.comparators])
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
            node.func.attr in ("startswith", "endswith") and is_str_of_error(node.func.value):
        return True
    return False


def test_errors_are_caught_by_type_not_by_their_text():
    bad = []
    for module, tree in TREES.items():
        for handler in (n for n in ast.walk(tree) if isinstance(n, ast.ExceptHandler) and n.name):
            for node in ast.walk(handler):
                if _matches_error_text(node):
                    bad.append(_where(module, node.lineno))
    assert not bad, "catch a typed error (inception_keras.errors) instead of matching its message:\n" + "\n".join(bad)


def test_error_types_are_value_errors():
    import inception_keras.errors as errors

    for name in errors.__all__:
        assert issubclass(getattr(errors, name), ValueError), name


def _long_functions():
    for module, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                length = node.end_lineno - first + 1
                if length > MAX_FUNCTION_LINES:
                    yield f"{_where(module, node.lineno)} {node.name}: {length} lines"


def test_no_function_over_80_lines():
    assert list(_long_functions()) == []


def test_no_module_over_700_lines():
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in MODULES.items()}
    assert {m: n for m, n in sizes.items() if n > MAX_MODULE_LINES} == {}
