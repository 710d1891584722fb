"""End a lifecycle action: exactly one ``CompleteLifecycleAction``, and the record of why.

Called by the workflow's ``Finish`` state, including after a caught error, and by the
handler that rescues failed, timed-out or aborted executions. Callers wrap it in
:func:`lambdas.once.run_once` keyed on the action, so it completes each action once.
"""

from __future__ import annotations

import json
from typing import Any

from lambdas.actions import Plan, Result
from lambdas.errors import ActionGoneError, AwsCallError
from lambdas.records import InstanceState
from lambdas.runtime import Runtime
from lambdas.workflow import WorkflowState

CLOSED_RECORD_TTL = 14 * 24 * 3600
"""Records of terminated or abandoned instances expire (DynamoDB TTL on ``expires_at``)."""


def _final_state(st: WorkflowState, outcome: Result) -> InstanceState:
    if not st.action.is_launch:
        return InstanceState.TERMINATED
    if outcome is Result.ABANDON:
        return InstanceState.ABANDONED
    if st.plan is Plan.LAUNCH_INTO_WARM_POOL:
        return InstanceState.LAUNCHING  # prepared and parked; recorded with warm_pool=true
    return InstanceState.IN_SERVICE


def cause_text(cause: str) -> str:
    """The message of a caught Lambda error (Step Functions passes its JSON as the cause)."""
    try:
        doc = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(doc, dict) and "errorMessage" in doc:
        return str(doc["errorMessage"])
    return cause


def finish(rt: Runtime, st: WorkflowState) -> dict[str, Any]:
    """Complete the action with the workflow's outcome (or its failure answer).

    Returns:
        ``{instance_id, transition, result, reason, completed}``; ``completed`` is False
        when Auto Scaling no longer had the action (already completed or timed out).

    Raises:
        AwsCallError: completing failed for another reason (throttled after retries...):
            the caller retries; nothing was recorded as done.
    """
    action = st.action
    outcome, reason = st.outcome, st.reason
    if outcome is None:
        outcome = action.failure_result()
        if st.error is not None:
            cause = cause_text(st.error.Cause)[:300]
            reason = f"workflow step failed: {st.error.Error}: {cause}".rstrip(": ")
        else:
            reason = reason or "workflow ended without an outcome"
    if action.is_launch and outcome is Result.ABANDON and st.plan is Plan.LAUNCH_INTO_SERVICE:
        try:
            rt.aws.deregister_target(rt.settings.target_group_arn, action.instance_id)
        except AwsCallError as exc:
            reason += f"; deregistering failed: {exc}"
    completed = True
    try:
        rt.aws.complete_lifecycle_action(action, outcome)
    except ActionGoneError:
        completed = False
        reason += "; Auto Scaling no longer had the action (completed elsewhere or timed out)"
    extra: dict[str, Any] = {"warm_pool": True} if st.plan is Plan.LAUNCH_INTO_WARM_POOL else {}
    extra.update(unhealthy_since=None, waiting_seen_at=None)
    if st.plan is Plan.LAUNCH_INTO_SERVICE:
        extra["warm_pool"] = None
    final, now = _final_state(st, outcome), rt.clock()
    closed = final in (InstanceState.TERMINATED, InstanceState.ABANDONED)
    extra["expires_at"] = int(now + CLOSED_RECORD_TTL) if closed else None
    rt.state.record_instance(
        action.instance_id,
        asg_name=action.asg_name,
        state=final,
        reason=reason,
        last_action=outcome.value,
        now=now,
        token=action.token,
        extra=extra,
    )
    return {
        "instance_id": action.instance_id,
        "transition": action.transition.value,
        "result": outcome.value,
        "reason": reason,
        "completed": completed,
    }
