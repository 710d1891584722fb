"""The data plane's sockets: a shared UDP 6081 receiver per worker and a raw sender."""

from __future__ import annotations

import contextlib
import socket

from appliance.errors import DataplaneError

SOCKET_BUFFER = 16 * 1024 * 1024
"""Requested receive/send buffer size; the kernel caps it at rmem_max/wmem_max
unless we are privileged enough for SO_RCVBUFFORCE."""

IP_PKTINFO: int = getattr(socket, "IP_PKTINFO", 8)
"""Linux value; typeshed does not list it."""
_IP_MTU_DISCOVER = getattr(socket, "IP_MTU_DISCOVER", 10)
_IP_PMTUDISC_DO = getattr(socket, "IP_PMTUDISC_DO", 2)
REPLY_TTL = 64
"""TTL of the outer IPv4 header of replies (as in the IP_HDRINCL template)."""
_NOBODY = "127.0.0.1"
"""What the UDP sender connects to, so that the kernel hands it no copies of input."""
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


def _raw_socket(protocol: int) -> socket.socket:
    try:
        return socket.socket(socket.AF_INET, socket.SOCK_RAW, protocol)
    except PermissionError as exc:
        raise DataplaneError("a raw socket needs CAP_NET_RAW (run as root)") from exc


def open_sender(buffer: int = SOCKET_BUFFER) -> socket.socket:
    """A raw IPv4 socket with IP_HDRINCL (IPPROTO_RAW), which never receives.

    Replies need the GWLB's source port as their source port, which a UDP socket
    bound to 6081 cannot send; so we write the outer IPv4/UDP header ourselves.
    """
    sock = _raw_socket(socket.IPPROTO_RAW)
    try:
        _set_buffer(sock, _SO_SNDBUFFORCE, socket.SO_SNDBUF, buffer)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise DataplaneError(f"cannot set up the raw sender: {exc.strerror}") from exc
    return sock


def open_udp_sender(listen: str, buffer: int = SOCKET_BUFFER) -> socket.socket:
    """A raw IPv4 socket for UDP without IP_HDRINCL: we write the UDP header, the kernel IPv4.

    Cheaper per packet than IP_HDRINCL: the kernel caches the route to the GWLB node
    instead of building one per packet (it does not for header-included packets to a
    directly connected node), which is most of the reply path's kernel time. The IPv4
    header it writes is the one the GWLB expects: DF set (path MTU discovery "do",
    GWLB never fragments), TTL :data:`REPLY_TTL`, the source either this socket's
    address (``listen``, when it is not 0.0.0.0) or the one an IP_PKTINFO control
    message gives per reply (see :meth:`~appliance.dataplane.batch.Batch.kernel_ip_header`).

    A raw UDP socket would also receive a copy of every UDP datagram; connecting it to
    the loopback address, which no GWLB datagram comes from, stops that. (Sending to
    other addresses stays possible: raw sockets take a destination per message.)
    """
    sock = _raw_socket(socket.IPPROTO_UDP)
    try:
        _set_buffer(sock, _SO_SNDBUFFORCE, socket.SO_SNDBUF, buffer)
        sock.setsockopt(socket.IPPROTO_IP, _IP_MTU_DISCOVER, _IP_PMTUDISC_DO)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, REPLY_TTL)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 0)
        sock.bind((listen, 0))
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise DataplaneError(f"cannot set up the UDP sender on {listen}: {exc.strerror}") from exc
    # Without a loopback route (a bare namespace) the copies are queued and dropped: harmless.
    with contextlib.suppress(OSError):
        sock.connect((_NOBODY, 0))
    return sock
