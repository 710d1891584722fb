"""Scale-out: prepare, register and wait for a launching appliance to be healthy.

GWLB forwards traffic to the appliance with the inner packet's own addresses, so EC2's
source/destination check must be off on every interface: ``ModifyInstanceAttribute``
only works on single-ENI instances, so several ENIs are done one by one with
``ModifyNetworkInterfaceAttribute`` (EC2 API reference). The service, not the ASG,
registers the target, and only answers CONTINUE once the target group's health check
(against gwlbd's health endpoint) passes.
"""

from __future__ import annotations

from lambdas.actions import Plan, Result
from lambdas.aws import InstanceInfo, LifecycleAws
from lambdas.errors import InstanceGoneError
from lambdas.hook import heartbeat_if_due
from lambdas.records import InstanceState
from lambdas.runtime import Runtime
from lambdas.workflow import WorkflowState

MANAGED_TAGS = {"gwlbd:managed": "true"}


def disable_source_dest_check(aws: LifecycleAws, info: InstanceInfo) -> list[str]:
    """Turn the check off where it is on; returns the ENIs (or instance) changed."""
    changed: list[str] = []
    if len(info.enis) <= 1:
        if not info.enis or info.enis[0].source_dest_check:
            aws.set_instance_source_dest_check(info.instance_id, False)
            changed.append(info.instance_id)
        return changed
    for eni in info.enis:
        if eni.source_dest_check:
            aws.set_eni_source_dest_check(eni.eni_id, False)
            changed.append(eni.eni_id)
    return changed


def _gone(st: WorkflowState, when: str) -> WorkflowState:
    return st.done(Result.ABANDON, f"instance {st.action.instance_id} terminated {when}")


def begin_launch(rt: Runtime, st: WorkflowState) -> WorkflowState:
    """Prepare the instance and, unless it goes to the warm pool, register it."""
    action, now = st.action, rt.clock()
    info = rt.aws.describe_instance(action.instance_id)
    if info is None or info.gone:
        return _gone(st, "before it could be prepared")
    try:
        disable_source_dest_check(rt.aws, info)
        rt.aws.tag_instance(action.instance_id, MANAGED_TAGS)
        if st.plan is Plan.LAUNCH_INTO_WARM_POOL:
            return st.done(
                Result.CONTINUE, "prepared for the warm pool; registers when it leaves the pool"
            )
        rt.state.record_instance(
            action.instance_id,
            asg_name=action.asg_name,
            state=InstanceState.REGISTERING,
            reason="source/destination check off, tagged; registering",
            last_action="begin",
            now=now,
            token=action.token,
        )
        rt.aws.register_target(rt.settings.target_group_arn, action.instance_id)
    except InstanceGoneError:
        return _gone(st, "while it was being prepared")
    timeout = rt.settings.healthy_timeout
    rt.state.record_instance(
        action.instance_id,
        asg_name=action.asg_name,
        state=InstanceState.WAITING_HEALTHY,
        reason=f"registered; waiting up to {timeout}s for the health check",
        last_action="register",
        now=now,
    )
    return st.model_copy(
        update={
            "deadline": now + timeout,
            "next_heartbeat": now + rt.settings.heartbeat_interval,
            "wait_seconds": rt.settings.poll_interval,
        }
    )


def check_launch(rt: Runtime, st: WorkflowState) -> WorkflowState:
    """One look at the target: healthy -> CONTINUE, too late -> ABANDON, else keep waiting."""
    action, now = st.action, rt.clock()
    st = st.model_copy(update={"checks": st.checks + 1})
    info = rt.aws.describe_instance(action.instance_id)
    if info is None or info.gone:
        return _gone(st, "while waiting for its health check")
    found = rt.aws.target_health(rt.settings.target_group_arn, action.instance_id)
    if not found:
        return st.done(Result.ABANDON, "target left the target group while launching")
    health = found[0]
    st = st.model_copy(update={"last_target_state": health.state})
    if health.state == "healthy":
        return st.done(Result.CONTINUE, f"target healthy after {st.checks} check(s)")
    if now >= st.deadline:
        detail = f"{health.state}: {health.reason}" if health.reason else health.state
        return st.done(
            Result.ABANDON,
            f"not healthy within {rt.settings.healthy_timeout}s (last state {detail})",
        )
    return heartbeat_if_due(rt, st, now)
