"""Real traffic for the lab: echo servers and a client that checks every answer.

``serve`` (server namespace) answers TCP and UDP on ``--port`` of every ``--address``
with what it received.
``client`` (client namespace) keeps these loops busy, for every ``--server`` (IPv4 or
IPv6), until ``--duration`` ends or it is told to stop (SIGTERM/SIGINT):

- TCP: connect, send a random payload (up to 32 KiB), read it back, compare;
- UDP: send a random datagram (up to 8000 bytes), wait for the echo, compare;
- ICMP: ``ping -c 1`` to the server;
- denied: the same three against every ``--denied`` address, which the appliance's
  policy must drop; any answer is a leak.

Checks are named ``tcp``, ``udp``, ``icmp`` (IPv4), ``tcp6``... (IPv6) and
``denied_tcp``, ``denied_tcp6``...

Results go to ``--status-file`` as JSON (schema ``gwlbd.labtraffic/v1``), rewritten
atomically every half second and at exit.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from appliance.lab.statusfile import write_status

STATUS_SCHEMA = "gwlbd.labtraffic/v1"
DEFAULT_PORT = 7007
_MAX_TCP_PAYLOAD = 32 * 1024
_MAX_UDP_PAYLOAD = 8000
_KINDS = ("tcp", "udp", "icmp")


class _EchoTcp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(10)
        try:
            while data := sock.recv(65536):
                sock.sendall(data)
        except OSError:
            return


class _EchoUdp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        sock.sendto(data, self.client_address)


class _TcpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class _TcpServer6(_TcpServer):
    address_family = socket.AF_INET6


class _UdpServer6(socketserver.UDPServer):
    address_family = socket.AF_INET6


def serve(addresses: list[str], port: int) -> None:
    """Echo TCP and UDP on ``addresses`` until SIGTERM/SIGINT.

    Each address gets its own sockets so that every answer leaves from the address the
    question was sent to (a wildcard UDP socket would let the kernel pick the source).
    """
    servers: list[socketserver.BaseServer] = []
    for addr in addresses:
        if ":" in addr:
            servers += [_TcpServer6((addr, port), _EchoTcp), _UdpServer6((addr, port), _EchoUdp)]
        else:
            servers += [
                _TcpServer((addr, port), _EchoTcp),
                socketserver.UDPServer((addr, port), _EchoUdp),
            ]
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    stop.wait()
    for server in servers:
        server.shutdown()
        server.server_close()


class Tally:
    """Thread-safe counts of outcomes per check."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, dict[str, int]] = {}
        self.last_error: dict[str, str] = {}

    def add(self, check: str, outcome: str, error: str | None = None) -> None:
        """Count one ``outcome`` (``ok``/``fail``, ``blocked``/``leaked``) of ``check``."""
        with self._lock:
            per_check = self.counts.setdefault(check, {})
            per_check[outcome] = per_check.get(outcome, 0) + 1
            if error is not None:
                self.last_error[check] = error

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        with self._lock:
            return {
                "checks": {k: dict(v) for k, v in self.counts.items()},
                "last_error": dict(self.last_error),
            }


def tcp_echo(addr: str, port: int, size: int, timeout: float) -> str | None:
    """One TCP echo round; returns an error text, None on success."""
    payload = os.urandom(size)
    try:
        with socket.create_connection((addr, port), timeout=timeout) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    got = b"".join(chunks)
    return None if got == payload else f"echo differs: sent {size} bytes, got {len(got)}"


def udp_echo(addr: str, port: int, size: int, timeout: float) -> str | None:
    """One UDP request/response; returns an error text, None on success."""
    payload = os.urandom(size)
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((addr, port))  # answers from any other address are not accepted
            sock.send(payload)
            got = sock.recv(65536)
        except OSError as exc:
            return f"{type(exc).__name__}: {exc}"
    return None if got == payload else f"echo differs: sent {size} bytes, got {len(got)}"


def ping(addr: str, timeout: float) -> str | None:
    """One ICMP echo with the system ``ping``; returns an error text, None on success."""
    result = subprocess.run(
        ["ping", "-n", "-q", "-c", "1", "-W", str(max(1, round(timeout))), addr],
        capture_output=True,
        text=True,
        check=False,
    )
    return None if result.returncode == 0 else f"ping exited {result.returncode}"


def check_name(kind: str, addr: str) -> str:
    """Name of a check: ``tcp`` for IPv4, ``tcp6`` for IPv6, ``denied_tcp``..."""
    return f"{kind}6" if ":" in addr else kind


class TrafficClient:
    """Runs the check loops against servers and addresses that must be denied.

    Args:
        servers: addresses answering the echo service (IPv4 and/or IPv6).
        denied: addresses the appliance must not let through.
        port: the echo service's TCP and UDP port.
        timeout: seconds allowed for one answer.
        rng: picks payload sizes.
    """

    def __init__(
        self,
        *,
        servers: list[str],
        denied: list[str],
        port: int,
        timeout: float,
        rng: random.Random,
    ) -> None:
        self.servers = servers
        self.denied = denied
        self.port = port
        self.timeout = timeout
        self.rng = rng
        self.tally = Tally()
        self.stop = threading.Event()

    def _repeat(self, step: Callable[[], None], pause: float) -> None:
        while not self.stop.is_set():
            step()
            self.stop.wait(pause)

    def _tcp(self, addr: str) -> None:
        error = tcp_echo(addr, self.port, self.rng.randint(1, _MAX_TCP_PAYLOAD), self.timeout)
        self.tally.add(check_name("tcp", addr), "fail" if error else "ok", error)

    def _udp(self, addr: str) -> None:
        error = udp_echo(addr, self.port, self.rng.randint(1, _MAX_UDP_PAYLOAD), self.timeout)
        self.tally.add(check_name("udp", addr), "fail" if error else "ok", error)

    def _icmp(self, addr: str) -> None:
        error = ping(addr, self.timeout)
        self.tally.add(check_name("icmp", addr), "fail" if error else "ok", error)

    def _denied_probe(self, kind: str, addr: str) -> None:
        short = min(self.timeout, 1.0)
        if kind == "tcp":
            error = tcp_echo(addr, self.port, 64, short)
        elif kind == "udp":
            error = udp_echo(addr, self.port, 64, short)
        else:
            error = ping(addr, short)
        self.tally.add(check_name(f"denied_{kind}", addr), "blocked" if error else "leaked")

    def loops(self) -> list[tuple[Callable[[], None], float]]:
        """Every (step, pause) pair the client repeats."""
        loops: list[tuple[Callable[[], None], float]] = []
        for addr in self.servers:
            loops += [
                (functools.partial(self._tcp, addr), 0.05),
                (functools.partial(self._udp, addr), 0.05),
                (functools.partial(self._icmp, addr), 0.2),
            ]
        for addr in self.denied:
            loops += [(functools.partial(self._denied_probe, k, addr), 0.1) for k in _KINDS]
        return loops

    def run(self, duration: float | None, status_file: Path | None) -> dict[str, Any]:
        """Run every loop until ``duration`` passes or :attr:`stop` is set."""
        threads = [
            threading.Thread(target=self._repeat, args=loop, daemon=True) for loop in self.loops()
        ]
        for thread in threads:
            thread.start()
        deadline = None if duration is None else time.monotonic() + duration
        while not self.stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                self.stop.set()
                break
            if status_file is not None:
                write_status(status_file, self._document("running"))
            self.stop.wait(0.5)
        for thread in threads:
            thread.join(timeout=self.timeout * 4 + 5)
        document = self._document("finished")
        if status_file is not None:
            write_status(status_file, document)
        return document

    def _document(self, state: str) -> dict[str, Any]:
        return {
            "schema": STATUS_SCHEMA,
            "state": state,
            "now": time.time(),
            **self.tally.snapshot(),
        }


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m appliance.lab.traffic serve|client``."""
    parser = argparse.ArgumentParser(prog="python -m appliance.lab.traffic")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_p = sub.add_parser("serve", help="echo TCP and UDP")
    serve_p.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve_p.add_argument("--address", action="append", required=True, help="repeatable")
    client_p = sub.add_parser("client", help="drive and check traffic")
    client_p.add_argument("--server", action="append", required=True, help="repeatable")
    client_p.add_argument("--denied", action="append", default=[], help="repeatable")
    client_p.add_argument("--port", type=int, default=DEFAULT_PORT)
    client_p.add_argument("--duration", type=float)
    client_p.add_argument("--timeout", type=float, default=3.0)
    client_p.add_argument("--status-file", type=Path)
    client_p.add_argument("--seed", type=int)
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.address, args.port)
        return 0
    client = TrafficClient(
        servers=args.server,
        denied=args.denied,
        port=args.port,
        timeout=args.timeout,
        rng=random.Random(args.seed),  # noqa: S311 - payload sizes, not secrets
    )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        client.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    client.run(args.duration, args.status_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
