"""Plays the GWLB for the tun-mode tests, with real clients and servers behind it.

Runs inside the GWLB namespace: packets the client and server namespaces route
through this namespace are captured by a TUN device (``appliance.lab.simulator``'s
plumbing), encapsulated per flow (``appliance.lab.gwlb``: cookie, source port,
endpoint id) and sent to the appliance; what the appliance returns is checked (from
the appliance's address, to 6081, from the flow's source port, GENEVE header byte
for byte) and the inner packet is written back to the TUN device, i.e. delivered.

Unlike the lab simulator it does not insist that the inner packet comes back
unchanged: in tun mode the kernel forwards it (TTL) and may NAT it or answer for it.

``python gwlbpeer.py --address A --appliance B --capture IF ... --status FILE``;
the status file (JSON counters) is rewritten every 0.2 s and on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
from pathlib import Path
from typing import Any

from appliance.lab.gwlb import GwlbSimulator
from appliance.lab.simulator import open_tun, setup_routing
from appliance.wire.geneve import parse_geneve


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--appliance", required=True)
    parser.add_argument("--capture", action="append", required=True)
    parser.add_argument("--status", required=True)
    parser.add_argument("--endpoint-id", type=lambda t: int(t, 0), default=0x0E1D00000000000A)
    args = parser.parse_args()
    sim = GwlbSimulator(
        address=socket.inet_aton(args.address),
        targets=[socket.inet_aton(args.appliance)],
        endpoint_id=args.endpoint_id,
    )
    tun = open_tun("gwlbpeer0")
    Path("/proc/sys/net/ipv6/conf/gwlbpeer0/addr_gen_mode").write_text("1")
    setup_routing("gwlbpeer0", args.capture, 100, 8500)
    tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind((args.address, 6081))
    counts: dict[str, Any] = {"sent": 0, "returned": 0, "delivered": 0, "bad": {}}
    running = True

    def stop(_signum: int, _frame: object) -> None:
        nonlocal running
        running = False

    def publish() -> None:
        tmp = args.status + ".tmp"
        Path(tmp).write_text(json.dumps({**counts, "flows": len(sim.flows)}))
        os.replace(tmp, args.status)

    def bad(kind: str) -> None:
        counts["bad"][kind] = counts["bad"].get(kind, 0) + 1

    signal.signal(signal.SIGTERM, stop)
    poller = select.epoll()
    poller.register(tun, select.EPOLLIN)
    poller.register(rx.fileno(), select.EPOLLIN)
    publish()
    while running:
        for fd, _ in poller.poll(0.2):
            if fd == tun:
                try:
                    inner = os.read(tun, 9000)
                except BlockingIOError:
                    continue
                out = sim.encapsulate(inner)
                if out is None:
                    continue
                tx.sendto(out.datagram, (socket.inet_ntoa(out.target), 0))
                counts["sent"] += 1
            else:
                data, (addr, port) = rx.recvfrom(9100)
                counts["returned"] += 1
                try:
                    header = parse_geneve(data, 0, len(data))
                except Exception:
                    bad("malformed")
                    continue
                flow = sim.by_cookie.get(header.cookie)
                if flow is None:
                    bad("unknown_cookie")
                elif addr != args.appliance:
                    bad("source_address")
                elif port != flow.sport:
                    bad("source_port")
                elif data[: header.length] != flow.header:
                    bad("header_changed")
                else:
                    os.write(tun, data[header.length :])
                    counts["delivered"] += 1
        publish()
    publish()


if __name__ == "__main__":
    main()
