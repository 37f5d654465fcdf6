"""The compiled indication-list builder against its pure-Python twin (the specification).

`wskrecv.wsk.indication.make_chain` and `wskrecv.wsk._state.settle` build and settle the model's own
WSK_DATAGRAM_INDICATION objects; the native core's ChainMaker does the same work in C.
The same random batches (any size, senders, destinations, timestamps or none) built both
ways, then driven through random ownership events on the whole list and on parts of it,
must give identical lists, states, readable fields and verifier counts; both walks (what
WskRelease follows) must find the same items in any list an application may hand over. CI also runs this
module against an AddressSanitizer/UBSan build (tests/test_sanitizers.py).
"""

from __future__ import annotations

from types import GetSetDescriptorType, MemberDescriptorType
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wskrecv import core as cores
from wskrecv.wsk._state import (
    INDICATION_ROWS,
    INDICATION_SHOWS,
    IndicationEvent,
    IndicationState,
    settle,
    step_all,
)
from wskrecv.wsk.datagram import Datagram
from wskrecv.wsk.indication import FIELDS as STORAGE
from wskrecv.wsk.indication import (
    IndicationSource,
    PythonIndication,
    WskDatagramIndication,
    census,
    make_chain,
    show,
    walk,
)
from wskrecv.wsk.verifier import Verifier, WskApiViolation, WskrecvBug

NATIVE = cores.native()
pytestmark = [pytest.mark.skipif(NATIVE is None, reason="the native core is not built here"),
              pytest.mark.usefixtures("native_core")]



FIELDS = ("data", "remote", "timestamp_ns")

records = st.builds(
    Datagram,
    st.binary(max_size=70),
    st.one_of(st.sampled_from([("127.0.0.1", 5000), ("::1", 7000, 0, 0)]),
              st.tuples(st.just("10.0.0.1"), st.integers(0, 65535))),
    st.one_of(st.none(), st.sampled_from([("127.0.0.1", 1), ("255.255.255.255", 2)])),
    st.one_of(st.none(), st.integers(0, (1 << 64) - 1)),
)
# (event, first, last): the event applied to inds[first:last] (a part: mixed states).
steps = st.tuples(st.sampled_from(list(IndicationEvent)), st.integers(0, 70), st.integers(0, 70))


def shape(inds: list[WskDatagramIndication], dgrams: list[Datagram], source: Any) -> list:
    """Everything an indication shows, comparable across builds: that it is one, its state, where
    its Next points (an index), its record and source (by identity) and each readable
    field, or the violation reading it raises."""
    index = {id(ind): i for i, ind in enumerate(inds)}
    out = []
    for i, ind in enumerate(inds):
        fields = []
        for name in FIELDS:
            try:
                fields.append(getattr(ind, name))
            except WskApiViolation as exc:
                fields.append(type(exc).__name__)
        nxt = ind.next
        nxt_at = None if nxt is None else index.get(id(nxt), "?")
        out.append((isinstance(ind, WskDatagramIndication), ind.state, nxt_at,
                    ind._dgram is dgrams[i], ind._source is source, fields))
    return out


def drive(chain: Callable, settle_: Callable, dgrams: list[Datagram], timestamps: bool,
          plan: list[tuple[IndicationEvent, int, int]]) -> list:
    verifier = Verifier()
    source = IndicationSource(verifier)
    source.timestamps = timestamps
    inds = chain(list(dgrams), source)
    seen = [shape(inds, dgrams, source)]
    for event, first, last in plan:
        part = inds[first:last] if first < last else inds
        try:
            step_all(part, event, verifier, "test", settle_)
            if event in INDICATION_SHOWS:
                show(part)
            seen.append("ok")
        except (WskApiViolation, WskrecvBug) as exc:  # a rule, or a pair with no meaning
            seen.append(type(exc).__name__)
        seen.append(shape(inds, dgrams, source))
    seen.append(dict(verifier.counts))
    return seen


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records, max_size=70), st.booleans(), st.lists(steps, max_size=8))
def test_both_builders_make_the_same_lists_and_states(
    dgrams: list[Datagram], timestamps: bool, plan: list
) -> None:
    assert NATIVE is not None
    python = drive(make_chain, settle, dgrams, timestamps, plan)
    native = drive(NATIVE.chain, NATIVE.settle, dgrams, timestamps, plan)
    assert python == native


def test_the_native_builder_makes_the_models_own_objects() -> None:
    assert NATIVE is not None
    source = IndicationSource(Verifier())
    source.timestamps = True
    dgrams = [Datagram(b"a", ("127.0.0.1", 1), None, 5), Datagram(b"bc", ("::1", 2, 0, 0), None, None)]
    inds = NATIVE.chain(dgrams, source)
    assert all(isinstance(ind, WskDatagramIndication) for ind in inds)
    assert [type(ind) for ind in inds] == [cores.native_indication(cores.native_module())] * 2
    assert inds[0].next is inds[1] and inds[1].next is None
    assert inds[0].state is IndicationState.INDICATED
    assert inds[0].buffer.length == 1 and inds[1].remote_address.port == 2
    assert [m.ns for m in inds[0].control_info] == [5]
    NATIVE.settle(inds, INDICATION_ROWS[IndicationEvent.ACCEPT], True)
    assert inds[1].state is IndicationState.RETURNED
    with pytest.raises(WskApiViolation):
        inds[0].data  # noqa: B018 - the read is the test


def test_both_storages_hold_the_same_fields_under_the_same_api() -> None:
    """The native indication is the model's class on the C storage, as the pure-Python one
    is on __slots__: the same fields, found before anything of the API (storage first in
    both), and nothing but the fields in either storage. In C the fields a state hides are
    getters (an empty one asks the model's `_unreadable`), the others plain members; no
    __getattr__ hook on the native class (it would slow every legal read)."""
    module = cores.native_module()
    native = cores.native_indication(module)
    members = vars(module.IndicationFields).items()
    plain = {name for name, value in members if isinstance(value, MemberDescriptorType)}
    hidden = {name for name, value in members if isinstance(value, GetSetDescriptorType)}
    assert set(PythonIndication.__slots__) == set(STORAGE) == plain | hidden
    assert hidden == {"data", "remote", "timestamp_ns"}
    assert not hasattr(native, "__getattr__") and hasattr(PythonIndication, "__getattr__")
    assert native.__mro__[1:] == (module.IndicationFields, WskDatagramIndication, object)
    assert PythonIndication.__mro__[1:] == (WskDatagramIndication, object)
    assert not set(STORAGE) & vars(WskDatagramIndication).keys()
    assert native.__basicsize__ == module.IndicationFields.__basicsize__  # no __dict__, no more fields


def test_a_hidden_field_of_either_storage_alone_is_an_attribute_error() -> None:
    """With no model class over it, an empty field is the AttributeError of an empty
    __slots__ entry, read or deleted, in both storages; set, it reads back."""
    module = cores.native_module()

    class Bare:
        __slots__ = STORAGE

    for ind in (module.IndicationFields(), Bare()):
        for name in ("data", "remote", "timestamp_ns", "next"):
            with pytest.raises(AttributeError):
                getattr(ind, name)
            with pytest.raises(AttributeError):
                delattr(ind, name)
            setattr(ind, name, b"x")
            assert getattr(ind, name) == b"x"
            delattr(ind, name)
            assert getattr(ind, name, None) is None


@pytest.mark.parametrize("bad", [
    [(b"x", ("h", 1), None)],  # three fields
    [[b"x", ("h", 1), None, None]],  # not a tuple: the Python function unpacks it all the same
    (Datagram(b"x", ("h", 1)),),  # not a list
    [object()],
])
def test_hostile_batches_go_to_the_python_builder(bad: Any) -> None:
    assert NATIVE is not None
    outcomes = []
    for chain in (make_chain, NATIVE.chain):
        source = IndicationSource(Verifier())
        try:
            inds = chain(bad, source)
            outcomes.append([(ind.data, ind.remote, ind.timestamp_ns) for ind in inds])
        except Exception as exc:  # noqa: BLE001 - the same exception is the point
            outcomes.append(type(exc))
    assert outcomes[0] == outcomes[1]


def test_settle_handles_what_it_did_not_build_as_the_twin_does() -> None:
    """The native settle writes its own fields directly; anything else (an object with no
    state, one of the pure-Python class, a look-alike) it reads and writes as Python does,
    with the twin's outcome."""
    assert NATIVE is not None

    class LookAlike:
        def __init__(self) -> None:
            self.state = IndicationState.INDICATED
            self.data = self.remote = self.timestamp_ns = 1

    outcomes = []
    for settle_ in (settle, NATIVE.settle):
        pure = make_chain([Datagram(b"x", ("h", 1))], IndicationSource(Verifier()))
        things = [pure[0], LookAlike()]
        settle_(things, INDICATION_ROWS[IndicationEvent.ACCEPT], True)
        outcome = [(t.state, hasattr(t, "__dict__") and sorted(vars(t))) for t in things]
        with pytest.raises(AttributeError):
            settle_([object()], INDICATION_ROWS[IndicationEvent.ACCEPT], True)
        outcomes.append(outcome)
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1] == (IndicationState.RETURNED, ["state"])


class Node:
    """Anything an application may hand WskRelease: `next` set to another node, None, or
    not set at all."""


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(0, 40), st.just("unset")), min_size=1, max_size=40),
       st.integers(0, 39))
def test_both_walks_follow_any_list_alike(links: list, start: int) -> None:
    """Proper lists, lists that come round again (WskRelease's ReleasedTwice), and items
    without a `next` (ReleaseNotHeld, found after the walk)."""
    assert NATIVE is not None
    nodes = [Node() for _ in links]
    for node, link in zip(nodes, links):
        if link != "unset":
            node.next = None if link is None else nodes[link % len(nodes)]
    head = nodes[start % len(nodes)]
    py_inds, py_again = walk(head)
    c_inds, c_again = NATIVE.walk(head)
    assert (len(c_inds), c_again) == (len(py_inds), py_again)
    assert all(a is b for a, b in zip(py_inds, c_inds))


def test_both_walks_take_none_and_pass_other_errors_on() -> None:
    assert NATIVE is not None
    assert NATIVE.walk(None) == walk(None) == ([], -1)

    class Broken:
        @property
        def next(self) -> Any:
            raise LookupError("not an AttributeError")

    for walker in (walk, NATIVE.walk):
        with pytest.raises(LookupError):
            walker(Broken())


class Equal:
    """A `_source` or `state` an application wrote, whose == says `answer` (or raises it)."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def __eq__(self, other: object) -> bool:
        if isinstance(self.answer, type):
            raise self.answer("a comparison that fails")
        return bool(self.answer)

    __hash__ = object.__hash__


# What a test does to one item of a list WskRelease walked: nothing, or what a client may
# write to it (another socket's source, no source, another state, no state, an object
# whose == lies or raises), or the item replaced by something that is not ours.
edits = st.sampled_from(["ours", "other source", "no source", "released", "no state",
                         "eq true", "eq false", "eq AttributeError", "eq ValueError",
                         "foreign", "python indication", "bare fields"])


def _edited(ind: Any, edit: str, other: IndicationSource) -> Any:
    module = cores.native_module()
    if edit == "other source":
        ind._source = other
    elif edit == "no source":
        del ind._source
    elif edit == "released":
        ind.state = IndicationState.RELEASED
    elif edit == "no state":
        del ind.state
    elif edit.startswith("eq "):
        answer = edit[3:]
        value = {"true": True, "false": False}.get(answer) if answer in ("true", "false") else (
            AttributeError if answer == "AttributeError" else ValueError)
        ind._source = Equal(value)
    elif edit == "foreign":
        return object()
    elif edit == "python indication":
        return make_chain([Datagram(b"p", ("127.0.0.1", 1))], ind._source)[0]
    elif edit == "bare fields":
        return module.IndicationFields()
    return ind


@settings(max_examples=300, deadline=None)
@given(st.lists(edits, min_size=1, max_size=40), st.sampled_from(["indicated", "retained"]))
def test_both_censuses_judge_any_list_alike(changes: list[str], counted: str) -> None:
    """WskRelease's look at a walked list: whether every item is an indication of this
    socket, and how many are in a state. The compiled census reads its own fields; on
    any list, what a client may have written included, it gives the Python census's
    answer or raises the same exception, with the same message."""
    assert NATIVE is not None
    source, other = IndicationSource(Verifier()), IndicationSource(Verifier())
    inds = NATIVE.chain([Datagram(b"x", ("127.0.0.1", 5000))] * len(changes), source)
    inds = [_edited(ind, edit, other) for ind, edit in zip(inds, changes)]
    state = IndicationState.INDICATED if counted == "indicated" else IndicationState.RETAINED
    outcomes = []
    for count in (census, NATIVE.census):
        try:
            outcomes.append(count(list(inds), source, state))
        except Exception as exc:  # noqa: BLE001 - the same exception is the point
            outcomes.append((type(exc), str(exc)))
    assert outcomes[0] == outcomes[1]


def _census_of_a_list_that_empties(count: Callable[..., int]) -> int:
    """`count` over 8 indications whose first `_source` compares equal after replacing
    the list's items with objects whose `state` read empties the list."""
    assert NATIVE is not None
    source = IndicationSource(Verifier())
    inds = NATIVE.chain([Datagram(b"x", ("127.0.0.1", 5000))] * 8, source)

    class Shrinker:
        @property
        def state(self) -> IndicationState:
            inds.clear()
            return IndicationState.INDICATED

    class Swapper:
        def __eq__(self, other: object) -> bool:
            inds[:] = [Shrinker() for _ in inds]
            return True

        __hash__ = object.__hash__

    inds[0]._source = Swapper()
    return count(inds, source, IndicationState.INDICATED)


def test_a_list_a_comparison_changes_is_read_as_it_is_then() -> None:
    """A client's `_source` whose == replaces the list's items with objects whose `state`
    read empties the list: both censuses read the list as a list iterator does, item by
    item as it is then (the compiled one read past the end of the emptied list)."""
    assert NATIVE is not None
    assert _census_of_a_list_that_empties(census) == _census_of_a_list_that_empties(NATIVE.census) == 1
