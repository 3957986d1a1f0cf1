"""The state machine: every allowed and forbidden transition, and the derived run phase."""

from __future__ import annotations

from itertools import product

import pytest

from engine.errors import IllegalTransition
from engine.phases import TRANSITIONS, NodePhase, NodeType, RunPhase, derive_run_phase
from engine.state import RunRecord, RunState


def _state() -> RunState:
    run = RunRecord(
        id="r1",
        name="wf",
        uid="u",
        namespace="default",
        phase=RunPhase.RUNNING,
        created_at=0.0,
        manifest={},
    )
    return RunState(run)


def _reach(state: RunState, phase: NodePhase):
    node = state.create(f"wf.{phase.value}", "n", NodeType.POD)
    if phase is NodePhase.PENDING:
        return node
    if phase is not NodePhase.RUNNING and phase not in TRANSITIONS[NodePhase.PENDING]:
        state.transition(node, NodePhase.RUNNING)
    state.transition(node, phase)
    return node


@pytest.mark.parametrize(
    ("frm", "to"),
    list(product(NodePhase, NodePhase)),
    ids=[f"{a.value}->{b.value}" for a, b in product(NodePhase, NodePhase)],
)
def test_transition_table_is_enforced(frm: NodePhase, to: NodePhase) -> None:
    state = _state()
    node = _reach(state, frm)
    events_before = len(state.events)
    if to in TRANSITIONS[frm]:
        state.transition(node, to, "test")
        assert node.phase is to
        assert state.events[-1].from_phase is frm and state.events[-1].to_phase is to
        if to.is_fulfilled:
            assert node.finished_at is not None and node.id not in state.active
    else:
        with pytest.raises(IllegalTransition, match=f"{frm.value} -> {to.value}"):
            state.transition(node, to)
        assert node.phase is frm and len(state.events) == events_before


def test_terminal_phases_have_no_way_out() -> None:
    for phase in NodePhase:
        assert (not TRANSITIONS[phase]) == phase.is_fulfilled


@pytest.mark.parametrize(
    ("entry", "on_exit", "has_exit", "want"),
    [
        (None, None, False, RunPhase.PENDING),
        (NodePhase.RUNNING, None, False, RunPhase.RUNNING),
        (NodePhase.SUCCEEDED, None, False, RunPhase.SUCCEEDED),
        (NodePhase.OMITTED, None, False, RunPhase.SUCCEEDED),
        (NodePhase.FAILED, None, False, RunPhase.FAILED),
        (NodePhase.ERROR, None, False, RunPhase.ERROR),
        (NodePhase.SUCCEEDED, None, True, RunPhase.RUNNING),
        (NodePhase.SUCCEEDED, NodePhase.RUNNING, True, RunPhase.RUNNING),
        (NodePhase.SUCCEEDED, NodePhase.SUCCEEDED, True, RunPhase.SUCCEEDED),
        (NodePhase.SUCCEEDED, NodePhase.FAILED, True, RunPhase.FAILED),
        (NodePhase.SUCCEEDED, NodePhase.ERROR, True, RunPhase.ERROR),
        (NodePhase.FAILED, NodePhase.SUCCEEDED, True, RunPhase.FAILED),
        (NodePhase.ERROR, NodePhase.FAILED, True, RunPhase.ERROR),
    ],
)
def test_run_phase_is_derived_as_argo_does(entry, on_exit, has_exit, want) -> None:
    assert derive_run_phase(entry, on_exit, has_exit) is want
