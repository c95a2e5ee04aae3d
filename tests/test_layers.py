"""The layer order of funcad's modules (docs/architecture.md, "Layers"), checked on the imports.

Every module of the package is assigned to one layer of ``LAYERS`` (bottom first). The imports
are read with ``ast`` (nothing is imported), and:

(a) a module-level import never goes to a higher layer;
(b) the module-level imports between funcad's modules have no cycle;
(c) an import inside a function closes a real cycle: the imported module reaches the importing
    one through module-level imports, so the import could not be at module level. It is
    marked with a comment that says ``cycle`` (on its line or the line above) and it goes up
    or sideways, never down.

Importing ``funcad.a.b`` first runs the ``__init__`` of the package ``funcad.a``, so that
package counts as imported too (unless the importing module is inside it, and the package is
already being initialised). ``funcad/__init__.py`` itself is not counted: every import of a
funcad module starts by running it, and it sits at the top. Imports under
``if TYPE_CHECKING:`` never run and are not counted.
"""
from __future__ import annotations

import ast
import dataclasses
import io
import pathlib
import re
import textwrap
import tokenize

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = "funcad"

#: Bottom first: (layer, its modules). docs/architecture.md says what each may import and why.
LAYERS = [
    ("foundation", ["funcad._memo", "funcad.config", "funcad.lowering", "funcad.tree_util",
                    "funcad.tree_util._nodes", "funcad.tree_util._treedef"]),
    ("kernel", ["funcad.core", "funcad.ir"]),
    ("rule vocabulary", ["funcad.rule_util"]),
    ("codegen vocabulary", ["funcad.codegen", "funcad.codegen.emitter", "funcad.codegen.fastmath",
                            "funcad.codegen.fuse", "funcad.codegen.scalar_rules"]),
    ("first-order primitives", [
        "funcad.primitives", "funcad.primitives._family", "funcad.primitives._shape_family",
        "funcad.primitives.binary", "funcad.primitives.elementwise", "funcad.primitives.shape",
        "funcad.primitives.shape_lowering", "funcad.primitives.reductions",
        "funcad.primitives.indexing", "funcad.primitives.indexing_lowering",
        "funcad.primitives.linalg_lowering", "funcad.primitives.linalg",
        "funcad.primitives.decompositions", "funcad.primitives.sorting",
        "funcad.primitives.annotations", "funcad.primitives.fft"]),
    ("interpreters", ["funcad.interpreters.stage", "funcad.interpreters.partial_eval",
                      "funcad.interpreters.jvp", "funcad.interpreters.transpose",
                      "funcad.interpreters.batching", "funcad.interpreters.jaxpr_util"]),
    ("codegen passes", ["funcad.codegen.rewrite", "funcad.codegen.scalarise",
                        "funcad.codegen.nest", "funcad.codegen.lower", "funcad.codegen.memory",
                        "funcad.codegen.compile"]),
    ("higher-order primitives", [
        "funcad.primitives.control_jaxpr", "funcad.primitives.control_lowering",
        "funcad.primitives.control_cond", "funcad.primitives.control_scan",
        "funcad.primitives.control_while", "funcad.primitives.control_while_transpose",
        "funcad.primitives.control", "funcad.primitives.remat", "funcad.interpreters.jit"]),
    ("lax", ["funcad.lax"]),
    ("numpy", ["funcad.numpy", "funcad.numpy._util", "funcad.numpy.ufuncs",
               "funcad.numpy.complex_numbers",
               "funcad.numpy.reductions", "funcad.numpy.indexing", "funcad.numpy.shape",
               "funcad.numpy.creation", "funcad.numpy.linear", "funcad.numpy.linalg", "funcad.numpy.fft",
               "funcad.numpy._dispatch"]),
    ("user API", ["funcad.api", "funcad.api._args", "funcad.api._forward", "funcad.api._reverse",
                  "funcad.api._vmap", "funcad.api._jacobians", "funcad.custom_derivatives",
                  "funcad.ad_checkpoint",
                  "funcad.scipy", "funcad.scipy.special", "funcad.nn"]),
    ("testing", ["funcad.testing"]),
    ("package", ["funcad"]),
]


# ---------------------------------------------------------------------------------------------
# Reading the imports

@dataclasses.dataclass(frozen=True)
class Import:
    source: str       # the importing module
    target: str       # the imported module
    line: int
    local: bool       # inside a function
    marked: bool      # a comment saying "cycle" on the statement's lines or the line above
    implicit: bool    # a package whose __init__ runs before ``target`` is imported


def module_files(root: pathlib.Path, package: str) -> dict[str, pathlib.Path]:
    """Module name -> file, for every .py file of the package."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _cycle_lines(source: str) -> set[int]:
    """Lines with a comment that mentions a cycle."""
    lines = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT and re.search(r"\bcycle\b", tok.string):
            lines.add(tok.start[0])
    return lines


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _statements(tree: ast.Module):
    """(statement, inside a function) for every import statement that can run."""
    def walk(node, local):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.orelse:
                    yield from walk_one(stmt, local)
                continue
            yield from walk_one(child, local)

    def walk_one(node, local):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, local
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield from walk(node, True)
        else:
            yield from walk(node, local)

    yield from walk(tree, False)


def _targets(module: str, is_package: bool, node, modules, package: str) -> list[str]:
    """The package's modules an import statement names."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == package]
    base = node.module or ""
    if node.level:
        pkg = module.split(".") if is_package else module.split(".")[:-1]
        pkg = pkg[:len(pkg) - (node.level - 1)]
        base = ".".join(pkg + ([base] if base else []))
    if base.split(".")[0] != package:
        return []
    out = []
    for a in node.names:
        sub = f"{base}.{a.name}"
        out.append(sub if sub in modules else base)
    return out


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def read_imports(root: pathlib.Path, package: str = PACKAGE) -> tuple[dict, list[Import]]:
    modules = module_files(root, package)
    imports = []
    for name, path in modules.items():
        source = path.read_text()
        marked_lines = _cycle_lines(source)
        is_package = path.name == "__init__.py"
        own = set(_ancestors(name)) | ({name} if is_package else set())
        for node, local in _statements(ast.parse(source, str(path))):
            marked = bool(marked_lines & set(range(node.lineno - 1, node.end_lineno + 1)))
            for target in _targets(name, is_package, node, modules, package):
                if target not in modules:   # a namespace package: no code runs
                    continue
                for pkg in _ancestors(target):
                    if pkg != package and pkg not in own and pkg in modules:
                        imports.append(Import(name, pkg, node.lineno, local, marked, True))
                imports.append(Import(name, target, node.lineno, local, marked, False))
    return modules, imports


# ---------------------------------------------------------------------------------------------
# The checks (each returns a list of problems)

def layer_of(layers) -> dict[str, int]:
    index = {}
    for i, (_, mods) in enumerate(layers):
        for m in mods:
            index[m] = i
    return index


def unassigned(modules, layers) -> list[str]:
    index = layer_of(layers)
    problems = [f"{m} has no layer: add it to LAYERS in tests/test_layers.py and to "
                f"docs/architecture.md" for m in modules if m not in index]
    problems += [f"{m} is in LAYERS but is not a module" for m in index if m not in modules]
    seen = {}
    for name, mods in layers:
        for m in mods:
            if m in seen:
                problems.append(f"{m} is in two layers: {seen[m]!r} and {name!r}")
            seen[m] = name
    return problems


def _describe(imp: Import) -> str:
    how = " (its package's __init__ runs first)" if imp.implicit else ""
    return f"{imp.source}, line {imp.line}: imports {imp.target}{how}"


def upward(imports, layers) -> list[str]:
    index, names = layer_of(layers), [n for n, _ in layers]
    out = []
    for imp in imports:
        if imp.local or "." not in imp.source:   # the root package sits at the top
            continue
        s, t = index.get(imp.source), index.get(imp.target)
        if s is not None and t is not None and t > s:
            out.append(f"{_describe(imp)}, at module level: layer {names[t]!r} is above "
                       f"{names[s]!r}")
    return out


def module_graph(imports) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if not imp.local and imp.source != imp.target:
            graph.setdefault(imp.source, set()).add(imp.target)
    return graph


def find_cycle(graph) -> list[str] | None:
    """A cycle of the graph as [m0, m1, ..., m0], or None."""
    state: dict[str, int] = {}   # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def path(graph, start: str, goal: str) -> list[str] | None:
    """A shortest path start -> ... -> goal, or None."""
    prev = {start: None}
    todo = [start]
    for m in todo:
        if m == goal:
            out = []
            while m is not None:
                out.append(m)
                m = prev[m]
            return out[::-1]
        for n in sorted(graph.get(m, ())):
            if n not in prev:
                prev[n] = m
                todo.append(n)
    return None


def cycles(imports) -> list[str]:
    found = find_cycle(module_graph(imports))
    return [] if found is None else ["module-level import cycle: " + " -> ".join(found)]


def local_imports(imports, layers) -> list[str]:
    index, names = layer_of(layers), [n for n, _ in layers]
    graph = module_graph(imports)
    out = []
    for imp in imports:
        if not imp.local or imp.implicit or imp.source == imp.target:
            continue
        back = path(graph, imp.target, imp.source)
        s, t = index.get(imp.source), index.get(imp.target)
        if back is None:
            out.append(f"{_describe(imp)} inside a function, but {imp.target} does not import "
                       f"{imp.source} (no cycle): import it at module level" +
                       (f" (or move the code: layer {names[t]!r} is above {names[s]!r})"
                        if s is not None and t is not None and t > s else ""))
        elif s is not None and t is not None and t < s:
            out.append(f"{_describe(imp)} inside a function, from the lower layer "
                       f"{names[t]!r}: it cannot close a cycle of allowed imports")
        elif not imp.marked:
            out.append(f"{_describe(imp)} inside a function without a comment naming the "
                       f"cycle it breaks (" + " -> ".join(back) + ")")
    return out


# ---------------------------------------------------------------------------------------------
# funcad

@pytest.fixture(scope="module")
def funcad_imports():
    return read_imports(ROOT)


def test_every_module_has_one_layer(funcad_imports):
    modules, _ = funcad_imports
    assert unassigned(modules, LAYERS) == []


def test_module_level_imports_never_go_up(funcad_imports):
    _, imports = funcad_imports
    assert upward(imports, LAYERS) == []


def test_module_level_imports_have_no_cycle(funcad_imports):
    _, imports = funcad_imports
    assert cycles(imports) == []


def test_imports_inside_functions_close_a_named_cycle(funcad_imports):
    _, imports = funcad_imports
    assert local_imports(imports, LAYERS) == []


def test_the_design_document_lists_the_layers_in_order():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    m = re.search(r"<!-- layers:.*?-->(.*?)<!-- /layers -->", doc, re.S)
    assert m, "docs/architecture.md has no <!-- layers: ... --> section"
    section = m.group(1)
    where = [section.find(f"**{name}**") for name, _ in LAYERS]
    missing = [name for (name, _), w in zip(LAYERS, where) if w < 0]
    assert not missing, f"layers missing from docs/architecture.md: {missing}"
    assert where == sorted(where), "docs/architecture.md lists the layers in another order"


# ---------------------------------------------------------------------------------------------
# The checks find what they should (a small fake package)

FAKE_LAYERS = [("low", ["pkg.low", "pkg.low2"]), ("mid", ["pkg.mid", "pkg.sub", "pkg.sub.inner"]),
               ("high", ["pkg.high"]), ("package", ["pkg"])]


def _fake(tmp_path, files: dict[str, str]):
    for rel, text in {"__init__.py": "", "sub/__init__.py": "", **files}.items():
        p = tmp_path / "pkg" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return read_imports(tmp_path, "pkg")


def test_fake_clean_package_passes(tmp_path):
    modules, imports = _fake(tmp_path, {
        "low.py": """
            def f():
                from pkg.mid import g  # cycle: pkg.mid builds on this module
                return g
            """,
        "low2.py": "from . import low\n",
        "mid.py": "from pkg.low import f\nfrom typing import TYPE_CHECKING\n"
                  "if TYPE_CHECKING:\n    from pkg.high import h\ng = 1\n",
        "sub/inner.py": "import pkg.low as low\n",
        "high.py": "from pkg import mid\nimport pkg.sub.inner\n",
    })
    assert unassigned(modules, FAKE_LAYERS) == []
    assert upward(imports, FAKE_LAYERS) == []
    assert cycles(imports) == []
    assert local_imports(imports, FAKE_LAYERS) == []


def test_fake_upward_import_fails(tmp_path):
    _, imports = _fake(tmp_path, {"low.py": "from pkg.high import h\n", "low2.py": "",
                                  "mid.py": "", "sub/inner.py": "", "high.py": "h = 1\n"})
    problems = upward(imports, FAKE_LAYERS)
    assert len(problems) == 1 and "pkg.low, line 1: imports pkg.high" in problems[0]


def test_fake_upward_relative_and_package_imports_fail(tmp_path):
    _, imports = _fake(tmp_path, {"low.py": "from . import mid\n",
                                  "low2.py": "from pkg.sub import inner\n", "mid.py": "",
                                  "sub/inner.py": "", "high.py": ""})
    problems = upward(imports, FAKE_LAYERS)
    assert any("pkg.low, line 1: imports pkg.mid" in p for p in problems)
    assert any("imports pkg.sub (its package's __init__ runs first)" in p for p in problems)
    assert any("imports pkg.sub.inner" in p for p in problems)


def test_fake_cycle_fails(tmp_path):
    _, imports = _fake(tmp_path, {"low.py": "from pkg import low2\n",
                                  "low2.py": "import pkg.low\n", "mid.py": "",
                                  "sub/inner.py": "", "high.py": ""})
    assert cycles(imports) == ["module-level import cycle: pkg.low -> pkg.low2 -> pkg.low"]


def test_fake_local_imports_fail_without_cycle_comment_or_going_down(tmp_path):
    _, imports = _fake(tmp_path, {
        "low.py": "def f():\n    from pkg import mid\n",           # a cycle, no comment
        "low2.py": "def f():\n    import pkg.high  # cycle: none\n",  # no cycle at all
        "mid.py": "from pkg import low\n"
                  "def g():\n    # cycle: a lie\n    from pkg.low import f\n",  # downward
        "sub/inner.py": "", "high.py": ""})
    problems = local_imports(imports, FAKE_LAYERS)
    assert len(problems) == 3
    assert "pkg.low, line 2: imports pkg.mid inside a function without a comment" in \
        problems[0] and "(pkg.mid -> pkg.low)" in problems[0]
    assert "pkg.low2, line 2: imports pkg.high inside a function, but pkg.high does not " \
        "import pkg.low2 (no cycle)" in problems[1]
    assert "pkg.mid, line 4: imports pkg.low inside a function, but pkg.low does not " \
        "import pkg.mid (no cycle)" in problems[2]


def test_fake_module_without_layer_fails(tmp_path):
    modules, _ = _fake(tmp_path, {"low.py": "", "low2.py": "", "mid.py": "",
                                  "sub/inner.py": "", "high.py": "", "new.py": ""})
    assert unassigned(modules, FAKE_LAYERS) == [
        "pkg.new has no layer: add it to LAYERS in tests/test_layers.py and to "
        "docs/architecture.md"]
