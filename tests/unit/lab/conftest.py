"""Helpers for the lab's unit tests: inner packets and a seeded simulator."""

from __future__ import annotations

import random
import socket

import pytest

from appliance.lab.gwlb import GwlbSimulator
from appliance.lab.packets import build_ipv4_udp

SIM = socket.inet_aton("198.18.0.1")
APPLIANCE = socket.inet_aton("198.18.0.10")
CLIENT = socket.inet_aton("198.18.1.10")
SERVER = socket.inet_aton("198.19.1.10")


def udp_packet(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes = b"x") -> bytes:
    """An inner IPv4/UDP packet."""
    return build_ipv4_udp(src, dst, sport, dport, payload)


@pytest.fixture
def sim() -> GwlbSimulator:
    """A simulator with one appliance and a fixed random seed."""
    return GwlbSimulator(
        address=SIM,
        targets=[APPLIANCE],
        endpoint_id=0x0123456789ABCDEF,
        attachment_id=0x42,
        rng=random.Random(7),
    )
