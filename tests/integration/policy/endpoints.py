"""Servers and probes for the policy end-to-end test (run inside the lab's namespaces).

``endpoints.py serve ADDR``: TCP echo on 443, 8443 and 9999, DNS-ish UDP echo on 53.
``endpoints.py probe KIND ADDR [NAME]``: prints ``ok`` or ``blocked``; KIND is
``tcp`` (connect to 9999 and echo), ``tls`` (a real ClientHello naming NAME to 443),
``dns`` (a query for NAME to 53).
"""

from __future__ import annotations

import socket
import socketserver
import sys
import threading

from appliance.lab.apps import client_hello, dns_query


class Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data = self.request.recv(4096)
        if data:
            self.request.sendall(data)


class EchoUdp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        sock.sendto(data, self.client_address)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def serve(addr: str) -> None:
    servers: list[socketserver.BaseServer] = [Server((addr, p), Echo) for p in (443, 8443, 9999)]
    servers.append(socketserver.UDPServer((addr, 53), EchoUdp))
    for srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    threading.Event().wait()


def probe(kind: str, addr: str, name: str) -> str:
    try:
        if kind == "dns":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(1.5)
                query = dns_query(name)
                sock.sendto(query, (addr, 53))
                return "ok" if sock.recv(4096) == query else "garbled"
        port, payload = (443, client_hello(name)) if kind == "tls" else (9999, b"hello")
        with socket.create_connection((addr, port), timeout=1.5) as sock:
            sock.sendall(payload)
            got = b""
            while len(got) < len(payload):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                got += chunk
            return "ok" if got == payload else "garbled"
    except OSError:
        return "blocked"


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        print(probe(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else ""))
