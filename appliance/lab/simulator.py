"""The GWLB simulator process: runs in its own namespace and plays the GWLB.

Plumbing (all inside the simulator's namespace, set up through pyroute2):

- a TUN device (``--tun``) and a routing table whose default route points into it;
- one policy rule per captured interface (``--capture``, the veths to the client and
  server namespaces): ``iif <veth> lookup <table>``, so every packet the clients and
  servers send through the "GWLB" comes out of the TUN device;
- packets written back into the TUN device are routed normally, i.e. out of the veth
  towards their destination.

Each captured packet is encapsulated by :class:`appliance.lab.gwlb.GwlbSimulator` and
sent on an ``IPPROTO_RAW`` socket (so the simulator picks the outer source port per
flow) to UDP 6081 of an appliance. Returns arrive on a raw ``IPPROTO_UDP`` socket, which
shows the whole outer header; every one is checked, and only clean ones are forwarded.
A plain UDP socket bound to port 6081 swallows the kernel's copy so no ICMP port
unreachable goes back. With ``--health-port`` the appliances' ``/healthz`` is polled over
HTTP, as a GWLB target group's health check does.

Counters go to ``--status-file`` as JSON (schema ``gwlbd.labsim/v1``), rewritten
atomically every ``--status-interval`` seconds and once more on exit (SIGTERM/SIGINT).

Run::

    ip netns exec <sim-ns> python -m appliance.lab.simulator --address 198.18.0.1 \\
        --appliance 198.18.0.2 --capture v0a-client --capture v1a-server \\
        --status-file /tmp/sim.json
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import http.client
import json
import os
import selectors
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from pyroute2 import IPRoute

from appliance.lab.errors import SimulatorError
from appliance.lab.gwlb import IDLE_TIMEOUT, TCP_IDLE_TIMEOUT, GwlbSimulator
from appliance.lab.statusfile import write_status
from appliance.lab.targets import GroupSettings, TargetGroup
from appliance.wire.geneve import GENEVE_PORT, MAX_DATAGRAM

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
DEFAULT_TABLE = 100
_BATCH = 64
_RULE_PRIORITY = 1000


@dataclass
class HealthChecker:
    """Polls ``http://<target>:<port>/healthz`` of every target of the group in a thread.

    Verdicts go to :meth:`appliance.lab.targets.TargetGroup.record`, which applies the
    GWLB's threshold rules. Only this thread records health; the loop's thread changes
    which targets exist, so each round works on a snapshot of the addresses.
    """

    port: int
    group: TargetGroup
    interval: float = 1.0
    timeout: float = 1.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def check_once(self) -> None:
        """One health check of every target."""
        for address in list(self.group.targets):
            conn = http.client.HTTPConnection(address, self.port, timeout=self.timeout)
            try:
                conn.request("GET", "/healthz")
                self.group.record(address, conn.getresponse().status)
            except (OSError, http.client.HTTPException) as exc:
                self.group.record(address, None, str(exc) or type(exc).__name__)
            finally:
                conn.close()

    def run(self) -> None:
        """Check until :meth:`stop` is called."""
        while not self._stop.is_set():
            self.check_once()
            self._stop.wait(self.interval)

    def stop(self) -> None:
        """Ask :meth:`run` to return."""
        self._stop.set()


def read_targets_file(path: Path) -> tuple[GroupSettings, list[tuple[str, str]]] | None:
    """The wanted target group: settings and (address, zone) of every registered target.

    The file (JSON, written atomically by the lab) looks like
    ``{"settings": {...GroupSettings...}, "targets": [{"address": ..., "zone": "a"}]}``.

    Returns:
        None when the file is missing or not valid (the group stays as it is).
    """
    try:
        doc = json.loads(path.read_text())
        settings = GroupSettings.from_json(doc.get("settings", {}))
        targets = [(str(t["address"]), str(t.get("zone", "a"))) for t in doc["targets"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return settings, targets


def open_tun(name: str) -> int:
    """Create TUN device ``name`` (no packet info header); returns its non-blocking fd."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    except OSError as exc:
        os.close(fd)
        raise SimulatorError(f"cannot create TUN device {name}: {exc}") from exc
    return fd


def write_sysctl(key: str, value: str) -> None:
    """Write a sysctl of the current namespace."""
    Path("/proc/sys", *key.split(".")).write_text(value)


def setup_routing(tun: str, captures: Sequence[str], table: int, mtu: int) -> None:
    """Bring the TUN device up and steer traffic from ``captures`` into it.

    Raises:
        SimulatorError: netlink refused.
    """
    try:
        write_sysctl("net.ipv4.ip_forward", "1")
        write_sysctl("net.ipv6.conf.all.forwarding", "1")
        for conf in ("all", "default", tun, *captures):
            write_sysctl(f"net.ipv4.conf.{conf}.rp_filter", "0")
        with IPRoute() as ipr:
            idx = ipr.link_lookup(ifname=tun)[0]
            ipr.link("set", index=idx, mtu=mtu, state="up")
            ipr.route("add", dst="0.0.0.0", dst_len=0, oif=idx, table=table)
            ipr.route("add", dst="::", dst_len=0, oif=idx, table=table, family=socket.AF_INET6)
            for n, ifname in enumerate(captures):
                if not ipr.link_lookup(ifname=ifname):
                    raise SimulatorError(f"capture interface {ifname} does not exist")
                for family in (socket.AF_INET, socket.AF_INET6):
                    ipr.rule(
                        "add",
                        table=table,
                        priority=_RULE_PRIORITY + n,
                        iifname=ifname,
                        family=family,
                    )
    except SimulatorError:
        raise
    except Exception as exc:
        raise SimulatorError(f"cannot set up routing into {tun}: {exc}") from exc


class SimulatorProcess:
    """The simulator's sockets, TUN device and loop."""

    def __init__(
        self,
        sim: GwlbSimulator,
        *,
        tun_fd: int,
        address: str,
        status_file: Path | None,
        status_interval: float,
        health: HealthChecker | None,
        targets_file: Path | None = None,
    ) -> None:
        self.sim = sim
        self.targets_file = targets_file
        self._targets_mtime = 0
        self.tun_fd = tun_fd
        self.status_file = status_file
        self.status_interval = status_interval
        self.health = health
        self.state = "starting"
        self.running = True
        self.sender = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.receiver = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
        self.receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.receiver.setblocking(False)
        self.sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sink.bind((address, GENEVE_PORT))
        self.sink.setblocking(False)

    def stop(self, signum: int = 0, frame: FrameType | None = None) -> None:
        """Signal handler: finish the current batch and exit the loop."""
        self.running = False

    def status(self) -> dict[str, Any]:
        """The status document: simulator counters, state and target health."""
        document = self.sim.status()
        document["state"] = self.state
        document["pid"] = os.getpid()
        document["now"] = time.time()
        document["health_checked"] = self.health is not None
        return document

    def _reload_targets(self) -> None:
        """Apply the targets file when it changed; end drains whose delay is over."""
        group = self.sim.group
        if self.targets_file is not None:
            try:
                mtime = self.targets_file.stat().st_mtime_ns
            except OSError:
                mtime = 0
            if mtime and mtime != self._targets_mtime:
                wanted = read_targets_file(self.targets_file)
                if wanted is not None:
                    self._targets_mtime = mtime
                    group.settings, targets = wanted
                    group.sync(targets, time.monotonic())
        group.expire(time.monotonic())

    def _publish(self) -> None:
        if self.status_file is not None:
            write_status(self.status_file, self.status())

    def _from_tun(self) -> None:
        counters = self.sim.counters
        for _ in range(_BATCH):
            try:
                inner = os.read(self.tun_fd, MAX_DATAGRAM)
            except BlockingIOError:
                return
            out = self.sim.encapsulate(inner)
            if out is None:
                continue
            try:
                self.sender.sendto(out.datagram, (socket.inet_ntoa(out.target), 0))
                counters.sent += 1
            except OSError:
                counters.send_errors += 1

    def _from_appliances(self) -> None:
        counters = self.sim.counters
        for _ in range(_BATCH):
            try:
                datagram = self.receiver.recv(MAX_DATAGRAM + 64)
            except BlockingIOError:
                return
            violations, inner = self.sim.check_return(datagram)
            if inner is None or violations:
                continue
            try:
                os.write(self.tun_fd, inner)
                counters.forwarded += 1
            except OSError:
                counters.send_errors += 1

    def _drain_sink(self) -> None:
        for _ in range(_BATCH):
            try:
                self.sink.recv(MAX_DATAGRAM)
            except BlockingIOError:
                return

    def loop(self) -> None:
        """Move packets until :meth:`stop`; publish status periodically and at the end."""
        selector = selectors.DefaultSelector()
        selector.register(self.tun_fd, selectors.EVENT_READ, self._from_tun)
        selector.register(self.receiver, selectors.EVENT_READ, self._from_appliances)
        selector.register(self.sink, selectors.EVENT_READ, self._drain_sink)
        health_thread = None
        if self.health is not None:
            health_thread = threading.Thread(target=self.health.run, daemon=True)
            health_thread.start()
        self.state = "running"
        next_publish = 0.0
        try:
            while self.running:
                for key, _ in selector.select(timeout=0.1):
                    key.data()
                now = time.monotonic()
                if now >= next_publish:
                    self._reload_targets()
                    self.sim.expire_idle()
                    self._publish()
                    next_publish = now + self.status_interval
        finally:
            if self.health is not None and health_thread is not None:
                self.health.stop()
                health_thread.join(timeout=2)
            self.state = "stopped"
            self._publish()
            selector.close()


def _parse_id(text: str) -> int:
    return int(text, 0)


def build_parser() -> argparse.ArgumentParser:
    """Command line of ``python -m appliance.lab.simulator``."""
    parser = argparse.ArgumentParser(
        prog="python -m appliance.lab.simulator", description="Play the GWLB in a namespace."
    )
    parser.add_argument("--address", required=True, help="address the GWLB sends from")
    parser.add_argument(
        "--appliance", action="append", default=[], help="appliance address (repeatable)"
    )
    parser.add_argument(
        "--targets-file",
        type=Path,
        help="JSON target group (settings and targets), re-read when it changes",
    )
    parser.add_argument(
        "--zone",
        action="append",
        default=[],
        metavar="CIDR=ZONE",
        help="flows from/to CIDR enter through ZONE's endpoint (repeatable; default zone a)",
    )
    parser.add_argument(
        "--watch-port", type=int, action="append", default=[], help="list TCP flows to PORT"
    )
    parser.add_argument(
        "--capture", action="append", required=True, help="interface whose traffic the GWLB takes"
    )
    parser.add_argument("--tun", default="gwlbsim0", help="TUN device name")
    parser.add_argument("--table", type=int, default=DEFAULT_TABLE, help="routing table id")
    parser.add_argument("--mtu", type=int, default=8500, help="inner MTU (GWLB: 8500)")
    parser.add_argument("--endpoint-id", type=_parse_id, default=0x0E1D00000000000A)
    parser.add_argument("--attachment-id", type=_parse_id, default=0)
    parser.add_argument("--vni", type=_parse_id, default=0)
    parser.add_argument(
        "--tcp-idle-timeout", type=float, default=TCP_IDLE_TIMEOUT, help="seconds (GWLB: 350)"
    )
    parser.add_argument(
        "--idle-timeout", type=float, default=IDLE_TIMEOUT, help="non-TCP flows (GWLB: 120)"
    )
    parser.add_argument("--status-file", type=Path, help="JSON status written here")
    parser.add_argument("--status-interval", type=float, default=0.5)
    parser.add_argument("--health-port", type=int, help="poll http://<appliance>:PORT/healthz")
    parser.add_argument("--health-interval", type=float, default=1.0)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: set up the TUN plumbing and run until SIGTERM/SIGINT."""
    args = build_parser().parse_args(argv)
    try:
        group = TargetGroup()
        for address in args.appliance:
            group.register(address)
        if args.targets_file is not None:
            wanted = read_targets_file(args.targets_file)
            if wanted is not None:
                group.settings, targets = wanted
                group.sync(targets, time.monotonic())
        if not group.targets and args.targets_file is None:
            raise SimulatorError("give --appliance or --targets-file")
        zones = [tuple(spec.split("=", 1)) for spec in args.zone]
        if any(len(zone) != 2 for zone in zones):
            raise SimulatorError("--zone takes CIDR=ZONE")
        sim = GwlbSimulator(
            address=socket.inet_aton(args.address),
            targets=[],
            group=group,
            zones=[(z[0], z[1]) for z in zones],
            watch_ports=args.watch_port,
            endpoint_id=args.endpoint_id,
            attachment_id=args.attachment_id,
            vni=args.vni,
            tcp_idle_timeout=args.tcp_idle_timeout,
            idle_timeout=args.idle_timeout,
        )
        tun_fd = open_tun(args.tun)
        setup_routing(args.tun, args.capture, args.table, args.mtu)
        health = None
        if args.health_port is not None:
            health = HealthChecker(
                port=args.health_port, group=group, interval=args.health_interval
            )
        process = SimulatorProcess(
            sim,
            tun_fd=tun_fd,
            address=args.address,
            status_file=args.status_file,
            status_interval=args.status_interval,
            health=health,
            targets_file=args.targets_file,
        )
    except (SimulatorError, OSError, ValueError) as exc:
        print(f"gwlb simulator: {exc}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, process.stop)
    signal.signal(signal.SIGINT, process.stop)
    with contextlib.suppress(KeyboardInterrupt):
        process.loop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
