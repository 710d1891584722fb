"""Packet I/O behind one interface: batched syscalls, a plain fallback, an in-memory fake.

All three fill and read the same :class:`~appliance.dataplane.batch.Batch`, so the
engine cannot tell them apart:

- :class:`MmsgIO`: ``recvmmsg``/``sendmmsg`` through ctypes, one syscall per batch.
- :class:`PlainIO`: ``recvmsg_into``/``sendto`` per datagram, for kernels or libcs
  without the batched calls (and as a reference in tests).
- :class:`MemoryIO`: datagrams queued by a test, replies collected in a list.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

from appliance.dataplane.batch import (
    CTRL_SIZE,
    HEADER_AT,
    HEADROOM,
    MAX_DATAGRAM,
    MMSGHDR_SIZE,
    MSG_LEN_INDEX,
    NAME_SIZE,
    PKTINFO_ADDR_AT,
    SLOT,
    Batch,
)
from appliance.dataplane.sockets import IP_PKTINFO

Runs = Sequence[tuple[int, int]]
"""Contiguous slot ranges ``(first, count)`` whose prepared replies are to be sent."""

_MSG_DONTWAIT = 0x40
_MSG_WAITFORONE = 0x10000
WAIT_TIMEOUT = 0.02
"""Longest a waiting receive blocks before the worker does its housekeeping, seconds."""
_RCVTIMEO = struct.pack("ll", 0, int(WAIT_TIMEOUT * 1_000_000))
_SNDTIMEO = struct.pack("ll", 0, 50_000)  # 50 ms: a full socket buffer stalls, never hangs


class PacketIO(Protocol):
    """Receives datagrams into a batch and sends prepared replies from it."""

    batch: Batch

    def fileno(self) -> int:
        """The descriptor to wait on for readability."""
        ...

    def receive(self) -> int:
        """Fill slots ``0..n-1`` without blocking; returns ``n`` (0 when nothing waits)."""
        ...

    def send(self, runs: Runs) -> tuple[int, int]:
        """Send the replies of ``runs``; returns ``(sent, failed)``."""
        ...

    def close(self) -> None:
        """Release the sockets."""
        ...


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.recvmmsg.argtypes = (
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_void_p,
        )
        libc.sendmmsg.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int)
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def send_runs(sendmmsg: Any, fd: int, vector: int, runs: Runs) -> tuple[int, int]:
    """``sendmmsg`` each run of prepared messages; returns ``(sent, failed)``.

    Args:
        sendmmsg: libc's ``sendmmsg`` (through ctypes).
        fd: the raw socket.
        vector: address of the batch's ``mmsghdr`` send array.
        runs: ``(first slot, count)`` ranges to send.

    A message the kernel refuses (no route, buffer full past the send timeout) is
    skipped and counted; the rest of its run still goes out.
    """
    sent = failed = 0
    for run_first, run_count in runs:
        first, count = run_first, run_count
        while count > 0:
            n = sendmmsg(fd, vector + first * MMSGHDR_SIZE, count, 0)
            if n < 0:  # the message at `first` failed: skip it
                n = 0
                failed += 1
                first += 1
                count -= 1
            sent += n
            first += n
            count -= n
    return sent, failed


def send_each(sock: socket.socket, batch: Batch, runs: Runs) -> tuple[int, int]:
    """``sendto`` each prepared reply of ``runs`` on its own; returns ``(sent, failed)``.

    The fallback where libc has no ``sendmmsg``: slot ``i``'s reply starts at its outer
    IPv4 header and goes to the address in its ``sockaddr_in``.
    """
    sent = failed = 0
    for first, count in runs:
        for i in range(first, first + count):
            start = i * SLOT + HEADER_AT
            reply = batch.data[start : start + batch.tx_lens[i * 2 + 1]]
            n = i * NAME_SIZE
            dst = socket.inet_ntoa(bytes(batch.names[n + 4 : n + 8]))
            try:
                sock.sendto(reply, (dst, 0))
                sent += 1
            except OSError:
                failed += 1
    return sent, failed


def blocking_sender(sock: socket.socket) -> None:
    """Let sends on ``sock`` wait for room in its buffer, for at most 50 ms each."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _SNDTIMEO)
    sock.setblocking(True)


def libc_sendmmsg() -> Any | None:
    """libc's ``sendmmsg`` through ctypes, or None where libc lacks it."""
    return _LIBC.sendmmsg if _LIBC is not None else None


def batched_io_available() -> bool:
    """Whether this libc has recvmmsg and sendmmsg."""
    return _LIBC is not None


class MmsgIO:
    """Batched receive and send with ``recvmmsg``/``sendmmsg``."""

    def __init__(self, receiver: socket.socket, sender: socket.socket, batch: Batch) -> None:
        if _LIBC is None:
            raise OSError("recvmmsg/sendmmsg are not available")
        self._libc = _LIBC
        self._receiver = receiver
        self._sender = sender
        blocking_sender(sender)
        # The receiver blocks (bounded by SO_RCVTIMEO) only in receive_wait(); receive()
        # passes MSG_DONTWAIT, so draining never blocks.
        receiver.setblocking(True)
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _RCVTIMEO)
        self._rfd = receiver.fileno()
        self._sfd = sender.fileno()
        self.batch = batch
        self._rx = ctypes.addressof(batch.rx_msgs)
        self._tx = ctypes.addressof(batch.tx_msgs)

    def fileno(self) -> int:
        return self._rfd

    def receive(self) -> int:
        return self._receive(_MSG_DONTWAIT)

    def receive_wait(self) -> int:
        """Like :meth:`receive`, but sleep in the kernel until a datagram arrives.

        Waking straight out of ``recvmmsg`` (instead of ``epoll`` and then a receive)
        is one syscall and one wake-up less per packet at low rates; the wait ends
        after :data:`WAIT_TIMEOUT` seconds with nothing received.
        """
        return self._receive(_MSG_WAITFORONE)

    def _receive(self, flags: int) -> int:
        self.batch.reset_rx()
        n: int = self._libc.recvmmsg(self._rfd, self._rx, self.batch.size, flags, None)
        if n < 0:
            err = ctypes.get_errno()
            if err in (errno.EAGAIN, errno.EINTR):
                return 0
            raise OSError(err, os.strerror(err))
        return n

    def send(self, runs: Runs) -> tuple[int, int]:
        return send_runs(self._libc.sendmmsg, self._sfd, self._tx, runs)

    def close(self) -> None:
        self._receiver.close()
        self._sender.close()


class PlainIO:
    """One syscall per datagram, same batch layout (fallback and reference)."""

    def __init__(self, receiver: socket.socket, sender: socket.socket, batch: Batch) -> None:
        self._receiver = receiver
        self._sender = sender
        blocking_sender(sender)
        self.batch = batch

    def fileno(self) -> int:
        return self._receiver.fileno()

    def receive(self) -> int:
        batch = self.batch
        for i in range(batch.size):
            start = i * SLOT + HEADROOM
            view = batch.data[start : start + MAX_DATAGRAM]
            try:
                length, ancdata, _flags, addr = self._receiver.recvmsg_into(
                    [view], socket.CMSG_SPACE(12)
                )
            except BlockingIOError:
                return i
            local = b"\0\0\0\0"
            for level, kind, data in ancdata:
                if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= 12:
                    local = data[8:12]
            batch.rx_lens[i * 16 + MSG_LEN_INDEX] = length
            n = i * NAME_SIZE
            batch.names[n + 2 : n + 4] = addr[1].to_bytes(2, "big")
            batch.names[n + 4 : n + 8] = socket.inet_aton(addr[0])
            c = i * CTRL_SIZE
            batch.ctrl[c + PKTINFO_ADDR_AT : c + PKTINFO_ADDR_AT + 4] = local
        return batch.size

    def send(self, runs: Runs) -> tuple[int, int]:
        return send_each(self._sender, self.batch, runs)

    def close(self) -> None:
        self._receiver.close()
        self._sender.close()


class MemoryIO:
    """In-memory packet I/O for tests: queue datagrams in, read replies out."""

    def __init__(self, batch: Batch | None = None) -> None:
        self.batch = batch or Batch(16)
        self.pending: deque[tuple[bytes, bytes, int, bytes]] = deque()
        self.sent: list[tuple[bytes, bytes]] = []
        """Replies as ``(outer IPv4 + UDP + payload, destination address)``."""
        self.fail_next_sends = 0
        """Make this many upcoming sends fail (to test SEND_FAILED accounting)."""

    def fileno(self) -> int:
        return -1

    def push(self, payload: bytes, src: str, sport: int, dst: str) -> None:
        """Queue a datagram from ``src:sport`` to local address ``dst``."""
        self.pending.append((payload, socket.inet_aton(src), sport, socket.inet_aton(dst)))

    def receive(self) -> int:
        n = 0
        while self.pending and n < self.batch.size:
            payload, src, sport, dst = self.pending.popleft()
            self.batch.fill(n, payload, src, sport, dst)
            n += 1
        return n

    def send(self, runs: Runs) -> tuple[int, int]:
        sent = failed = 0
        for first, count in runs:
            for i in range(first, first + count):
                if self.fail_next_sends > 0:
                    self.fail_next_sends -= 1
                    failed += 1
                    continue
                n = i * NAME_SIZE
                self.sent.append((self.batch.reply(i), bytes(self.batch.names[n + 4 : n + 8])))
                sent += 1
        return sent, failed

    def close(self) -> None:
        self.pending.clear()
