"""The simulator with its target group: placement, failover, draining, zones, watched flows."""

from __future__ import annotations

import random
import socket

from hypothesis import given
from hypothesis import strategies as st

from appliance.lab.gwlb import GwlbSimulator
from appliance.lab.packets import parse_ipv4_udp
from appliance.lab.reflector import reflect
from appliance.lab.targets import GroupSettings, TargetGroup

from .conftest import CLIENT, SERVER, SIM, udp_packet

A, B = "198.18.0.10", "198.18.0.132"


def simulator(**settings: object) -> GwlbSimulator:
    group = TargetGroup(GroupSettings.from_json(dict(settings)))
    for address, zone in ((A, "a"), (B, "b")):
        group.register(address, zone)
        for _ in range(2):
            group.record(address, 200)
    return GwlbSimulator(
        address=SIM,
        targets=[],
        group=group,
        endpoint_id=5,
        rng=random.Random(3),
        zones=[("198.18.1.20/32", "b")],
        watch_ports=[7008],
    )


def back(sim: GwlbSimulator, datagram: bytes) -> bytes | None:
    outer = parse_ipv4_udp(datagram)
    payload = datagram[outer.payload_offset : outer.payload_end]
    reply = reflect(payload, local=outer.dst, peer=outer.src, peer_port=outer.sport)
    violations, inner = sim.check_return(reply)
    assert violations == []
    return inner


@given(st.integers(min_value=1024, max_value=65535))
def test_cross_zone_off_keeps_a_flow_in_its_endpoints_zone(sport: int) -> None:
    sim = simulator()
    zone_b_client = socket.inet_aton("198.18.1.20")
    out_a = sim.encapsulate(udp_packet(CLIENT, SERVER, sport, 53))
    out_b = sim.encapsulate(udp_packet(zone_b_client, SERVER, sport, 53))
    assert out_a is not None
    assert out_b is not None
    assert socket.inet_ntoa(out_a.target) == A
    assert socket.inet_ntoa(out_b.target) == B
    assert (out_a.flow.zone, out_b.flow.zone) == ("a", "b")


def test_rebalance_moves_a_flow_off_an_unhealthy_target_and_late_returns_still_count() -> None:
    sim = simulator(cross_zone=True, on_unhealthy="rebalance")
    first = sim.encapsulate(udp_packet(CLIENT, SERVER, 4000, 7008))
    assert first is not None
    old = socket.inet_ntoa(first.target)
    for _ in range(2):
        sim.group.record(old, None, "refused")
    second = sim.encapsulate(udp_packet(CLIENT, SERVER, 4000, 7008, b"y"))
    assert second is not None
    assert second.flow is first.flow
    assert socket.inet_ntoa(second.target) != old
    assert first.flow.moves == 1
    assert sim.counters.flows_moved == 1
    # a packet the old target returns late is still part of the flow
    assert back(sim, first.datagram) is not None
    assert back(sim, second.datagram) is not None


def test_no_rebalance_keeps_a_flow_on_its_unhealthy_target() -> None:
    sim = simulator(cross_zone=True)
    first = sim.encapsulate(udp_packet(CLIENT, SERVER, 4000, 80))
    assert first is not None
    for _ in range(2):
        sim.group.record(socket.inet_ntoa(first.target), 503)
    second = sim.encapsulate(udp_packet(CLIENT, SERVER, 4000, 80, b"y"))
    assert second is not None
    assert second.target == first.target


def test_no_target_means_no_packet_and_is_counted() -> None:
    sim = GwlbSimulator(address=SIM, targets=[], endpoint_id=5)
    assert sim.encapsulate(udp_packet(CLIENT, SERVER, 4000, 80)) is None
    assert sim.counters.no_target == 1
    assert sim.counters.unparseable == 0


def test_status_lists_targets_and_watched_flows() -> None:
    sim = simulator()
    out = sim.encapsulate(udp_packet(CLIENT, SERVER, 4000, 7008))
    assert out is not None
    status = sim.status()
    states = {t["address"]: (t["state"], t["zone"]) for t in status["targets"]}
    assert states == {A: ("healthy", "a"), B: ("healthy", "b")}
    # watched flows are TCP only; this UDP one is not listed
    assert status["watched"] == []
    assert status["group"]["cross_zone"] is False
    sim.group.deregister(A, now=0.0)
    sim.group.expire(now=1000.0)
    by_address = {t["address"]: t for t in sim.status()["targets"]}
    assert by_address[A]["state"] == "unused"
    assert by_address[A]["sent"] == 1


def test_three_tuple_stickiness_keeps_a_clients_flows_on_one_target() -> None:
    sim = simulator(cross_zone=True, stickiness="3-tuple")
    for sport in range(2000, 2050):
        assert sim.encapsulate(udp_packet(CLIENT, SERVER, sport, 53)) is not None
    assert sim.status()["stickiness"] == {"keys": 1, "max_flows": 50, "max_targets": 1}
    five = simulator(cross_zone=True)
    for sport in range(2000, 2050):
        five.encapsulate(udp_packet(CLIENT, SERVER, sport, 53))
    assert five.status()["stickiness"]["keys"] == 50
    assert len({f.target for f in five.flows.values()}) == 2
