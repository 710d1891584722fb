"""A minimal GENEVE reflector: returns every datagram the way an appliance must.

It stands in for gwlbd when testing the simulator (and is the yardstick the simulator's
checks are measured against): each UDP payload received on port 6081 goes back to the
node that sent it, byte for byte, in a new IPv4/UDP header with the addresses swapped,
the sender's UDP source port kept and destination port 6081 (PROTOCOL.md, "What the
appliance must send back"). ``--fault`` makes it break one rule on purpose so tests can
show the simulator notices.

Run inside the appliance's namespace::

    python -m appliance.lab.reflector --address 198.18.0.2
"""

from __future__ import annotations

import argparse
import enum
import signal
import socket
import sys
from types import FrameType

from appliance.lab.packets import build_ipv4_udp
from appliance.wire.geneve import GENEVE_PORT, MAX_DATAGRAM


class Fault(enum.Enum):
    """A deliberate mistake the reflector can make."""

    NONE = "none"
    SWAP_PORTS = "swap-ports"
    """Reply from port 6081 to the sender's port, as a plain UDP socket would."""
    CHANGE_COOKIE = "change-cookie"
    """Flip a bit of the flow cookie (GENEVE header bytes 36-39)."""
    CHANGE_PAYLOAD = "change-payload"
    """Flip a bit in the last byte of the inner packet."""


def reflect(
    payload: bytes, *, local: bytes, peer: bytes, peer_port: int, fault: Fault = Fault.NONE
) -> bytes:
    """The outer IPv4 datagram that returns ``payload`` to the GWLB node that sent it.

    Args:
        payload: the received UDP payload (GENEVE header and inner packet).
        local: packed address the datagram was received on.
        peer: packed address of the sender (the GWLB node).
        peer_port: the sender's UDP source port.
        fault: a deliberate mistake to make.

    Returns:
        The datagram to send on a raw IPv4 socket.
    """
    sport, dport = peer_port, GENEVE_PORT
    if fault is Fault.SWAP_PORTS:
        sport, dport = GENEVE_PORT, peer_port
    elif fault is Fault.CHANGE_COOKIE and len(payload) >= 40:
        payload = payload[:39] + bytes([payload[39] ^ 1]) + payload[40:]
    elif fault is Fault.CHANGE_PAYLOAD and payload:
        payload = payload[:-1] + bytes([payload[-1] ^ 1])
    return build_ipv4_udp(local, peer, sport, dport, payload)


def serve(address: str, fault: Fault) -> None:
    """Reflect datagrams arriving on ``address``:6081 until SIGTERM or SIGINT."""
    local = socket.inet_aton(address)
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    receiver.bind((address, GENEVE_PORT))
    sender = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    running = True

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    receiver.settimeout(0.2)
    while running:
        try:
            payload, (peer, peer_port) = receiver.recvfrom(MAX_DATAGRAM)
        except TimeoutError:
            continue
        except InterruptedError:
            continue
        reply = reflect(
            payload, local=local, peer=socket.inet_aton(peer), peer_port=peer_port, fault=fault
        )
        try:
            sender.sendto(reply, (peer, 0))
        except OSError:
            continue  # a reflector never dies on one datagram


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m appliance.lab.reflector``."""
    parser = argparse.ArgumentParser(prog="python -m appliance.lab.reflector")
    parser.add_argument("--address", required=True, help="local address to receive GENEVE on")
    parser.add_argument(
        "--fault", choices=[f.value for f in Fault], default="none", help="break one rule"
    )
    args = parser.parse_args(argv)
    serve(args.address, Fault(args.fault))
    return 0


if __name__ == "__main__":
    sys.exit(main())
