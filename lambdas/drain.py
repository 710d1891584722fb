"""Scale-in: deregister the target and wait for GWLB to drain it.

After ``DeregisterTargets`` the target stays ``draining`` for at most the target group's
``deregistration_delay.timeout_seconds``, then leaves the group (Elastic Load Balancing
user guide, "Deregistration delay"). The workflow waits for whichever comes first.
"""

from __future__ import annotations

from lambdas.actions import Plan, Result
from lambdas.hook import heartbeat_if_due
from lambdas.records import InstanceState
from lambdas.runtime import Runtime
from lambdas.workflow import WorkflowState


def begin_drain(rt: Runtime, st: WorkflowState) -> WorkflowState:
    """Deregister the target (nothing to do for an instance leaving the warm pool)."""
    action, now = st.action, rt.clock()
    if st.plan is Plan.LEAVE_WARM_POOL:
        return st.done(Result.CONTINUE, "terminated from the warm pool; never registered")
    rt.aws.deregister_target(rt.settings.target_group_arn, action.instance_id)
    delay = rt.settings.deregistration_delay
    rt.state.record_instance(
        action.instance_id,
        asg_name=action.asg_name,
        state=InstanceState.DRAINING,
        reason=f"deregistered; draining for up to {delay}s",
        last_action="deregister",
        now=now,
        token=action.token,
    )
    return st.model_copy(
        update={
            "deadline": now + delay,
            "next_heartbeat": now + rt.settings.heartbeat_interval,
            "wait_seconds": rt.settings.poll_interval,
        }
    )


def check_drain(rt: Runtime, st: WorkflowState) -> WorkflowState:
    """One look at the target: gone or delay passed -> CONTINUE, else keep waiting."""
    action, now = st.action, rt.clock()
    st = st.model_copy(update={"checks": st.checks + 1})
    found = rt.aws.target_health(rt.settings.target_group_arn, action.instance_id)
    if not found:
        return st.done(Result.CONTINUE, "target drained and left the target group")
    st = st.model_copy(update={"last_target_state": found[0].state})
    if now >= st.deadline:
        return st.done(
            Result.CONTINUE,
            f"deregistration delay of {rt.settings.deregistration_delay}s passed "
            f"(target still {found[0].state})",
        )
    return heartbeat_if_due(rt, st, now)
