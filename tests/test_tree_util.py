"""Tests for funcad.tree_util: pytrees with JAX semantics."""

import collections
import dataclasses
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funcad.tree_util import (
    PyTreeDef,
    broadcast_prefix,
    register_dataclass,
    register_pytree_node,
    register_pytree_node_class,
    tree_all,
    tree_flatten,
    tree_leaves,
    tree_map,
    tree_reduce,
    tree_structure,
    tree_transpose,
    tree_unflatten,
    treedef_is_leaf,
)

# --- node types used below (registered once, at import) ---------------------------------------

Point = collections.namedtuple("Point", ["x", "y"])
OtherPoint = collections.namedtuple("OtherPoint", ["x", "y"])


class Box:
    """Registered with register_pytree_node; `label` is aux data."""

    def __init__(self, value, label):
        self.value, self.label = value, label

    def __eq__(self, other):
        return type(other) is Box and (self.value, self.label) == (other.value, other.label)


register_pytree_node(Box, lambda b: ((b.value,), b.label), lambda label, ch: Box(ch[0], label))


@register_pytree_node_class
class Pair:
    def __init__(self, a, b):
        self.a, self.b = a, b

    def tree_flatten(self):
        return [self.a, self.b], None

    @classmethod
    def tree_unflatten(cls, aux, children):
        assert isinstance(children, tuple)
        return cls(*children)

    def __eq__(self, other):
        return type(other) is Pair and (self.a, self.b) == (other.a, other.b)


@register_dataclass
@dataclasses.dataclass
class Params:
    w: object
    b: object


@register_dataclass
@dataclasses.dataclass(frozen=True)
class Layer:
    weight: object
    activation: str = dataclasses.field(default="relu", metadata={"static": True})


@dataclasses.dataclass
class Conv:
    kernel: object
    stride: int
    padding: str


register_dataclass(Conv, data_fields=["kernel"], meta_fields=["stride", "padding"])


class Tagged(tuple):
    """A tuple subclass without _fields: a leaf."""


def roundtrip(tree, is_leaf=None):
    leaves, treedef = tree_flatten(tree, is_leaf)
    assert treedef.num_leaves == len(leaves)
    return tree_unflatten(treedef, leaves)


# --- round trips -----------------------------------------------------------------------------

EXAMPLES = {
    "leaf": 1.5,
    "tuple": (1, 2, 3),
    "list": [1, [2, 3], []],
    "dict": {"b": 1, "a": {"y": 2, "x": 3}},
    "none": None,
    "namedtuple": Point(1, Point((2, 3), None)),
    "ordered_dict": collections.OrderedDict([("b", 1), ("a", 2)]),
    "defaultdict": collections.defaultdict(list, {"b": [1], "a": [2, 3]}),
    "registered": Box([1, {"k": 2}], "lbl"),
    "registered_class": Pair((1, 2), Pair(3, None)),
    "dataclass": Params(w=[1, 2], b=3),
    "dataclass_static": Layer(weight=(1, 2), activation="tanh"),
    "dataclass_meta": Conv(kernel={"k": 1}, stride=2, padding="same"),
    "nested_everything": (
        [Point(1, {"z": Box(2, "t"), "a": None})],
        {"p": Params(w=(3,), b=[4, Pair(5, 6)]), "c": Conv(7, 1, "valid")},
        (),
        Layer(8),
    ),
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_roundtrip(name):
    tree = EXAMPLES[name]
    out = roundtrip(tree)
    assert out == tree
    assert type(out) is type(tree)
    assert tree_structure(out) == tree_structure(tree)


def test_leaf_order_is_left_to_right():
    tree = (1, [2, (3, 4)], {"b": 6, "a": 5}, Point(7, 8), Pair(9, 10))
    assert tree_leaves(tree) == list(range(1, 11))


def test_numpy_arrays_are_leaves_and_kept_by_identity():
    a, b = np.arange(3.0), np.ones((2, 2))
    leaves, treedef = tree_flatten({"a": a, "b": [b]})
    assert isinstance(treedef, PyTreeDef)
    assert leaves[0] is a and leaves[1] is b
    assert treedef.num_leaves == 2
    out = tree_unflatten(treedef, leaves)
    assert out["a"] is a and out["b"][0] is b


def test_unregistered_subclasses_are_leaves():
    class MyDict(dict):
        pass

    tagged = Tagged((1, 2))
    leaves, treedef = tree_flatten([MyDict(a=1), tagged])
    assert len(leaves) == 2 and leaves[1] is tagged
    assert repr(treedef) == "PyTreeDef([*, *])"


# --- dicts -----------------------------------------------------------------------------------


def test_dict_children_in_sorted_key_order():
    leaves, treedef = tree_flatten({"b": 2, "c": 3, "a": 1})
    assert leaves == [1, 2, 3]
    assert list(tree_unflatten(treedef, leaves)) == ["a", "b", "c"]
    assert tree_structure({"b": 0, "a": 0}) == tree_structure({"a": 0, "b": 0})


def test_dict_with_mixed_key_types_flattens_deterministically():
    assert tree_leaves({"a": 1, 2: 2, 1: 3}) == tree_leaves({1: 3, "a": 1, 2: 2})
    assert roundtrip({"a": 1, 2: 2}) == {"a": 1, 2: 2}


def test_ordered_dict_keeps_insertion_order_and_differs_from_dict():
    od = collections.OrderedDict([("b", 1), ("a", 2)])
    assert tree_leaves(od) == [1, 2]
    assert tree_structure(od) != tree_structure(dict(od))


# --- None ------------------------------------------------------------------------------------


def test_none_is_a_node_without_children():
    assert tree_leaves(None) == []
    assert tree_leaves([None, 1, (None,)]) == [1]
    treedef = tree_structure(None)
    assert treedef.num_leaves == 0 and treedef.num_nodes == 1
    assert repr(treedef) == "PyTreeDef(None)"
    assert tree_unflatten(treedef, []) is None
    assert tree_map(lambda x: x + 1, (None, 1, [None])) == (None, 2, [None])


def test_none_can_be_made_a_leaf_with_is_leaf():
    leaves, treedef = tree_flatten((None, 1), is_leaf=lambda x: x is None)
    assert leaves == [None, 1]
    assert repr(treedef) == "PyTreeDef((*, *))"


# --- namedtuples, registered classes, dataclasses --------------------------------------------


def test_namedtuple_structure_depends_on_class():
    assert tree_structure(Point(1, 2)) == tree_structure(Point(3, 4))
    assert tree_structure(Point(1, 2)) != tree_structure(OtherPoint(1, 2))
    assert tree_structure(Point(1, 2)) != tree_structure((1, 2))
    assert repr(tree_structure(Point(1, (2,)))) == "PyTreeDef(Point(x=*, y=(*,)))"


def test_registered_node_aux_data_is_part_of_structure():
    assert tree_structure(Box(1, "a")) == tree_structure(Box(2, "a"))
    assert tree_structure(Box(1, "a")) != tree_structure(Box(1, "b"))
    assert repr(tree_structure(Box([1, 2], "a"))) == "PyTreeDef(CustomNode(Box['a'], [[*, *]]))"
    assert tree_map(lambda x: 10 * x, Box([1, 2], "a")) == Box([10, 20], "a")


def test_registering_twice_is_an_error():
    class Thing:
        pass

    register_pytree_node(Thing, lambda t: ((), None), lambda aux, ch: Thing())
    with pytest.raises(ValueError, match="already registered"):
        register_pytree_node(Thing, lambda t: ((), None), lambda aux, ch: Thing())
    with pytest.raises(ValueError, match="already registered"):
        register_pytree_node(list, lambda t: (t, None), lambda aux, ch: list(ch))


def test_dataclass_meta_fields_live_in_the_treedef():
    conv = Conv(kernel=np.ones(3), stride=2, padding="same")
    leaves, treedef = tree_flatten(conv)
    assert len(leaves) == 1 and leaves[0] is conv.kernel
    assert treedef == tree_structure(Conv(kernel=0, stride=2, padding="same"))
    assert treedef != tree_structure(Conv(kernel=0, stride=1, padding="same"))
    assert repr(treedef) == "PyTreeDef(Conv(kernel=*, stride=2, padding='same'))"
    out = tree_unflatten(treedef, [5])
    assert out == Conv(5, 2, "same")


def test_dataclass_static_metadata_and_frozen():
    leaves, treedef = tree_flatten(Layer(weight=[1, 2], activation="tanh"))
    assert leaves == [1, 2]
    assert treedef != tree_structure(Layer(weight=[1, 2]))
    assert tree_map(lambda x: -x, Layer(weight=(1,), activation="tanh")) == Layer((-1,), "tanh")


def test_dataclass_bare_decorator_makes_all_fields_data():
    assert tree_leaves(Params(w=1, b=2)) == [1, 2]  # field order, not sorted
    assert repr(tree_structure(Params(w=1, b=(2,)))) == "PyTreeDef(Params(w=*, b=(*,)))"


def test_dataclass_registration_errors():
    @dataclasses.dataclass
    class A:
        x: object
        y: object

    with pytest.raises(ValueError, match="exactly once"):
        register_dataclass(A, data_fields=["x"], meta_fields=["x", "y"])
    with pytest.raises(ValueError, match="exactly once"):
        register_dataclass(A, data_fields=["x", "z"], meta_fields=["y"])
    with pytest.raises(TypeError, match="not a dataclass"):
        register_dataclass(int)

    register_dataclass(meta_fields=["y"])(A)  # decorator form with arguments
    assert tree_leaves(A(1, 2)) == [1]
    with pytest.raises(TypeError, match="must be hashable"):
        tree_flatten(A(1, [2]))


# --- is_leaf ---------------------------------------------------------------------------------


def test_is_leaf_stops_descent():
    tree = [(1, 2), {"a": (3, 4)}, 5]
    leaves, treedef = tree_flatten(tree, is_leaf=lambda x: isinstance(x, tuple))
    assert leaves == [(1, 2), (3, 4), 5]
    assert repr(treedef) == "PyTreeDef([*, {'a': *}, *])"
    assert tree_unflatten(treedef, leaves) == tree
    is_pair = lambda x: isinstance(x, tuple)  # noqa: E731
    out = tree_map(lambda x: sum(x) if is_pair(x) else x, tree, is_leaf=is_pair)
    assert out == [3, {"a": 7}, 5]


def test_is_leaf_is_asked_about_the_root():
    leaves, treedef = tree_flatten([1, 2], is_leaf=lambda x: isinstance(x, list))
    assert leaves == [[1, 2]] and treedef_is_leaf(treedef)


# --- tree_map --------------------------------------------------------------------------------


def test_tree_map_over_several_trees():
    a = {"x": [1, 2], "y": Point(3, None)}
    b = {"x": [10, 20], "y": Point(30, None)}
    c = {"x": [100, 200], "y": Point(300, None)}
    out = tree_map(lambda p, q, r: p + q + r, a, b, c)
    assert out == {"x": [111, 222], "y": Point(333, None)}


def test_tree_map_accepts_deeper_rest_trees_like_jax():
    out = tree_map(lambda x, y: (x, y), (1, 2), ([3, 4], {"k": 5}))
    assert out == ((1, [3, 4]), (2, {"k": 5}))


@pytest.mark.parametrize(
    "a, b",
    [
        ((1, 2), [1, 2]),
        ((1, 2), (1, 2, 3)),
        ({"a": 1}, {"b": 1}),
        ((1, (2, 3)), (1, 2)),
        (Box(1, "p"), Box(1, "q")),
        (Point(1, 2), OtherPoint(1, 2)),
    ],
)
def test_tree_map_mismatch_names_both_structures(a, b):
    with pytest.raises(ValueError) as info:
        tree_map(lambda x, y: x, a, b)
    msg = str(info.value)
    assert msg.startswith("tree_map: tree structures differ: ")
    assert repr(tree_structure(a)) in msg and repr(tree_structure(b)) in msg


# --- broadcast_prefix ------------------------------------------------------------------------


def test_broadcast_prefix_leaf_prefix_covers_everything():
    assert broadcast_prefix(0, (np.ones(2), {"a": 1, "b": [2, 3]})) == [0, 0, 0, 0]


def test_broadcast_prefix_none_is_a_leaf_in_the_prefix():
    full = (np.ones(2), {"a": 1, "b": [2, 3]}, 4)
    assert broadcast_prefix((0, None, 1), full) == [0, None, None, None, 1]
    assert broadcast_prefix(None, full) == [None] * 5
    assert broadcast_prefix((0, {"a": None, "b": 1}, 2), full) == [0, None, 1, 1, 2]


def test_broadcast_prefix_none_in_full_tree_has_no_leaves():
    assert broadcast_prefix((0, 1, 2), (5, None, 6)) == [0, 2]


def test_broadcast_prefix_with_is_leaf():
    prefix = ((0, 1), 2)
    got = broadcast_prefix(prefix, ([5, 6], 7), is_leaf=lambda x: x == (0, 1))
    assert got == [(0, 1), (0, 1), 2]


def test_broadcast_prefix_error_names_both_structures():
    with pytest.raises(ValueError) as info:
        broadcast_prefix((0, None, 1), (1, 2))
    msg = str(info.value)
    assert "PyTreeDef((*, *, *))" in msg and "PyTreeDef((*, *))" in msg
    with pytest.raises(ValueError, match="not a prefix"):
        broadcast_prefix({"a": 0}, {"b": 1})


# --- PyTreeDef -------------------------------------------------------------------------------


def test_treedef_equality_and_hash_by_value():
    t1 = tree_structure((np.ones(3), {"a": 1.0, "b": [2, 3]}))
    t2 = tree_structure(("x", {"b": [0, 0], "a": "y"}))
    assert t1 == t2 and hash(t1) == hash(t2)
    assert {t1: "hit"}[t2] == "hit"
    assert t1 != tree_structure((1, {"a": 1, "b": (2, 3)}))
    assert t1 != tree_structure((1, {"a": 1, "c": [2, 3]}))
    assert tree_structure([1]) != tree_structure((1,))
    assert tree_structure(1) != tree_structure(None)
    assert t1 != "PyTreeDef"


def test_flat_fast_path_matches_general_path():
    a = np.ones(3)
    fast = tree_structure((a, a, a))
    general = tree_structure((a, a, a), is_leaf=lambda x: False)
    assert fast == general and hash(fast) == hash(general)
    assert tree_structure([a, 1]) == tree_structure([a, 1], is_leaf=lambda x: False)
    assert tree_leaves((a, (a,))) == [a, a]  # a nested tuple leaves the fast path


def test_treedef_repr():
    tree = (1, {"a": 2, "b": [3, 4]})
    assert repr(tree_structure(tree)) == "PyTreeDef((*, {'a': *, 'b': [*, *]}))"
    assert repr(tree_structure(())) == "PyTreeDef(())"
    assert repr(tree_structure(1)) == "PyTreeDef(*)"
    od = collections.OrderedDict(b=1)
    assert repr(tree_structure(od)) == "PyTreeDef(OrderedDict({'b': *}))"


def test_treedef_children_and_counts():
    treedef = tree_structure((1, {"a": 2, "b": [3, 4]}, None))
    assert treedef.num_leaves == 4
    assert treedef.num_nodes == 8
    kids = treedef.children()
    assert kids == [tree_structure(0), tree_structure({"a": 0, "b": [0, 0]}), tree_structure(None)]
    assert [k.num_leaves for k in kids] == [1, 3, 0]
    assert tree_structure(1).children() == []


def test_treedef_is_leaf():
    assert treedef_is_leaf(tree_structure(np.ones(2)))
    assert treedef_is_leaf(tree_structure(None))  # one node, as in JAX
    assert not treedef_is_leaf(tree_structure((1,)))


def test_unflatten_checks_leaf_count():
    treedef = tree_structure({"a": 1, "b": (2, 3)})
    with pytest.raises(ValueError, match="has 3 leaves but 2 were given"):
        tree_unflatten(treedef, [1, 2])
    with pytest.raises(ValueError, match="has 2 leaves but 1 were given"):
        tree_unflatten(tree_structure((1, 2)), [1])
    assert tree_unflatten(treedef, iter([1, 2, 3])) == {"a": 1, "b": (2, 3)}


def test_flatten_up_to():
    treedef = tree_structure((0, {"a": 0}))
    assert treedef.flatten_up_to(([1, 2], {"a": (3,)})) == [[1, 2], (3,)]
    with pytest.raises(ValueError, match="not a prefix"):
        treedef.flatten_up_to((1, 2))


# --- reductions and transpose ----------------------------------------------------------------


def test_tree_all_and_tree_reduce():
    assert tree_all((True, {"a": [1, 2]}))
    assert not tree_all((True, {"a": [1, 0]}))
    assert tree_all(None)
    assert tree_reduce(lambda acc, x: acc + x, (1, [2, 3])) == 6
    assert tree_reduce(lambda acc, x: acc + [x], {"b": 2, "a": 1}, initializer=[]) == [1, 2]
    assert tree_reduce(lambda acc, x: acc + x, (), initializer=7) == 7
    with pytest.raises(TypeError, match="initializer"):
        tree_reduce(lambda acc, x: acc + x, ())


def test_tree_transpose():
    outer = tree_structure([0, 0, 0])
    inner = tree_structure((0, {"k": 0}))
    tree = [(1, {"k": 2}), (3, {"k": 4}), (5, {"k": 6})]
    assert tree_transpose(outer, inner, tree) == ([1, 3, 5], {"k": [2, 4, 6]})


# --- size, depth, speed ----------------------------------------------------------------------


def test_ten_thousand_leaf_list():
    tree = list(range(10_000))
    leaves, treedef = tree_flatten(tree)
    assert leaves == tree and treedef.num_leaves == 10_000
    assert tree_unflatten(treedef, leaves) == tree
    wide = [(i, {"v": i}) for i in range(10_000)]
    leaves, treedef = tree_flatten(wide)
    assert len(leaves) == 20_000 and tree_unflatten(treedef, leaves) == wide
    assert tree_map(lambda x, y: x + y, wide, wide)[-1] == (19_998, {"v": 19_998})


def test_deep_nesting_does_not_recurse():
    tree = 0
    for i in range(1, 5_000):
        tree = [tree, i]
    leaves, treedef = tree_flatten(tree)
    assert leaves == list(range(5_000))
    rebuilt = tree_unflatten(treedef, leaves)
    assert tree_structure(rebuilt) == treedef
    assert repr(treedef).startswith("PyTreeDef([[[[")


def test_flat_tuple_flatten_is_fast():
    args = (np.ones(3), np.ones(3), np.ones(3))
    n = 2_000
    start = time.perf_counter()
    for _ in range(n):
        leaves, treedef = tree_flatten(args)
        hash(treedef)
    per_call = (time.perf_counter() - start) / n
    assert per_call < 50e-6  # typically well under 1 microsecond; loose to stay robust


# --- property test ---------------------------------------------------------------------------

_leaves = st.integers() | st.text(max_size=3) | st.booleans() | st.none()


def _extend(children):
    keys = st.text(max_size=3)
    return (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=4).map(tuple)
        | st.dictionaries(keys, children, max_size=4)
        | st.builds(Point, children, children)
        | st.builds(Box, children, keys)
        | st.builds(Pair, children, children)
        | st.builds(Params, w=children, b=children)
        | st.builds(Conv, kernel=children, stride=st.integers(0, 3), padding=keys)
    )


@settings(derandomize=True, max_examples=200, deadline=None)
@given(st.recursive(_leaves, _extend, max_leaves=30))
def test_random_trees_roundtrip(tree):
    leaves, treedef = tree_flatten(tree)
    assert None not in leaves  # None is a node, never a leaf
    rebuilt = tree_unflatten(treedef, leaves)
    assert rebuilt == tree
    leaves2, treedef2 = tree_flatten(rebuilt)
    assert treedef2 == treedef and hash(treedef2) == hash(treedef)
    assert all(a is b for a, b in zip(leaves2, leaves))
    assert tree_map(lambda x: x, tree) == tree
    assert broadcast_prefix(0, tree) == [0] * len(leaves)
