"""The tun path with in-memory devices and sender: GWLB -> gwi, kernel -> GWLB, drops."""

from __future__ import annotations

import socket
import struct
from typing import Any

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.packet import Packet

from appliance.dataplane.batch import Batch
from appliance.dataplane.engine import Engine
from appliance.dataplane.packetio import MemoryIO
from appliance.dataplane.tun import MemoryDevices, MemoryTun, interface_names
from appliance.dataplane.tunpath import TunPath
from appliance.dataplane.tunsend import MemorySender
from appliance.policy.compiler import compile_policy
from appliance.policy.document import parse_document
from appliance.policy.static import StaticPolicy
from appliance.wire.geneve import build_geneve

GWLB, GWLB2, LOCAL = "198.18.0.1", "198.18.0.9", "198.18.0.2"
EP = 0x0123456789ABCDEF


class Rig:
    def __init__(self, deny: tuple[str, ...] = (), idle: float = 0.0) -> None:
        self.engine = Engine(StaticPolicy(deny), gwlb_cidrs=["198.18.0.0/24"])
        self.io = MemoryIO(Batch(8))
        self.devices = MemoryDevices()
        self.sender = MemorySender()
        self.notes: list[tuple[str, int, str, str]] = []
        self.path = TunPath(
            self.engine,
            self.devices,
            self.sender,
            lambda *note: self.notes.append(note),
            batch_size=4,
            idle_timeout=idle,
        )

    def from_gwlb(self, payload: bytes, sport: int, src: str = GWLB, now: float = 100.0) -> None:
        self.io.push(payload, src, sport, LOCAL)
        while self.io.pending:
            n = self.io.receive()
            self.path.deliver(self.io.batch, self.engine.process(self.io.batch, n, now), now)

    def devs(self, eid: int = EP) -> tuple[MemoryTun, MemoryTun]:
        return self.devices.made[eid]

    def drop(self, reason: str) -> int:
        return self.engine.drop_counts()[reason]


def geneve(inner: Packet, cookie: int = 7, extra: bytes = b"") -> bytes:
    options = [(0x0109, 5, extra)] if extra else []
    header = build_geneve(endpoint_id=EP, attachment_id=3, cookie=cookie, extra_options=options)
    return header + bytes(inner)


def c2s(sport: int = 40000, payload: bytes = b"hello") -> Packet:
    return IP(src="198.18.1.10", dst="198.19.1.10") / TCP(sport=sport, dport=443) / payload


def s2c(dport: int = 40000) -> Packet:
    return IP(src="198.19.1.10", dst="198.18.1.10") / TCP(sport=443, dport=dport, flags="SA")


def outer(datagram: bytes) -> tuple[str, str, int, int, bytes]:
    src, dst = socket.inet_ntoa(datagram[12:16]), socket.inet_ntoa(datagram[16:20])
    sport, dport, length = struct.unpack("!HHH", datagram[20:26])
    assert length == len(datagram) - 20
    return src, dst, sport, dport, datagram[28:]


def test_allowed_packets_reach_gwi_and_kernel_packets_return_with_the_flows_header() -> None:
    rig = Rig()
    sent = geneve(c2s())
    # WHEN the GWLB sends a packet of a new endpoint
    rig.from_gwlb(sent, 31000)
    # THEN the endpoint's devices exist (and CREATE was announced) and the inner packet,
    # byte for byte, went to gwi
    gwi, gwo = rig.devs()
    assert (gwi.name, gwo.name) == interface_names(EP)
    assert rig.notes == [("CREATE", EP, gwi.name, gwo.name)]
    assert gwi.to_kernel == [bytes(c2s())]
    # WHEN the kernel routes it out of gwo (route-back, TTL decremented on the way)
    forwarded = c2s()
    forwarded.ttl = 63
    gwo.inject(bytes(forwarded))
    assert rig.path.drain(101.0) == 1
    # THEN it goes to the GWLB node that sent the flow, from the address it was sent to,
    # from the GWLB's source port to 6081, behind the flow's GENEVE header
    [(datagram, dst)] = rig.sender.sent
    assert socket.inet_ntoa(dst) == GWLB
    src, odst, sport, dport, payload = outer(datagram)
    assert (src, odst, sport, dport) == (LOCAL, GWLB, 31000, 6081)
    assert payload == sent[:40] + bytes(forwarded)
    assert rig.engine.packets_out == 1


def test_a_reply_travelling_the_other_way_uses_the_flows_header() -> None:
    rig = Rig()
    rig.from_gwlb(geneve(c2s(), cookie=0xABCDEF01), 31000)
    _, gwo = rig.devs()
    gwo.inject(bytes(s2c()))  # a NATed reply the kernel routes back into the tunnel
    rig.path.drain(101.0)
    [(datagram, _)] = rig.sender.sent
    _, _, sport, _, payload = outer(datagram)
    assert sport == 31000
    assert payload[36:40] == bytes.fromhex("abcdef01")  # the flow's cookie
    assert payload[40:] == bytes(s2c())


def test_the_return_route_follows_the_latest_packet_from_the_gwlb() -> None:
    rig = Rig()
    rig.from_gwlb(geneve(c2s()), 31000)
    # cross-zone: the next packet of the flow comes from another GWLB node and port
    rig.from_gwlb(geneve(c2s()), 31555, src=GWLB2)
    _, gwo = rig.devs()
    gwo.inject(bytes(c2s()))
    rig.path.drain(101.0)
    [(datagram, dst)] = rig.sender.sent
    assert socket.inet_ntoa(dst) == GWLB2
    assert outer(datagram)[1:3] == (GWLB2, 31555)


def test_longer_geneve_headers_are_returned_byte_for_byte() -> None:
    rig = Rig()
    sent = geneve(c2s(), extra=b"\x01\x02\x03\x04\x05\x06\x07\x08")
    rig.from_gwlb(sent, 31000)
    gwi, gwo = rig.devs()
    assert gwi.to_kernel == [bytes(c2s())]
    gwo.inject(bytes(c2s()))
    rig.path.drain(101.0)
    [(datagram, _)] = rig.sender.sent
    assert outer(datagram)[4] == sent


def test_icmp_and_gwi_packets_are_matched_too() -> None:
    rig = Rig()
    echo = IP(src="198.18.1.10", dst="198.19.1.10") / ICMP(type=8, id=77)
    rig.from_gwlb(geneve(echo), 31000)
    gwi, _ = rig.devs()
    # the kernel answers out of gwi itself (no route to gwo): it still goes back
    gwi.inject(bytes(IP(src="198.19.1.10", dst="198.18.1.10") / ICMP(type=0, id=77)))
    rig.path.drain(101.0)
    assert len(rig.sender.sent) == 1


def test_packets_of_no_known_flow_and_garbage_are_dropped_and_counted() -> None:
    rig = Rig()
    rig.from_gwlb(geneve(c2s()), 31000)
    _, gwo = rig.devs()
    gwo.inject(bytes(IP(src="198.18.7.7", dst="198.19.7.7") / UDP(sport=1, dport=2)))
    gwo.inject(b"\x45\x00")
    rig.path.drain(101.0)
    assert rig.sender.sent == []
    assert rig.drop("no_flow") == 1
    assert rig.drop("inner_malformed") == 1


def test_denied_flows_never_reach_the_kernel_nor_return() -> None:
    rig = Rig(deny=("198.19.9.0/24",))
    rig.from_gwlb(geneve(c2s()), 31000)  # creates the endpoint
    denied = IP(src="198.18.1.10", dst="198.19.9.9") / TCP(sport=5, dport=80)
    rig.from_gwlb(geneve(denied), 31001)
    gwi, gwo = rig.devs()
    assert gwi.to_kernel == [bytes(c2s())]
    assert rig.drop("policy") == 1
    gwo.inject(bytes(denied))  # something in the kernel forges the denied flow
    rig.path.drain(101.0)
    assert rig.sender.sent == []
    assert rig.drop("policy") == 2


def test_write_and_creation_failures_are_counted_and_retried_later() -> None:
    rig = Rig()
    rig.devices.fail = True
    rig.from_gwlb(geneve(c2s()), 31000, now=100.0)
    rig.devices.fail = False
    rig.from_gwlb(geneve(c2s()), 31000, now=101.0)  # within the retry delay
    assert rig.drop("send_failed") == 2
    assert rig.path.create_failures == 1
    rig.from_gwlb(geneve(c2s()), 31000, now=106.0)
    gwi, _ = rig.devs()
    assert len(gwi.to_kernel) == 1
    gwi.fail_writes = 1
    rig.from_gwlb(geneve(c2s()), 31000, now=107.0)
    assert rig.drop("send_failed") == 3
    # a device that takes nothing (a full non-blocking descriptor answers None) counts too
    rig.path.endpoints[EP.to_bytes(8, "big")].write = lambda packet: None
    rig.from_gwlb(geneve(c2s()), 31000, now=108.0)
    assert rig.drop("send_failed") == 4
    assert rig.path.endpoints[EP.to_bytes(8, "big")].write_failed == 2


def test_idle_endpoints_lose_their_devices_and_routes_of_expired_flows_go() -> None:
    rig = Rig(idle=60.0)
    rig.from_gwlb(geneve(c2s()), 31000, now=100.0)
    gwi, gwo = rig.devs()
    rig.path.maintain(150.0)
    assert not gwi.closed
    rig.path.maintain(161.0)
    assert gwi.closed
    assert gwo.closed
    assert rig.notes[-1] == ("DESTROY", EP, gwi.name, gwo.name)
    assert len(rig.path.routes) == 1
    rig.engine.table.clear(lambda _f: True)
    rig.path.maintain(162.0)
    rig.path.maintain(163.0)
    assert rig.path.routes == {}


def test_snapshots_carry_the_interfaces_and_their_counters() -> None:
    rig = Rig()
    rig.from_gwlb(geneve(c2s()), 31000)
    rig.from_gwlb(geneve(c2s()), 31000)
    _, gwo = rig.devs()
    gwo.inject(bytes(c2s()))
    rig.path.drain(101.0)
    tunnel: dict[str, Any] = {"endpoint_id": EP}
    snap: dict[str, Any] = {"tunnels": [tunnel]}
    rig.path.annotate(snap)
    interfaces = tunnel["interfaces"]
    assert (interfaces["in"], interfaces["out"]) == interface_names(EP)
    assert interfaces["in_packets"] == 2
    assert interfaces["out_packets"] == 1
    assert snap["bytes_out"] == 40 + len(c2s())


REJECT_POLICY = """
apiVersion: gwlbd.policy/v1
version: tun-test
settings: {defaultAction: allow}
rules:
  - {id: no-telnet, action: reject, match: {protocol: [tcp], dstPort: [23]}}
"""


def test_reject_answers_go_straight_back_to_the_gwlb_never_to_the_kernel() -> None:
    rig = Rig()
    rig.engine.set_policy(compile_policy(parse_document(REJECT_POLICY)), reevaluate=False)
    telnet = IP(src="198.18.1.10", dst="198.19.1.10") / TCP(sport=5555, dport=23, flags="S")
    # GIVEN an allowed packet and a packet of a rejected flow in one batch
    rig.io.push(geneve(c2s()), GWLB, 31000, LOCAL)
    rig.io.push(geneve(telnet, cookie=8), GWLB, 31001, LOCAL)
    n = rig.io.receive()
    rig.path.deliver(rig.io.batch, rig.engine.process(rig.io.batch, n, 100.0), 100.0)
    # THEN only the allowed packet reached gwi
    gwi, _ = rig.devs()
    assert gwi.to_kernel == [bytes(c2s())]
    # AND the TCP RST went back to the GWLB at once, behind the rejected flow's header
    [(datagram, dst)] = rig.sender.sent
    assert socket.inet_ntoa(dst) == GWLB
    _, _, sport, _, payload = outer(datagram)
    assert sport == 31001
    answer = IP(payload[40:])
    assert answer[TCP].flags & 0x04  # RST
    assert (answer.src, answer.dst) == ("198.19.1.10", "198.18.1.10")
