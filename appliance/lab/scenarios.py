"""The fleet lab's scripted scenarios: what each does, and what it checks.

Every scenario starts from a serving fleet of at least three healthy appliances
(:meth:`Context.ensure_fleet` launches what is missing through the lifecycle service),
acts (scale, crash, publish a policy), waits for bounded conditions, and returns its
checks. Timings are the lab's: health checks every 0.5 s, two in a row decide, a 5 s
deregistration delay.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from appliance.lab import observe
from appliance.lab.fleet import policy_text
from appliance.lab.report import Check
from appliance.lab.scenario_context import (
    MIN_FLEET,
    PROBE_TIMEOUT,
    Context,
    set_failover,
    wait_for,
)


def steady(ctx: Context) -> list[Check]:
    """Three appliances launched through the lifecycle service serve real traffic."""
    before, sim_before = ctx.lab.apps(), ctx.lab.sim()
    time.sleep(8)
    after, sim, cloud = ctx.lab.apps(), ctx.lab.sim(), ctx.cloud()
    checks = [observe.workflow_check(cloud, i.instance_id, "launch") for i in ctx.lab.running()]
    checks.append(
        Check(
            "every target healthy",
            all(ctx.healthy(i.address) for i in ctx.lab.running()),
            ", ".join(
                f"{i.address} ({i.zone}) {observe.target_state(sim, i.address)}"
                for i in ctx.lab.running()
            ),
        )
    )
    checks.append(
        Check(
            "policy live on every appliance",
            ctx.policy_everywhere(ctx.policy_version),
            ctx.policy_version,
        )
    )
    checks += observe.traffic_checks(after, before, (*observe.ALLOWED_KINDS, "port9999"))
    checks += observe.blocked_checks(after, before)
    clients = list(observe.long_by_local(after))
    ok, detail = observe.continued(after, before, clients)
    checks.append(Check("long-lived TCP connections keep echoing", ok, detail))
    spread = {
        i.address: observe.new_flows(sim, i.address) - observe.new_flows(sim_before, i.address)
        for i in ctx.lab.running()
    }
    checks.append(
        Check(
            "new flows spread over every appliance",
            all(v > 0 for v in spread.values()),
            str(spread),
        )
    )
    zones = {i.address: i.zone for i in ctx.lab.instances.values()}
    watched = sim.get("watched", [])
    crossed = [f for f in watched if zones.get(f["target"]) != f["zone"]]
    checks.append(
        Check(
            "cross-zone off: flows stay in their endpoint's zone",
            bool(watched) and not crossed and len(set(zones.values())) == 2,
            f"{len(watched)} long-lived flows, {len(crossed)} crossed zones; "
            f"appliances in zones {sorted(set(zones.values()))}",
        )
    )
    checks.append(_stickiness_check(ctx))
    checks.append(observe.violations_check(ctx.lab.sim()))
    return checks


def _stickiness_check(ctx: Context) -> Check:
    """With 3-tuple stickiness, new flows sharing addresses and protocol share a target."""
    ctx.lab.command(
        "attributes",
        attributes={"stickiness.enabled": "true", "stickiness.type": "source_ip_dest_ip_proto"},
    )
    time.sleep(3)
    sticky = ctx.lab.sim().get("stickiness", {})
    ctx.lab.command("attributes", attributes={"stickiness.enabled": "false"})
    grouped = int(sticky.get("max_flows", 0))
    return Check(
        "3-tuple stickiness: flows sharing addresses and protocol share an appliance",
        grouped > 10 and sticky.get("max_targets") == 1,
        f"{sticky.get('keys')} stickiness keys, up to {grouped} flows and "
        f"{sticky.get('max_targets')} appliance(s) per key",
    )


def scale_out(ctx: Context) -> list[Check]:
    """The group scales out by one: the new appliance starts, passes health, is registered
    and gets traffic."""
    before = ctx.lab.apps()
    group_before = len(ctx.cloud()["group"])
    new = ctx.launch(1)
    if not new:
        return [Check("a new instance launched", False, "the group launched nothing")]
    instance = ctx.lab.instances[new[0]]
    healthy = wait_for(lambda: ctx.healthy(instance.address), 20)
    served = wait_for(lambda: observe.new_flows(ctx.lab.sim(), instance.address) > 5, 15)
    time.sleep(2)
    after, sim, cloud = ctx.lab.apps(), ctx.lab.sim(), ctx.cloud()
    record = cloud["records"].get(f"INSTANCE#{instance.instance_id}", {})
    status = ctx.lab.daemon(instance.instance_id) or {}
    version = (status.get("policy") or {}).get("version")
    checks = [
        Check(
            "the group launched one instance",
            len(cloud["group"]) == group_before + 1,
            f"{instance.instance_id} at {instance.address} (zone {instance.zone}); "
            f"group {group_before} -> {len(cloud['group'])}",
        ),
        observe.workflow_check(cloud, instance.instance_id, "launch"),
        Check(
            "state table records it in service",
            record.get("state") == "in-service",
            f"{record.get('state')}: {record.get('reason')}",
        ),
        Check(
            "target healthy after passing health checks",
            healthy,
            observe.target_state(sim, instance.address),
        ),
        Check("it runs the live policy", version == ctx.policy_version, str(version)),
        Check(
            "new flows reach the new appliance",
            served,
            f"{observe.new_flows(sim, instance.address)} flows placed on it",
        ),
    ]
    checks += observe.traffic_checks(after, before, label=" during scale-out")
    ok, detail = observe.continued(after, before, list(observe.long_by_local(after)))
    checks.append(Check("long-lived connections unaffected", ok, detail))
    checks.append(observe.violations_check(sim))
    return checks


def _scale_in_once(ctx: Context, mode: str) -> list[Check]:
    set_failover(ctx, mode)
    time.sleep(PROBE_TIMEOUT + 0.5)  # probes started under the old setting end first
    instance_id, address, clients = ctx.busiest(shared_zone=True)
    tag = f"[{mode}] "
    before = ctx.lab.apps()
    ctx.lab.command("terminate", instance_id=instance_id)
    draining = wait_for(lambda: observe.target_state(ctx.lab.sim(), address) == "draining", 10)
    drain_apps, drain_sim = ctx.lab.apps(), ctx.lab.sim()
    time.sleep(ctx.lab.config.deregistration_delay * 0.6)
    mid_apps, mid_sim = ctx.lab.apps(), ctx.lab.sim()
    wait_for(lambda: ctx.terminated(instance_id), 30, 0.5)
    cloud = ctx.cloud()
    terminated = instance_id not in cloud["group"]
    if terminated:
        ctx.lab.stop_instance(instance_id)
    stopped_apps = ctx.lab.apps()
    time.sleep(3)
    after, sim = ctx.lab.apps(), ctx.lab.sim()
    kept, kept_detail = observe.continued(mid_apps, drain_apps, clients)
    placed = observe.new_flows(mid_sim, address) - observe.new_flows(drain_sim, address)
    checks = [
        Check(f"{tag}deregistered target drains", draining, f"{instance_id} at {address}"),
        Check(f"{tag}draining target gets no new flows", placed == 0, f"{placed} placed on it"),
        Check(f"{tag}long-lived connections continue while draining", kept, kept_detail),
        observe.workflow_check(cloud, instance_id, "terminate"),
        Check(
            f"{tag}instance terminated after CONTINUE",
            terminated,
            f"group now {len(cloud['group'])} instances",
        ),
    ]
    watched = observe.watched_by_client(sim)
    if mode == "rebalance":
        moved = [c for c in clients if watched.get(c, {}).get("target", address) != address]
        ok, detail = observe.continued(after, stopped_apps, clients)
        checks.append(
            Check(
                f"{tag}after the delay its connections moved and kept working",
                ok and len(moved) == len(clients),
                f"{len(moved)}/{len(clients)} moved; {detail}",
            )
        )
    else:
        stayed = [
            c
            for c in clients
            if observe.watched_by_client(mid_sim).get(c, {}).get("target") == address
        ]
        checks.append(
            Check(
                f"{tag}its flows stayed on it (not rebalanced)",
                bool(clients) and len(stayed) == len(clients),
                f"{len(stayed)}/{len(clients)} stayed; they end with the instance",
            )
        )
    # with no_rebalance, flows pinned to the removed instance (a client port reused within
    # GWLB's idle timeout) end with it: GWLB's documented behaviour, so the window stops there
    checks += observe.traffic_checks(
        after if mode == "rebalance" else stopped_apps, before, label=f" [{mode}]"
    )
    return checks


def scale_in(ctx: Context) -> list[Check]:
    """Scale-in with drain: a removed appliance drains (existing flows continue, no new
    ones), then is terminated; its long-lived connections end with it (no_rebalance) or
    move to another appliance (rebalance)."""
    if len(ctx.lab.running()) < MIN_FLEET + 1:
        ctx.launch(MIN_FLEET + 1 - len(ctx.lab.running()))  # two per zone: 4 -> 2
        ctx.ensure_fleet()
    checks = _scale_in_once(ctx, "no_rebalance")
    # rebalance also moves what the first removal left pinned; it stays the lab's setting
    checks += _scale_in_once(ctx, "rebalance")
    checks.append(observe.violations_check(ctx.lab.sim()))
    return checks


def crash(ctx: Context) -> list[Check]:
    """An appliance crashes: health checks mark it unhealthy, new flows avoid it, its
    flows fail over (rebalance, cross-zone on), and the lifecycle service replaces it."""
    set_failover(ctx, "rebalance")
    # with cross-zone off, a zone whose only appliance died has nowhere to fail over to
    ctx.lab.command("attributes", attributes={"load_balancing.cross_zone.enabled": "true"})
    instance_id, address, clients = ctx.busiest()
    ctx.lab.crash_instance(instance_id)
    started = time.monotonic()
    unhealthy = wait_for(
        lambda: observe.target_state(ctx.lab.sim(), address) == "unhealthy", 15, 0.1
    )
    detected = time.monotonic() - started
    detect_sim = ctx.lab.sim()
    time.sleep(4)
    settled_apps = ctx.lab.apps()
    time.sleep(4)
    after, sim = ctx.lab.apps(), ctx.lab.sim()
    target = observe.targets(detect_sim).get(address, {})
    placed = observe.new_flows(sim, address) - observe.new_flows(detect_sim, address)
    watched = observe.watched_by_client(sim)
    moved = [c for c in clients if watched.get(c, {}).get("target", address) != address]
    ok, detail = observe.continued(after, settled_apps, clients)
    zones = {i.address: i.zone for i in ctx.lab.instances.values()}
    crossed = [c for c in moved if zones.get(watched[c]["target"]) != watched[c]["zone"]]
    victim_zone = zones.get(address, "?")
    alone = [i for i in ctx.lab.running() if i.zone == victim_zone and i.address != address]
    checks = [
        Check(
            "crashed appliance marked unhealthy",
            unhealthy,
            f"{instance_id} at {address}: after {detected:.1f} s, {target.get('checks')} "
            f"checks, last error {target.get('last_error')!r}",
        ),
        Check("no new flows to the unhealthy appliance", placed == 0, f"{placed} placed on it"),
        Check(
            "its long-lived connections failed over and kept working",
            ok and len(moved) == len(clients),
            f"{len(moved)}/{len(clients)} moved; {detail}",
        ),
        Check(
            "cross-zone on: a zone left without appliances fails over to the other",
            bool(alone) or (bool(moved) and len(crossed) == len(moved)),
            f"zone {victim_zone} keeps {len(alone)} appliance(s); "
            f"{len(crossed)} of {len(moved)} moved flows crossed zones",
        ),
    ]
    checks += observe.traffic_checks(after, settled_apps, label=" after failover")
    checks += observe.blocked_checks(after, settled_apps)
    ctx.terminate(instance_id)
    checks.append(observe.workflow_check(ctx.cloud(), instance_id, "terminate"))
    new = ctx.launch(1)
    replaced = bool(new) and wait_for(lambda: ctx.healthy(ctx.lab.instances[new[0]].address), 20)
    checks.append(
        Check("a replacement appliance launched and healthy", replaced, ", ".join(new) or "none")
    )
    ctx.lab.command("attributes", attributes={"load_balancing.cross_zone.enabled": "false"})
    checks.append(observe.violations_check(ctx.lab.sim()))
    return checks


def policy_rollout(ctx: Context) -> list[Check]:
    """A new policy version written to SSM is validated, published (label ``live``) and
    reaches every appliance; its new rule closes port 9999."""
    ctx.rollouts += 1
    version = f"lab-{ctx.rollouts + 1}"
    before = ctx.lab.apps()
    started = time.monotonic()
    result = ctx.lab.command("put_policy", text=policy_text(version, close_9999=True))
    arrived = wait_for(lambda: ctx.policy_everywhere(version), 20)
    took = time.monotonic() - started
    if arrived:
        ctx.policy_version = version
    time.sleep(1.5)
    start = ctx.lab.apps()
    time.sleep(4)
    after, cloud = ctx.lab.apps(), ctx.cloud()
    closed = observe.window(after, start).get("port9999", {})
    checks = [
        Check(
            "publisher validated and published it",
            bool(result.get("accepted")),
            f"SSM version {result.get('ssm_version')}, label {result.get('label')!r}, "
            f"reload command {result.get('command_id')}",
        ),
        Check(
            "live label on the new version",
            cloud.get("live_version") == result.get("ssm_version"),
            f"live = version {cloud.get('live_version')}",
        ),
        Check(
            "every appliance runs it",
            arrived,
            f"{len(ctx.lab.running())} appliances on {version} after {took:.1f} s",
        ),
        Check(
            "its new rule closes port 9999",
            closed.get("ok", 0) == 0 and closed.get("fail", 0) > 0,
            f"{closed.get('ok', 0)} got through, {closed.get('fail', 0)} stopped",
        ),
    ]
    checks += observe.traffic_checks(after, before, label=" during the rollout")
    checks += observe.blocked_checks(after, before)
    ok, detail = observe.continued(after, before, list(observe.long_by_local(after)))
    checks.append(Check("long-lived connections unaffected", ok, detail))
    return checks


INVALID_POLICY = """apiVersion: gwlbd.policy/v1
version: "broken"
rules:
  - {id: bad rule, action: explode, match: {dstPort: [70000]}}
"""


def invalid_policy(ctx: Context) -> list[Check]:
    """An invalid policy version is refused by the publisher; every appliance keeps the
    last good one and traffic goes on."""
    before, cloud_before = ctx.lab.apps(), ctx.cloud()
    result = ctx.lab.command("put_policy", text=INVALID_POLICY)
    time.sleep(4)
    after, cloud = ctx.lab.apps(), ctx.cloud()
    record = cloud["records"].get("POLICY#/gwlbd/policy", {})
    problems = result.get("problems") or []
    checks = [
        Check(
            "publisher refused it",
            result.get("accepted") is False and bool(problems),
            f"SSM version {result.get('ssm_version')}: {'; '.join(problems[:2])}",
        ),
        Check(
            "live label stays on the last good version",
            cloud.get("live_version") == cloud_before.get("live_version"),
            f"live = version {cloud.get('live_version')}",
        ),
        Check(
            "state table records the rejection",
            "rejected" in str(record.get("last_error", "")),
            str(record.get("last_error", ""))[:120],
        ),
        Check(
            "every appliance keeps the last good version",
            ctx.policy_everywhere(ctx.policy_version),
            ctx.policy_version,
        ),
    ]
    checks += observe.traffic_checks(after, before)
    checks += observe.blocked_checks(after, before)
    ok, detail = observe.continued(after, before, list(observe.long_by_local(after)))
    checks.append(Check("long-lived connections unaffected", ok, detail))
    return checks


ALL: dict[str, Callable[[Context], list[Check]]] = {
    "steady": steady,
    "scale-out": scale_out,
    "scale-in": scale_in,
    "crash": crash,
    "policy-rollout": policy_rollout,
    "invalid-policy": invalid_policy,
}
"""Every scenario by name, in the order ``--scenario all`` runs them."""
