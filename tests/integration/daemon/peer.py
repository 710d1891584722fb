"""Plays the GWLB for the daemon tests: sends GENEVE datagrams, reports what came back.

Run inside the GWLB's namespace: ``python peer.py SPEC.json`` where the spec lists
datagrams (hex payload, source address, source port). Prints one JSON object:
the replies, keyed by the source port they were sent from.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import time


def checksum(data: bytes) -> int:
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def outer(src: str, dst: str, sport: int, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", sport, 6081, 8 + len(payload), 0) + payload
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        0,
        0x4000,
        64,
        17,
        0,
        socket.inet_aton(src),
        socket.inet_aton(dst),
    )
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + udp


def main() -> None:
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    port_open = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    port_open.bind(("0.0.0.0", 6081))  # replies are read whole (outer header too) below
    rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
    rx.settimeout(float(spec.get("wait", 1.0)))
    tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for item in spec["datagrams"]:
        payload = bytes.fromhex(item["payload"])
        tx.sendto(outer(item["src"], spec["target"], item["sport"], payload), (spec["target"], 0))
        time.sleep(0.001)
    replies = []
    try:
        while True:
            packet = rx.recv(9100)
            ihl = (packet[0] & 0x0F) * 4
            sport, dport, _length, udp_checksum = struct.unpack_from("!HHHH", packet, ihl)
            if dport != 6081:
                continue
            replies.append(
                {
                    "from": socket.inet_ntoa(packet[12:16]),
                    "port": sport,
                    "payload": packet[ihl + 8 :].hex(),
                    "ttl": packet[8],
                    "df": bool(packet[6] & 0x40),
                    "udp_checksum": udp_checksum,
                }
            )
    except TimeoutError:
        pass
    print(json.dumps({"replies": replies}))


if __name__ == "__main__":
    main()
