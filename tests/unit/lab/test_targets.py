"""The simulated target group: placement, stickiness, failover, draining, zones."""

from __future__ import annotations

import random
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.lab.gwlb import canonical_key
from appliance.lab.targets import (
    Failover,
    GroupSettings,
    Stickiness,
    TargetGroup,
    stickiness_key,
)

A, B, C = "198.18.0.10", "198.18.0.11", "198.18.0.12"


def key(src: str, dst: str, sport: int, dport: int, proto: int = 6) -> bytes:
    raw = (
        (7).to_bytes(8, "big")
        + bytes([proto])
        + socket.inet_aton(src)
        + socket.inet_aton(dst)
        + sport.to_bytes(2, "big")
        + dport.to_bytes(2, "big")
    )
    return canonical_key(raw)


def healthy_group(*addresses: str, **settings: object) -> TargetGroup:
    group = TargetGroup(GroupSettings.from_json(dict(settings)))
    for n, address in enumerate(addresses):
        group.register(address, "a" if n % 2 == 0 else "b")
        for _ in range(2):
            group.record(address, 200)
    return group


ports = st.integers(min_value=1, max_value=65535)


@given(sport=ports, dport=ports, sport2=ports, dport2=ports)
def test_stickiness_keys_ignore_what_they_should(
    sport: int, dport: int, sport2: int, dport2: int
) -> None:
    one = key("198.18.1.10", "198.19.1.10", sport, dport)
    other = key("198.18.1.10", "198.19.1.10", sport2, dport2)
    udp = key("198.18.1.10", "198.19.1.10", sport, dport, proto=17)
    # 3-tuple: same addresses and protocol share a key whatever the ports
    three = Stickiness.THREE_TUPLE
    assert stickiness_key(one, three) == stickiness_key(other, three)
    assert stickiness_key(one, three) != stickiness_key(udp, three)
    # 2-tuple: the protocol does not matter either
    two = Stickiness.TWO_TUPLE
    assert stickiness_key(one, two) == stickiness_key(udp, two)
    # 5-tuple: different ports are different flows
    if (sport, dport) != (sport2, dport2) and (sport, dport) != (dport2, sport2):
        five = Stickiness.FIVE_TUPLE
        assert stickiness_key(one, five) != stickiness_key(other, five)


@given(sport=ports, dport=ports)
def test_both_directions_share_every_stickiness_key(sport: int, dport: int) -> None:
    there = key("198.18.1.10", "198.19.1.10", sport, dport)
    back = key("198.19.1.10", "198.18.1.10", dport, sport)
    for mode in Stickiness:
        assert stickiness_key(there, mode) == stickiness_key(back, mode)


@given(st.lists(ports, min_size=1, max_size=50))
def test_new_flows_only_go_to_healthy_targets(sports: list[int]) -> None:
    group = healthy_group(A, B, C, cross_zone=True)
    group.record(B, None, "refused")
    group.record(B, None, "refused")
    chosen = {group.choose(key("198.18.1.10", "198.19.1.10", p, 80), "a") for p in sports}
    assert B not in chosen
    assert chosen <= {A, C}


def test_flows_spread_and_a_3_tuple_group_sticks_together() -> None:
    group = healthy_group(A, B, C, cross_zone=True)
    five = {group.choose(key("198.18.1.10", "198.19.1.10", p, 80), "a") for p in range(1, 200)}
    assert five == {A, B, C}
    group3 = healthy_group(A, B, C, cross_zone=True, stickiness="3-tuple")
    three = {
        group3.choose(
            stickiness_key(key("198.18.1.10", "198.19.1.10", p, 80), Stickiness.THREE_TUPLE),
            "a",
        )
        for p in range(1, 200)
    }
    assert len(three) == 1


def test_cross_zone_off_keeps_flows_in_their_zone() -> None:
    group = healthy_group(A, B, C)  # A, C in zone a; B in zone b
    rng = random.Random(1)
    for _ in range(100):
        k = key("198.18.1.10", "198.19.1.10", rng.randint(1, 65535), 80)
        assert group.choose(k, "a") in {A, C}
        assert group.choose(k + b"b", "b") == B
    group.settings = GroupSettings(cross_zone=True)
    seen = {group.choose(bytes([n]) * 21, "b") for n in range(100)}
    assert seen == {A, B, C}


def test_no_healthy_target_fails_open_and_no_target_gives_none() -> None:
    group = TargetGroup()
    assert group.choose(b"k" * 21, "a") is None
    group.register(A)
    assert group.choose(b"k" * 21, "a") == A  # initial, but the only one: fail open


def test_draining_target_keeps_its_flows_gets_no_new_ones_then_leaves() -> None:
    group = healthy_group(A, B, cross_zone=True, deregistration_delay=10)
    k = next(k for k in (bytes([n]) * 21 for n in range(256)) if group.choose(k, "a") == A)
    group.deregister(A, now=100.0)
    assert group.targets[A].state == "draining"
    assert group.route(A, k, "a") == A
    assert all(group.choose(bytes([n, 1]) * 10, "a") == B for n in range(50))
    assert group.expire(now=109.0) == []
    assert group.expire(now=110.0) == [A]
    # no_rebalance: the flow stays with its old target even after it left
    assert group.route(A, k, "a") == A


def test_rebalance_on_deregistration_moves_flows_after_the_delay() -> None:
    group = healthy_group(
        A, B, cross_zone=True, deregistration_delay=5, on_deregistration="rebalance"
    )
    group.deregister(A, now=0.0)
    assert group.route(A, b"k" * 21, "a") == A  # during the delay
    group.expire(now=5.0)
    assert group.route(A, b"k" * 21, "a") == B


@pytest.mark.parametrize("mode", list(Failover))
def test_unhealthy_target_keeps_or_loses_its_flows_per_failover(mode: Failover) -> None:
    group = healthy_group(A, B, cross_zone=True, on_unhealthy=mode.value)
    for _ in range(2):
        group.record(A, 503)
    expected = B if mode is Failover.REBALANCE else A
    assert group.route(A, b"k" * 21, "a") == expected


def test_sync_registers_new_and_drains_missing_targets() -> None:
    group = healthy_group(A, B)
    group.sync([(B, "b"), (C, "a")], now=3.0)
    assert group.targets[A].state == "draining"
    assert group.targets[B].state == "healthy"
    assert group.targets[C].state == "initial"
    group.sync([(A, "a"), (B, "b"), (C, "a")], now=4.0)
    assert group.targets[A].state == "healthy"


def test_settings_round_trip_and_refuse_nonsense() -> None:
    settings = GroupSettings(on_unhealthy=Failover.REBALANCE, stickiness=Stickiness.TWO_TUPLE)
    assert GroupSettings.from_json(settings.as_json()) == settings
    with pytest.raises(ValueError, match="sometimes"):
        GroupSettings.from_json({"on_unhealthy": "sometimes"})
    with pytest.raises(ValueError, match="deregistration_delay"):
        GroupSettings.from_json({"deregistration_delay": -1})
