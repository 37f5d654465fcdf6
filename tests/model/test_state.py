"""The model's states live in one table (wskrecv/wsk/_state.py), and only there are they
written: checked from the model's sources, and for the compiled core (which settles
indication lists in C) by holding every transition it makes equal to the table's."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from wskrecv import core as cores
from wskrecv.wsk import _state
from wskrecv.wsk._state import (
    CALLBACK_CALLED,
    INDICATION_HIDES,
    INDICATION_ROWS,
    INDICATION_TRANSITIONS,
    TRANSITIONS,
    VIOLATIONS,
    CallbackEvent,
    CallbackState,
    IndicationEvent,
    IndicationState,
    IrpEvent,
    IrpState,
    SocketEvent,
    SocketState,
)
from wskrecv.wsk.datagram import Datagram
from wskrecv.wsk.indication import IndicationSource, make_chain
from wskrecv.wsk.verifier import RULES, Verifier

MODEL = Path(_state.__file__).parent


def _state_writes(path: Path) -> list[str]:
    """Every place `path` assigns or deletes an attribute called `state`, or sets one
    through setattr / object.__setattr__."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[ast.AST] = []
        if isinstance(node, (ast.Assign, ast.Delete)):
            targets = list(node.targets)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in ("setattr", "__setattr__", "delattr") and any(
                isinstance(a, ast.Constant) and a.value == "state" for a in node.args
            ):
                found.append(f"{path.name}:{node.lineno}")
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Attribute) and sub.attr == "state":
                    found.append(f"{path.name}:{sub.lineno}")
    return found


def test_only_the_table_module_writes_a_state() -> None:
    writes = {p.name: _state_writes(p) for p in sorted(MODEL.glob("*.py"))}
    assert writes.pop("_state.py"), "the check finds _state.py's own writes"
    assert {name: w for name, w in writes.items() if w} == {}


def test_the_source_check_finds_every_kind_of_write(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "a.state = 1\nb.state += 1\nc.state: int = 1\nx, d.state = 1, 2\ndel e.state\n"
        "setattr(f, 'state', 1)\nobject.__setattr__(g, 'state', 1)\nh.states = 1\n"
    )
    assert _state_writes(sample) == [f"sample.py:{n}" for n in range(1, 8)]


def test_every_violation_the_tables_name_is_a_rule() -> None:
    assert set(VIOLATIONS.values()) <= set(RULES)
    assert not set(VIOLATIONS) & set(TRANSITIONS)


@pytest.mark.parametrize(("obj_state", "event", "rule"), [
    (IrpState.PENDING, IrpEvent.SUBMIT, "IrpAlreadyPending"),
    (SocketState.CLOSED, SocketEvent.CALL, "SocketClosed"),
    (CallbackState.STATIC, CallbackEvent.DISABLE, "StaticEventCallback"),
])
def test_a_forbidden_step_names_its_rule_counts_it_and_changes_nothing(
    obj_state: Any, event: Any, rule: str
) -> None:
    class Thing:
        state = obj_state

    thing, verifier = Thing(), Verifier()
    with pytest.raises(RULES[rule]):
        _state.step(thing, event, verifier, "the call")
    assert thing.state is obj_state and verifier.counts == {rule: 1}


def test_the_callback_state_is_one_value_through_its_life() -> None:
    """Enabled, paused by STATUS_DATA_NOT_ACCEPTED, enabled again, disabled during a call,
    off once the call returned: one CallbackState at every point."""

    class Callback:
        state = CallbackState.DISABLED

    cb = Callback()
    seen = [_state.step(cb, event) for event in (
        CallbackEvent.ENABLE, CallbackEvent.REJECT, CallbackEvent.ENABLE,
        CallbackEvent.DISABLE_IN_CALL, CallbackEvent.RETURNED)]
    assert seen == [CallbackState.ENABLED, CallbackState.SUSPENDED, CallbackState.ENABLED,
                    CallbackState.DISABLING, CallbackState.DISABLED]
    assert [s in CALLBACK_CALLED for s in seen] == [True, False, True, True, False]


# -- the compiled twin of the indication table's write ------------------------------------

NATIVE = cores.native()


def _inds_in(chain: Any, state: IndicationState, n: int = 3) -> list:
    """`n` indications built by `chain` and moved to `state` (the Python write)."""
    source = IndicationSource(Verifier())
    inds = chain([Datagram(bytes([i]), ("127.0.0.1", i)) for i in range(n)], source)
    if state is not IndicationState.INDICATED:
        _state.settle(inds, {IndicationState.INDICATED: state},
                      state not in _state.INDICATION_READABLE)
    return inds


@pytest.mark.skipif(NATIVE is None, reason="the native core is not built here")
@pytest.mark.usefixtures("native_core")
@pytest.mark.parametrize("event", list(IndicationEvent))
@pytest.mark.parametrize("state", list(IndicationState))
def test_the_native_settle_makes_exactly_the_tables_transitions(
    state: IndicationState, event: IndicationEvent
) -> None:
    """Every (state, event) pair: the C write gives the table's next state where the table
    has one, and refuses (KeyError, as the Python twin) where it has none."""
    assert NATIVE is not None
    row, hide = INDICATION_ROWS[event], event in INDICATION_HIDES
    outcomes = []
    for chain, settle in ((make_chain, _state.settle), (NATIVE.chain, NATIVE.settle)):
        inds = _inds_in(chain, state)
        try:
            settle(inds, row, hide)
            outcomes.append([ind.state for ind in inds])
        except KeyError:
            outcomes.append(KeyError)
    want = INDICATION_TRANSITIONS.get((state, event))
    assert outcomes == [[want] * 3 if want is not None else KeyError] * 2


@pytest.mark.skipif(NATIVE is None, reason="the native core is not built here")
@pytest.mark.usefixtures("native_core")
def test_the_native_builder_starts_every_indication_where_the_table_starts() -> None:
    assert NATIVE is not None
    inds = NATIVE.chain([Datagram(b"x", ("127.0.0.1", 1))] * 2, IndicationSource(Verifier()))
    assert [ind.state for ind in inds] == [IndicationState.INDICATED] * 2
    assert IndicationState.INDICATED in _state.INITIAL
