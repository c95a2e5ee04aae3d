"""The primitive registry is consistent, and its declarations are closed.

A declaration is the only place a primitive's rules live: ``Primitive`` takes a fixed set of
fields, rejects unknown ones and is immutable once declared; every field it has is read by
some part of funcad (so setting one has an effect), and so is every field of every lowering
kind. The code generator holds no per-primitive knowledge: no string in ``funcad/codegen``
names a primitive.
"""
import ast
import importlib
import inspect
import pathlib
import pkgutil

import numpy as np
import pytest

import funcad
from funcad import lowering
from funcad.codegen.emitter import RESERVED
from funcad.core import Primitive, per_primitive, primitives

for _pkg in (funcad.primitives, funcad.interpreters):
    for _m in pkgutil.iter_modules(_pkg.__path__):
        importlib.import_module(f"{_pkg.__name__}.{_m.name}")
import funcad.custom_derivatives  # noqa: E402,F401

PKG = pathlib.Path(funcad.__file__).parent
# the checks of tests/test_primitives.py and tests/test_jit.py an xfail may name
CHECKS = {"abstract_eval", "staging", "jvp", "vjp", "order2", "vmap", "vmap_of_jvp", "jit",
          "registry"}


def _modules(where=PKG):
    for path in sorted(where.rglob("*.py")):
        yield path, ast.parse(path.read_text(), str(path))


def _attributes_read(where=PKG, skip=()) -> set:
    """Names read as ``x.name`` or ``getattr(x, "name")`` anywhere below ``where``."""
    names = set()
    for path, tree in _modules(where):
        if path.name in skip:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                names.add(node.attr)
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id == "getattr" and len(node.args) >= 2
                  and isinstance(node.args[1], ast.Constant)):
                names.add(node.args[1].value)
    return names


# ---------------------------------------------------------------------------------------------
# Closed declarations

def test_unknown_keyword_is_refused():
    with pytest.raises(TypeError, match="test_arg"):
        Primitive("funcad_test_typo", impl=lambda x: x, test_arg=lambda rng: [],
                  register=False)
    with pytest.raises(TypeError, match="cheep"):
        lowering.Elementwise(lambda *a: "x", cheep=True)
    with pytest.raises(TypeError, match="unknown field"):
        lowering.Lowering.__init__(lowering.Opaque.__new__(lowering.Opaque), rul=None)
    with pytest.raises(TypeError, match="lowering must be one of"):
        Primitive("funcad_test_bad_lowering", lowering=lambda ctx, eqn: None, register=False)
    with pytest.raises(TypeError, match="no transpose"):
        Primitive("funcad_test_linear", linear=True, register=False)
    with pytest.raises(ValueError, match="monoid"):
        lowering.Reduce("mean", None)


def test_a_declared_primitive_is_immutable():
    p = Primitive("funcad_test_sealed", impl=lambda x: x, register=False)
    with pytest.raises(AttributeError, match="give every rule in its Primitive"):
        p.jvp = lambda primals, tangents: None
    with pytest.raises(AttributeError):
        p.anything_else = 1
    with pytest.raises(AttributeError):
        primitives["sin"].lowering.cheap = True


def test_per_primitive_rules_receive_their_primitive():
    seen = []
    p = Primitive("funcad_test_factory", impl=lambda x: x + 1,
                  batch=per_primitive(lambda prim: seen.append(prim) or
                                      (lambda vals, dims: (prim.bind(vals[0]), dims[0]))),
                  abstract_eval=lambda x: x, register=False)
    assert seen == [p]
    np.testing.assert_array_equal(funcad.vmap(p.bind)(np.arange(3.0)), [1.0, 2.0, 3.0])


# ---------------------------------------------------------------------------------------------
# Every field is read somewhere

def test_every_primitive_field_is_read():
    read = _attributes_read()
    unread = [f for f in Primitive.FIELDS if f not in read]
    assert not unread, f"Primitive fields nothing reads: {unread}"


@pytest.mark.parametrize("kind", lowering.KINDS, ids=lambda k: k.__name__)
def test_every_lowering_field_is_read_by_the_code_generator(kind):
    read = _attributes_read(PKG / "codegen")
    unread = [f for f in kind.FIELDS if f not in read]
    assert not unread, f"{kind.__name__} fields the code generator never reads: {unread}"


# ---------------------------------------------------------------------------------------------
# Every declaration makes sense

@pytest.mark.parametrize("prim", sorted(primitives.values(), key=lambda p: p.name),
                         ids=lambda p: p.name)
def test_declaration_is_consistent(prim):
    for key in prim.xfail:
        check = key.split("[")[0]
        assert check in CHECKS, f"{prim.name}: xfail names an unknown check {key!r}"
        assert prim.xfail[key], f"{prim.name}: xfail {key!r} gives no reason"
    if prim.linear:
        assert prim.transpose is not None
    assert prim.impl is not None and prim.abstract_eval is not None, prim.name
    assert prim.jvp is not None or "jvp" in prim.xfail, f"{prim.name} has no jvp rule"
    takes_operands = bool(inspect.signature(prim.impl).parameters) and any(
        p.kind != p.KEYWORD_ONLY for p in inspect.signature(prim.impl).parameters.values())
    assert prim.batch is not None or "vmap" in prim.xfail or not takes_operands, (
        f"{prim.name} has no batch rule")
    lw = prim.lowering
    assert lw is not None or "jit" in prim.xfail, f"{prim.name} has no lowering"
    if type(lw) in (lowering.Elementwise, lowering.Index, lowering.Reduce):
        assert not prim.multiple_results, f"{prim.name}: a fused kind has one result"
    if type(lw) is lowering.Reduce:
        for params in prim.test_params or ():
            assert "axes" in params, f"{prim.name}: a Reduce kind reduces over params['axes']"
    if prim.higher_order or type(lw) in (lowering.Control, lowering.Call):
        assert prim.multiple_results, f"{prim.name}: higher-order primitives return lists"


# ---------------------------------------------------------------------------------------------
# The code generator knows no primitive by name

# Strings of the code generator's own vocabulary that happen to be primitive names: the monoids
# of Reduce and the index term ("rev", n, t) of funcad.codegen.fuse.
# Python's own names (funcad.codegen.emitter.RESERVED: abs, min, max, ...) too.
_VOCABULARY = set(lowering.MONOIDS) | {"rev"} | set(RESERVED)


def _strings(tree):
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and id(node) not in docstrings):
            yield node


def test_codegen_has_no_per_primitive_knowledge():
    names = set(primitives) - _VOCABULARY
    found = []
    for path, tree in _modules(PKG / "codegen"):
        for node in _strings(tree):
            if node.value in names:
                found.append(f"{path.name}:{node.lineno}: {node.value!r}")
    assert not found, ("funcad/codegen names primitives; declare what it needs in the "
                       "primitive's lowering instead:\n" + "\n".join(found))


def test_codegen_checks_are_able_to_fail():
    # the scan above sees a name-keyed table if one comes back
    tree = ast.parse('RULES = {"sin": 1}\nif eqn.prim.name == "dot_general": pass\n')
    assert {n.value for n in _strings(tree)} & set(primitives) == {"sin", "dot_general"}
