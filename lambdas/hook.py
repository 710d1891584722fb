"""Keep a lifecycle hook alive while the workflow waits (``RecordLifecycleActionHeartbeat``).

The hook's heartbeat timeout (``LaunchHookTimeout``/``TerminateHookTimeout``, at least
300 s in the template) must stay above ``GWLBD_HEARTBEAT_INTERVAL_SECONDS`` plus one poll
interval: a check heartbeats once the interval has passed since the last one.
"""

from __future__ import annotations

from lambdas.errors import ActionGoneError
from lambdas.runtime import Runtime
from lambdas.workflow import WorkflowState


def heartbeat_if_due(rt: Runtime, st: WorkflowState, now: float) -> WorkflowState:
    """Heartbeat the hook when due; an action that is gone ends the workflow."""
    if now < st.next_heartbeat:
        return st
    try:
        rt.aws.record_heartbeat(st.action)
    except ActionGoneError:
        return st.done(
            st.action.failure_result(),
            "lifecycle action no longer active (completed elsewhere or its hook timed out)",
        )
    return st.model_copy(update={"next_heartbeat": now + rt.settings.heartbeat_interval})
