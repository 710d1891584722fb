"""The flow table: both directions, timeouts per protocol, bounded walk, eviction order."""

from __future__ import annotations

from appliance.flows.table import Flow, FlowTable, ReverseHalf, TableLimits
from appliance.flows.tunnels import Tunnel, TunnelRegistry
from appliance.policy.verdict import ALLOW_ALL, Action, Decision
from appliance.wire.flowkey import reverse_key

EP = (0x1234).to_bytes(8, "big")


def key(n: int, proto: int = 17) -> bytes:
    src = bytes([198, 18, n >> 8 & 0xFF, n & 0xFF])
    return (
        EP
        + bytes([proto])
        + src
        + bytes([198, 19, 1, 1])
        + (1000).to_bytes(2, "big")
        + (53).to_bytes(2, "big")
    )


def make_flow(tunnel: Tunnel, k: bytes, now: float, timeout: float = 120.0) -> Flow:
    return Flow(
        k,
        tunnel.tally("default"),
        ALLOW_ALL,
        attachment_id=0,
        cookie=7,
        icmp_type=None,
        mid_flow=False,
        now=now,
        timeout=timeout,
        pending=0,
    )


def test_reverse_direction_maps_to_the_same_flow() -> None:
    # GIVEN a flow seen in one direction
    table = FlowTable(TableLimits())
    tunnel = Tunnel(0x1234)
    flow = make_flow(tunnel, key(1), 0.0)
    table.add(flow, 0.0)
    # WHEN the other direction is registered
    half = table.add_reverse(flow, reverse_key(key(1)), 1.0)
    # THEN both keys find halves of one flow, counted once
    assert table.entries[key(1)] is flow
    assert isinstance(table.entries[reverse_key(key(1))], ReverseHalf)
    assert half.flow is flow
    assert flow.reverse is half
    assert len(table) == 1
    assert tunnel.flows_active == 1
    # AND removing the flow removes both keys, and breaks the flow <-> half cycle
    # (workers freeze long-lived objects out of the cyclic GC)
    table.remove(flow)
    assert flow.reverse is None
    assert table.entries == {}
    assert len(table) == 0
    assert tunnel.flows_active == 0


def test_timeouts_follow_gwlb_per_protocol() -> None:
    table = FlowTable(TableLimits(tcp_timeout=350.0, other_timeout=120.0))
    assert table.timeout_for(6) == 350.0
    assert table.timeout_for(17) == 120.0
    assert table.timeout_for(1) == 120.0


def test_sweep_expires_only_flows_idle_past_their_timeout() -> None:
    ended: list[tuple[bytes, str]] = []
    table = FlowTable(TableLimits(), on_end=lambda f, why: ended.append((f.key, why)))
    tunnel = Tunnel(1)
    tcp = make_flow(tunnel, key(1, 6), 0.0, timeout=350.0)
    udp = make_flow(tunnel, key(2, 17), 0.0, timeout=120.0)
    busy = make_flow(tunnel, key(3, 17), 0.0, timeout=120.0)
    for f in (tcp, udp, busy):
        table.add(f, 0.0)
    busy.last_seen = 100.0
    # AT 121 s only the idle UDP flow is past its timeout
    assert table.sweep(121.0, budget=100) == 1
    assert [k for k, _ in ended] == [key(2)]
    assert ended[0][1] == "timeout"
    # AT 351 s the TCP flow and the (idle since 100 s) busy flow go too
    assert table.sweep(351.0, budget=100) == 2
    assert len(table) == 0
    assert table.expired == 3


def test_activity_in_the_reverse_direction_keeps_a_flow_alive() -> None:
    table = FlowTable(TableLimits())
    tunnel = Tunnel(1)
    flow = make_flow(tunnel, key(1), 0.0)
    table.add(flow, 0.0)
    half = table.add_reverse(flow, reverse_key(key(1)), 0.0)
    half.last_seen = 100.0
    assert table.sweep(150.0, budget=10) == 0
    assert table.sweep(221.0, budget=10) == 1


def test_sweep_visits_at_most_its_budget() -> None:
    table = FlowTable(TableLimits())
    tunnel = Tunnel(1)
    for n in range(100):
        table.add(make_flow(tunnel, key(n), 0.0), 0.0)
    assert table.sweep(1000.0, budget=10) == 10
    assert len(table) == 90
    total = 10
    while len(table):
        total += table.sweep(1000.0, budget=10)
    assert total == 100


def test_eviction_at_the_bound_spares_recently_seen_flows() -> None:
    # GIVEN a full table where every flow but the last was recently active
    ended: list[str] = []
    limits = TableLimits(max_flows=FlowTable.EVICTION_SAMPLE)
    table = FlowTable(limits, on_end=lambda f, why: ended.append(why))
    tunnel = Tunnel(1)
    flows = [make_flow(tunnel, key(n), float(n)) for n in range(limits.max_flows)]
    for f in flows:
        table.add(f, f.first_seen)
    for f in flows[1:]:
        f.last_seen = 50.0
    # WHEN a new flow arrives
    table.add(make_flow(tunnel, key(999), 60.0), 60.0)
    # THEN the least recently seen flow was evicted, and counted
    assert key(0) not in table.entries
    assert all(f.key in table.entries for f in flows[1:])
    assert table.evicted == 1
    assert ended == ["evicted"]
    assert len(table) == limits.max_flows


def test_clear_forgets_matching_flows() -> None:
    table = FlowTable(TableLimits())
    tunnel = Tunnel(1)
    for n in range(10):
        table.add(make_flow(tunnel, key(n), 0.0), 0.0)
    assert table.clear(lambda f: f.key[12] % 2 == 0) == 5
    assert len(table) == 5


def test_set_decision_moves_counting_to_the_new_rules_tally() -> None:
    tunnel = Tunnel(1)
    table = FlowTable(TableLimits())
    flow = make_flow(tunnel, key(1), 0.0)
    table.add(flow, 0.0)
    half = table.add_reverse(flow, reverse_key(key(1)), 0.0)
    deny = Decision(Action.DROP, "block")
    flow.set_decision(deny, int(Action.DROP))
    assert flow.tally is tunnel.tallies["block"]
    assert half.tally is flow.tally
    assert half.action == int(Action.DROP)


def test_tunnel_totals_are_sums_of_its_tallies() -> None:
    registry = TunnelRegistry(idle_timeout=10.0)
    tunnel = registry.get(7)
    assert registry.get(7) is tunnel
    a, b = tunnel.tally("a"), tunnel.tally("b")
    a.packets, a.bytes, a.last_packet = 3, 300, 5.0
    b.packets, b.bytes, b.drops, b.last_packet = 2, 200, 2, 8.0
    assert (tunnel.packets_in, tunnel.bytes_in, tunnel.drops, tunnel.last_packet) == (
        5,
        500,
        2,
        8.0,
    )
    # an idle tunnel without flows is forgotten; one with flows is kept
    assert registry.expire(17.0) == []
    assert registry.expire(18.0) == [tunnel]
    assert len(registry) == 0
