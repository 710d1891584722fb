"""Senders of tun mode: re-encapsulated kernel packets from a batch to the GWLB.

:class:`RawSender` uses ``sendmmsg`` on an IP_HDRINCL raw socket (one syscall per
run of slots; ``sendto`` per slot where libc lacks it); :class:`MemorySender` is the
in-memory version tests use. Both send slots laid out as
:mod:`appliance.dataplane.batch` describes (outer header at ``HEADER_AT``).
"""

from __future__ import annotations

import ctypes
import socket
from typing import Protocol

from appliance.dataplane.batch import NAME_SIZE, Batch
from appliance.dataplane.packetio import blocking_sender, libc_sendmmsg, send_each, send_runs


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
        blocking_sender(sock)
        self._sendmmsg = libc_sendmmsg()

    def send(self, batch: Batch, runs: list[tuple[int, int]]) -> tuple[int, int]:
        if self._sendmmsg is None:
            return send_each(self._sock, batch, runs)
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
