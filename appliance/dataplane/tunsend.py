"""Senders of tun mode: re-encapsulated kernel packets from a batch to the GWLB.

:class:`RawSender` uses ``sendmmsg`` on an IP_HDRINCL raw socket (one syscall per
run of slots; ``sendto`` per slot where libc lacks it); :class:`MemorySender` is the
in-memory version tests use. Both send slots laid out as
:mod:`appliance.dataplane.batch` describes (outer header at ``HEADER_AT``).
"""

from __future__ import annotations

import ctypes
import socket
import struct
from typing import Any, Protocol

from appliance.dataplane.batch import HEADER_AT, NAME_SIZE, SLOT, Batch
from appliance.dataplane.packetio import send_runs


class ReplySender(Protocol):
    """Sends prepared slots of a batch (outer IPv4/UDP + GENEVE + packet) to the GWLB."""

    def send(self, batch: Batch, runs: list[tuple[int, int]]) -> tuple[int, int]:
        """Send ``runs`` of ``batch``; returns ``(sent, failed)``."""
        ...

    def close(self) -> None:
        """Release the socket."""
        ...


class RawSender:
    """``sendmmsg`` (or ``sendto`` per slot) on an IP_HDRINCL raw socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 0, 50_000))
        sock.setblocking(True)
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.sendmmsg.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int)
            self._sendmmsg: Any = libc.sendmmsg
        except (OSError, AttributeError):
            self._sendmmsg = None

    def send(self, batch: Batch, runs: list[tuple[int, int]]) -> tuple[int, int]:
        sent = failed = 0
        if self._sendmmsg is None:
            for first, count in runs:
                for i in range(first, first + count):
                    start = i * SLOT + HEADER_AT
                    n = i * NAME_SIZE
                    dst = socket.inet_ntoa(bytes(batch.names[n + 4 : n + 8]))
                    try:
                        self._sock.sendto(
                            batch.data[start : start + batch.tx_lens[i * 2 + 1]], (dst, 0)
                        )
                        sent += 1
                    except OSError:
                        failed += 1
            return sent, failed
        return send_runs(self._sendmmsg, self._sock.fileno(), ctypes.addressof(batch.tx_msgs), runs)

    def close(self) -> None:
        self._sock.close()


class MemorySender:
    """Collects what would be sent (tests): ``(outer datagram, destination address)``."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []

    def send(self, batch: Batch, runs: list[tuple[int, int]]) -> tuple[int, int]:
        count = 0
        for first, n in runs:
            for i in range(first, first + n):
                a = i * NAME_SIZE
                self.sent.append((batch.reply(i), bytes(batch.names[a + 4 : a + 8])))
                count += 1
        return count, 0

    def close(self) -> None:
        self.sent.clear()
