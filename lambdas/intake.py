"""Turn a lifecycle action (from an event, or found by the reconciler) into a workflow run."""

from __future__ import annotations

from typing import Any

from lambdas.actions import LifecycleAction, Transition
from lambdas.models import LifecycleActionEvent
from lambdas.records import ACTIVE_LAUNCH, InstanceRecord, InstanceState
from lambdas.runtime import Runtime
from lambdas.workflow import WorkflowState


def action_from_event(event: LifecycleActionEvent) -> LifecycleAction:
    """The action an EventBridge lifecycle event announces (keyed on its token)."""
    d = event.detail
    return LifecycleAction(
        instance_id=d.EC2InstanceId,
        asg_name=d.AutoScalingGroupName,
        hook_name=d.LifecycleHookName,
        transition=Transition(d.LifecycleTransition),
        token=d.LifecycleActionToken,
        origin=d.Origin,
        destination=d.Destination,
        metadata=d.NotificationMetadata or "",
        key=d.LifecycleActionToken,
    )


def workflow_running(record: InstanceRecord | None, transition: Transition) -> bool:
    """True when the record shows a workflow handling ``transition`` for the instance."""
    if record is None or "waiting_seen_at" in record.extra:
        return False
    if transition is Transition.LAUNCH:
        return record.state in ACTIVE_LAUNCH and record.last_action != "CONTINUE"
    return record.state == InstanceState.DRAINING.value


def start_workflow(rt: Runtime, action: LifecycleAction, why: str) -> dict[str, Any]:
    """Record the action and start its workflow execution.

    A late event for an action the reconciler already restarted (``restarted_by`` on the
    record) is not started twice. The record is written before the execution starts, so the
    workflow's own records always come after it.

    Returns:
        ``{started, execution, reason}``.
    """
    record = rt.state.get_instance(action.instance_id)
    if (
        action.token
        and record is not None
        and record.extra.get("restarted_by") == "reconciler"
        and workflow_running(record, action.transition)
    ):
        return {
            "started": False,
            "execution": str(record.extra.get("execution", "")),
            "reason": "the reconciler already restarted this action",
        }
    name = action.execution_name()
    arn = rt.settings.state_machine_arn
    execution = arn.replace(":stateMachine:", ":execution:") + f":{name}"
    state = InstanceState.LAUNCHING if action.is_launch else InstanceState.DRAINING
    rt.state.record_instance(
        action.instance_id,
        asg_name=action.asg_name,
        state=state,
        reason=f"{why}; workflow {name} started",
        last_action="start-workflow",
        now=rt.clock(),
        token=action.token,
        extra={
            "execution": execution,
            "waiting_seen_at": None,
            "restarted_by": None if action.token else "reconciler",
        },
    )
    execution = rt.aws.start_workflow(
        arn, name, WorkflowState.start(action).model_dump(mode="json")
    )
    return {"started": True, "execution": execution, "reason": why}
