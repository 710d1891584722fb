"""Applications for the fleet lab: servers, and a client that checks every answer.

``serve`` (server namespace), on every ``--address``: HTTP on 80, a TCP echo on 443 (it
echoes a TLS ClientHello, which is all an appliance sees of TLS before its verdict),
DNS on UDP 53 (the query comes back), TCP echoes on 7007 (short connections), 7008
(long-lived connections) and 9999 (the port a policy rollout closes).

``client`` (client namespace) repeats, from every ``--source`` address (one per zone's
GWLB endpoint), until stopped:

- ``http``: ``GET /`` with ``Host: www.example.com``, expecting 200;
- ``tls``: a real ClientHello (Python's ``ssl``) naming ``www.example.com``, echoed;
- ``dns``: a query for ``www.example.com``, echoed;
- ``tcp``: a TCP echo of a random payload; ``port9999``: the same on port 9999;
- ``tls_blocked``, ``dns_blocked``, ``denied_tcp``: SNI ``blocked.example``, a query for
  ``evil.example`` and a TCP echo to ``--denied``, which the policy must stop;
- ``long``: ``--long`` connections to port 7008 opened at the start and kept, each
  echoing a message every quarter second (a break is recorded, not repaired).

Results go to ``--status-file`` (schema ``gwlbd.labapps/v1``) twice a second and at exit.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import http.server
import itertools
import os
import signal
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from appliance.lab.statusfile import write_status

STATUS_SCHEMA = "gwlbd.labapps/v1"
BLOCKED_PORTS = 1000
"""Source ports (from ``--blocked-ports``) the probes a policy must stop cycle through.

A flow's verdict is decided once and kept while the flow lives (GWLB and gwlbd: 120 s
for UDP, 350 s for TCP), so a query for a blocked name sent from a port an allowed
query used a moment ago is the same flow, and allowed. Blocked probes therefore use
ports below the kernel's ephemeral range, and each client run its own block of them,
so every such probe is a new flow with its own verdict.
"""
SHORT, LONG, CLOSED_BY_ROLLOUT = 7007, 7008, 9999
ALLOWED_NAME, BLOCKED_NAME, EVIL_NAME = "www.example.com", "blocked.example", "evil.example"


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(60)
        with contextlib.suppress(OSError):
            while data := sock.recv(65536):
                sock.sendall(data)


class _EchoUdp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        sock.sendto(data, self.client_address)


class _Http(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _TcpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def serve(addresses: list[str]) -> None:
    """Serve every application on ``addresses`` until SIGTERM."""
    servers: list[socketserver.BaseServer] = []
    for addr in addresses:
        servers.append(_TcpServer((addr, 80), _Http))
        servers += [_TcpServer((addr, p), _Echo) for p in (443, SHORT, LONG, CLOSED_BY_ROLLOUT)]
        servers.append(socketserver.UDPServer((addr, 53), _EchoUdp))
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda s, f: stop.set())
    stop.wait()


def client_hello(name: str) -> bytes:
    """The first flight of a real TLS client naming ``name`` (SNI)."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=name)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def dns_query(name: str) -> bytes:
    """A DNS query (RFC 1035) for the A record of ``name``."""
    header = struct.pack("!HHHHHH", int.from_bytes(os.urandom(2)), 0x0100, 1, 0, 0, 0)
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return header + labels + struct.pack("!HH", 1, 1)


def tcp_echo(
    source: str, addr: str, port: int, payload: bytes, timeout: float, *, sport: int = 0
) -> str | None:
    """One TCP echo round from ``source``:``sport`` (0: any); an error text, or None."""
    try:
        with socket.create_connection((addr, port), timeout, (source, sport)) as sock:
            sock.sendall(payload)
            got = b""
            while len(got) < len(payload):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                got += chunk
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if got == payload else f"echo differs: sent {len(payload)}, got {len(got)}"


def dns(source: str, addr: str, name: str, timeout: float, *, sport: int = 0) -> str | None:
    """One DNS query from ``source``:``sport`` (0: any); an error text, or None."""
    query = dns_query(name)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.bind((source, sport))
            sock.connect((addr, 53))
            sock.send(query)
            got = sock.recv(4096)
        except OSError as exc:
            return f"{type(exc).__name__}: {exc}"
    return None if got == query else "answer differs"


def http_get(source: str, addr: str, timeout: float) -> str | None:
    """``GET /`` with Host ``www.example.com``; an error text, or None on 200."""
    conn = http.client.HTTPConnection(addr, 80, timeout=timeout, source_address=(source, 0))
    try:
        conn.request("GET", "/", headers={"Host": ALLOWED_NAME})
        answer = conn.getresponse()
        answer.read()
    except (OSError, http.client.HTTPException) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
    return None if answer.status == 200 else f"HTTP {answer.status}"


class LongConnection:
    """One long-lived TCP connection that echoes a message four times a second."""

    def __init__(self, source: str, server: str, timeout: float) -> None:
        self.source, self.server, self.timeout = source, server, timeout
        self.local = ""
        self.ok = 0
        self.fail = 0
        self.broken = False
        self.error = ""
        self.last_ok = 0.0

    def run(self, stop: threading.Event) -> None:
        """Connect once, echo until ``stop`` or the connection breaks."""
        try:
            sock = socket.create_connection((self.server, LONG), self.timeout, (self.source, 0))
        except OSError as exc:
            self.broken, self.error = True, f"connect: {exc}"
            return
        host, port = sock.getsockname()[:2]
        self.local = f"{host}:{port}"
        with sock:
            while not stop.is_set():
                message = os.urandom(64)
                try:
                    sock.sendall(message)
                    got = b""
                    while len(got) < len(message):
                        chunk = sock.recv(4096)
                        if not chunk:
                            raise ConnectionResetError("closed by the peer")
                        got += chunk
                except OSError as exc:
                    self.broken, self.error = True, f"{type(exc).__name__}: {exc}"
                    self.fail += 1
                    return
                if got == message:
                    self.ok += 1
                    self.last_ok = time.time()
                else:
                    self.fail += 1
                stop.wait(0.25)

    def as_json(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {
            "local": self.local,
            "ok": self.ok,
            "fail": self.fail,
            "broken": self.broken,
            "error": self.error,
            "last_ok": self.last_ok,
        }


class AppClient:
    """Every probe loop, its tallies and the long-lived connections."""

    def __init__(
        self,
        *,
        sources: list[str],
        server: str,
        denied: str,
        long: int,
        timeout: float,
        long_timeout: float,
        blocked_ports: int = 20000,
    ) -> None:
        self.sources, self.server, self.denied = sources, server, denied
        self.timeout = timeout
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.counts: dict[str, dict[str, int]] = {}
        self.last_error: dict[str, str] = {}
        self._ports = iter(itertools.cycle(range(blocked_ports, blocked_ports + BLOCKED_PORTS)))
        self.long = [
            LongConnection(sources[n % len(sources)], server, long_timeout) for n in range(long)
        ]

    def _add(self, check: str, outcome: str, error: str | None = None) -> None:
        with self.lock:
            per = self.counts.setdefault(check, {})
            per[outcome] = per.get(outcome, 0) + 1
            if error:
                self.last_error[check] = error

    def blocked_port(self) -> int:
        """The next source port for a probe that must be stopped."""
        with self.lock:
            return next(self._ports)

    def probes(self, source: str) -> list[tuple[str, bool, Callable[[], str | None]]]:
        """(check name, must be blocked, probe) for one source address."""
        s, srv, t = source, self.server, self.timeout
        short = min(t, 1.0)
        return [
            ("http", False, lambda: http_get(s, srv, t)),
            ("tls", False, lambda: tcp_echo(s, srv, 443, client_hello(ALLOWED_NAME), t)),
            ("dns", False, lambda: dns(s, srv, ALLOWED_NAME, t)),
            ("tcp", False, lambda: tcp_echo(s, srv, SHORT, os.urandom(2048), t)),
            ("port9999", False, lambda: tcp_echo(s, srv, CLOSED_BY_ROLLOUT, b"hello", short)),
            (
                "tls_blocked",
                True,
                lambda: tcp_echo(
                    s, srv, 443, client_hello(BLOCKED_NAME), short, sport=self.blocked_port()
                ),
            ),
            ("dns_blocked", True, lambda: dns(s, srv, EVIL_NAME, short, sport=self.blocked_port())),
            (
                "denied_tcp",
                True,
                lambda: tcp_echo(
                    s, self.denied, SHORT, b"x" * 64, short, sport=self.blocked_port()
                ),
            ),
        ]

    def _loop(self, check: str, must_block: bool, probe: Callable[[], str | None]) -> None:
        while not self.stop.is_set():
            error = probe()
            if must_block:
                self._add(check, "leaked" if error is None else "blocked")
            else:
                self._add(check, "fail" if error else "ok", error)
            self.stop.wait(0.1)

    def document(self, state: str) -> dict[str, Any]:
        """The status document."""
        with self.lock:
            counts = {k: dict(v) for k, v in self.counts.items()}
            errors = dict(self.last_error)
        return {
            "schema": STATUS_SCHEMA,
            "state": state,
            "now": time.time(),
            "checks": counts,
            "last_error": errors,
            "long": [c.as_json() for c in self.long],
        }

    def run(self, status_file: Path) -> None:
        """Run until :attr:`stop` is set."""
        threads = [threading.Thread(target=c.run, args=(self.stop,)) for c in self.long]
        threads += [
            threading.Thread(target=self._loop, args=probe)
            for source in self.sources
            for probe in self.probes(source)
        ]
        for thread in threads:
            thread.daemon = True
            thread.start()
        while not self.stop.wait(0.5):
            write_status(status_file, self.document("running"))
        for thread in threads:
            thread.join(timeout=self.timeout + 1)
        write_status(status_file, self.document("finished"))


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m appliance.lab.apps serve|client``."""
    parser = argparse.ArgumentParser(prog="python -m appliance.lab.apps")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_p = sub.add_parser("serve")
    serve_p.add_argument("--address", action="append", required=True)
    client_p = sub.add_parser("client")
    client_p.add_argument("--source", action="append", required=True)
    client_p.add_argument("--server", required=True)
    client_p.add_argument("--denied", required=True)
    client_p.add_argument("--long", type=int, default=6)
    client_p.add_argument("--timeout", type=float, default=3.0, help="seconds per probe")
    client_p.add_argument(
        "--long-timeout",
        type=float,
        default=10.0,
        help="seconds a long-lived connection waits for an echo (rides out a failover)",
    )
    client_p.add_argument("--status-file", type=Path, required=True)
    client_p.add_argument(
        "--blocked-ports",
        type=int,
        default=20000,
        help=f"first of {BLOCKED_PORTS} source ports for probes that must be stopped",
    )
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.address)
        return 0
    client = AppClient(
        sources=args.source,
        server=args.server,
        denied=args.denied,
        long=args.long,
        timeout=args.timeout,
        long_timeout=args.long_timeout,
        blocked_ports=args.blocked_ports,
    )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        client.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    client.run(args.status_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
