"""The workflow's Task steps by name: what each Task state of the state machine runs.

``statemachine/lifecycle.asl.json`` passes ``step`` to the ``workflow_steps`` handler,
which looks it up in :data:`STEPS`; the local runner (``lambdas.local_workflow``) does the
same, so tests walk the very code the deployed workflow runs.
"""

from __future__ import annotations

from collections.abc import Callable

from lambdas.drain import begin_drain, check_drain
from lambdas.launch import begin_launch, check_launch
from lambdas.runtime import Runtime
from lambdas.workflow import WorkflowState


def begin(rt: Runtime, st: WorkflowState) -> WorkflowState:
    """First step: launch or drain by the action's transition."""
    return begin_launch(rt, st) if st.action.is_launch else begin_drain(rt, st)


def check(rt: Runtime, st: WorkflowState) -> WorkflowState:
    """A waiting step: one health or draining check (and a heartbeat when due)."""
    return check_launch(rt, st) if st.action.is_launch else check_drain(rt, st)


STEPS: dict[str, Callable[[Runtime, WorkflowState], WorkflowState]] = {
    "begin": begin,
    "check": check,
}
"""Steps returning the updated workflow document (``finish`` is separate: it ends it)."""
