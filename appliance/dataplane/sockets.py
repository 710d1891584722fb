"""The data plane's sockets: a shared UDP 6081 receiver per worker and a raw sender."""

from __future__ import annotations

import socket

from appliance.errors import DataplaneError

SOCKET_BUFFER = 16 * 1024 * 1024
"""Requested receive/send buffer size; the kernel caps it at rmem_max/wmem_max
unless we are privileged enough for SO_RCVBUFFORCE."""

IP_PKTINFO: int = getattr(socket, "IP_PKTINFO", 8)
"""Linux value; typeshed does not list it."""
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)


def _set_buffer(sock: socket.socket, force: int, plain: int, size: int) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, force, size)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, plain, size)


def open_receiver(address: str, port: int, buffer: int = SOCKET_BUFFER) -> socket.socket:
    """A non-blocking UDP socket on ``address:port`` shared between workers (SO_REUSEPORT).

    The kernel hashes each flow (GWLB varies the outer source port per flow) to one
    worker's socket. IP_PKTINFO tells us which local address each datagram was sent
    to, so the reply leaves from that address.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        _set_buffer(sock, _SO_RCVBUFFORCE, socket.SO_RCVBUF, buffer)
        sock.bind((address, port))
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise DataplaneError(f"cannot listen on udp {address}:{port}: {exc.strerror}") from exc
    return sock


def open_sender(buffer: int = SOCKET_BUFFER) -> socket.socket:
    """A raw IPv4 socket with IP_HDRINCL (IPPROTO_RAW), which never receives.

    Replies need the GWLB's source port as their source port, which a UDP socket
    bound to 6081 cannot send; so we write the outer IPv4/UDP header ourselves.
    """
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    except PermissionError as exc:
        raise DataplaneError("a raw socket needs CAP_NET_RAW (run as root)") from exc
    try:
        _set_buffer(sock, _SO_SNDBUFFORCE, socket.SO_SNDBUF, buffer)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise DataplaneError(f"cannot set up the raw sender: {exc.strerror}") from exc
    return sock
