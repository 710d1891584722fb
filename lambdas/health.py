"""Replace appliances whose target stays unhealthy.

GWLB emits no per-target health events, so the service watches the target group's
``UnHealthyHostCount`` alarm and polls ``DescribeTargetHealth`` on a schedule. An
in-service target unhealthy for longer than the grace period is reported to Auto
Scaling with ``SetInstanceHealth`` Unhealthy; the ASG then replaces the instance through
the terminate lifecycle hook (and so through draining).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lambdas.records import InstanceState, from_iso, iso
from lambdas.runtime import Runtime


@dataclass
class HealthReport:
    """What one sweep saw and did."""

    checked: int = 0
    """In-service targets looked at."""
    unhealthy: list[str] = field(default_factory=list)
    """Instances whose target is unhealthy (within or past the grace)."""
    replaced: list[str] = field(default_factory=list)
    """Instances reported Unhealthy to Auto Scaling by this sweep."""
    recovered: list[str] = field(default_factory=list)
    """Instances whose target became healthy again within the grace."""


def sweep(rt: Runtime) -> HealthReport:
    """Look at every in-service target once and act on the unhealthy ones."""
    s, now = rt.settings, rt.clock()
    report = HealthReport()
    group = {g.instance_id: g for g in rt.aws.group_instances(s.asg_name)}
    records = {r.instance_id: r for r in rt.state.instances()}
    for target in rt.aws.target_health(s.target_group_arn):
        member = group.get(target.instance_id)
        if member is None or member.lifecycle_state != "InService":
            continue  # launching and terminating instances belong to their workflow
        report.checked += 1
        record = records.get(target.instance_id)
        since = record.extra.get("unhealthy_since") if record else None
        if target.state != "unhealthy":
            if since is not None and target.state == "healthy":
                rt.state.set_instance_fields(target.instance_id, {"unhealthy_since": None})
                report.recovered.append(target.instance_id)
            continue
        report.unhealthy.append(target.instance_id)
        if since is None:
            if record is None:
                rt.state.record_instance(
                    target.instance_id,
                    asg_name=s.asg_name,
                    state=InstanceState.IN_SERVICE,
                    reason="found in service by the health sweep",
                    last_action="health-sweep",
                    now=now,
                    extra={"unhealthy_since": iso(now)},
                )
            else:
                rt.state.set_instance_fields(target.instance_id, {"unhealthy_since": iso(now)})
            since = iso(now)
        unhealthy_for = now - from_iso(str(since))
        if unhealthy_for < s.unhealthy_grace or member.health_status != "Healthy":
            continue
        rt.aws.set_instance_unhealthy(target.instance_id)
        report.replaced.append(target.instance_id)
        rt.state.record_instance(
            target.instance_id,
            asg_name=s.asg_name,
            state=InstanceState.UNHEALTHY,
            reason=(
                f"target unhealthy ({target.reason or 'no reason given'}) for "
                f"{int(unhealthy_for)}s, grace {s.unhealthy_grace}s: Auto Scaling replaces it"
            ),
            last_action="SetInstanceHealth",
            now=now,
        )
    return report
