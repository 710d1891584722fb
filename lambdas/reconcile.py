"""Find and repair drift between the Auto Scaling group, the target group and the records.

EventBridge delivers lifecycle events at least once and on a best-effort basis, and
people change things by hand. On a schedule the reconciler repairs:

- ``registered-missing-target``: an InService instance that is not a target;
- ``deregistered-orphan-target``: a target whose instance is not in the group;
- ``restarted-missed-action``: an instance waiting in a lifecycle hook for which no event
  arrived (seen waiting on one pass, restarted once ``missed_event_grace`` has passed);
- ``disabled-source-dest-check``: an InService instance with the check back on;
- ``closed-stale-record``: a record of a live instance that has left the group.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from lambdas.actions import LifecycleAction, Transition
from lambdas.finish import CLOSED_RECORD_TTL
from lambdas.intake import start_workflow, workflow_running
from lambdas.launch import disable_source_dest_check
from lambdas.records import InstanceState, from_iso, iso
from lambdas.runtime import Runtime

WAITING_STATES = {
    "Pending:Wait": Transition.LAUNCH,
    "Terminating:Wait": Transition.TERMINATE,
}
CLOSED_STATES = {InstanceState.TERMINATED.value, InstanceState.ABANDONED.value}


@dataclass(frozen=True, slots=True)
class Repair:
    """One repair the reconciler made."""

    kind: str
    """What was wrong (see the module docstring)."""
    instance_id: str
    """The instance concerned."""
    detail: str
    """What was done."""


def _missed_action(rt: Runtime, instance_id: str, transition: Transition) -> LifecycleAction:
    s = rt.settings
    hook = s.launch_hook_name if transition is Transition.LAUNCH else s.terminate_hook_name
    return LifecycleAction(
        instance_id=instance_id,
        asg_name=s.asg_name,
        hook_name=hook,
        transition=transition,
        token=None,
        key=f"reconcile:{instance_id}:{transition.value}:{uuid.uuid4()}",
    )


def _waiting(rt: Runtime, instance_id: str, transition: Transition, now: float) -> list[Repair]:
    record = rt.state.get_instance(instance_id)
    if workflow_running(record, transition):
        return []
    seen = record.extra.get("waiting_seen_at") if record else None
    if seen is None and rt.settings.missed_event_grace > 0:
        if record is None:
            rt.state.record_instance(
                instance_id,
                asg_name=rt.settings.asg_name,
                state=InstanceState.LAUNCHING,
                reason="waiting in its lifecycle hook; no event received yet",
                last_action="reconcile",
                now=now,
                extra={"waiting_seen_at": iso(now)},
            )
        else:
            rt.state.set_instance_fields(instance_id, {"waiting_seen_at": iso(now)})
        return []
    if seen is not None and now - from_iso(str(seen)) < rt.settings.missed_event_grace:
        return []
    action = _missed_action(rt, instance_id, transition)
    started = start_workflow(rt, action, "restarted by the reconciler: no lifecycle event arrived")
    return [Repair("restarted-missed-action", instance_id, f"started {started['execution']}")]


def reconcile(rt: Runtime) -> list[Repair]:
    """One reconciliation pass; returns the repairs made."""
    s, now = rt.settings, rt.clock()
    repairs: list[Repair] = []
    group = rt.aws.group_instances(s.asg_name)
    members = {g.instance_id for g in group}
    targets = {t.instance_id: t for t in rt.aws.target_health(s.target_group_arn)}
    for member in group:
        iid = member.instance_id
        if member.lifecycle_state in WAITING_STATES:
            repairs += _waiting(rt, iid, WAITING_STATES[member.lifecycle_state], now)
            continue
        if member.lifecycle_state != "InService":
            continue
        info = rt.aws.describe_instance(iid)
        if info is None or info.gone:
            continue
        if iid not in targets:
            rt.aws.register_target(s.target_group_arn, iid)
            repairs.append(Repair("registered-missing-target", iid, "registered in the group"))
        changed = disable_source_dest_check(rt.aws, info)
        if changed:
            repairs.append(
                Repair("disabled-source-dest-check", iid, "turned off on " + ", ".join(changed))
            )
    for iid, target in targets.items():
        if iid not in members and target.state != "draining":
            rt.aws.deregister_target(s.target_group_arn, iid)
            repairs.append(
                Repair("deregistered-orphan-target", iid, f"was {target.state}, not in the ASG")
            )
    for record in rt.state.instances():
        iid = record.instance_id
        if (
            record.state in CLOSED_STATES
            or iid in members
            or iid in targets
            or record.extra.get("warm_pool")
        ):
            continue
        rt.state.record_instance(
            iid,
            asg_name=record.asg_name,
            state=InstanceState.TERMINATED,
            reason=f"left the group without a terminate event (was {record.state})",
            last_action="reconcile",
            now=now,
            extra={"expires_at": int(now + CLOSED_RECORD_TTL)},
        )
        repairs.append(Repair("closed-stale-record", iid, f"record was {record.state}"))
    for repair in repairs:
        if repair.kind in ("registered-missing-target", "disabled-source-dest-check"):
            rt.state.record_instance(
                repair.instance_id,
                asg_name=s.asg_name,
                state=InstanceState.IN_SERVICE,
                reason=f"reconciler: {repair.kind}: {repair.detail}",
                last_action="reconcile",
                now=now,
            )
    return repairs
