"""Preallocated packet buffers shared by every packet I/O implementation.

One :class:`Batch` holds ``size`` slots. Slot ``i`` is laid out so that a reply can
be sent without copying the received datagram::

    slot start                     +36                    +64
    | unused (36)                  | IPv4 + UDP header (28)| GENEVE payload, up to 8568 bytes |

Received datagrams (the UDP payload: GENEVE header + inner packet) land at +64;
the engine writes the outer IPv4/UDP header of the reply into the 28 bytes in front
of it, and the reply ``[+36, +64 + length)`` goes out on an IP_HDRINCL raw socket.
A batch switched to :meth:`Batch.kernel_ip_header` sends only ``[+56, +64 + length)``
(UDP header and payload) instead, on a raw UDP socket: the kernel writes the IPv4
header (see :func:`appliance.dataplane.sockets.open_udp_sender`).

Beside the data, the batch holds per slot the sender's ``sockaddr_in`` (16 bytes)
and the ``IP_PKTINFO`` control message (32 bytes), plus two ``mmsghdr`` arrays
(receive and send) pointing into all of that, ready for ``recvmmsg``/``sendmmsg``.
Every I/O implementation fills and reads the same layout, so the engine is the
same for the kernel, the plain fallback and the in-memory fake.
"""

from __future__ import annotations

import ctypes

MAX_DATAGRAM = 8568
"""Largest GENEVE datagram from a GWLB: 8500-byte inner packet + 68 bytes of overhead."""
HEADROOM = 64
"""Offset of the received payload in its slot."""
HEADER_AT = HEADROOM - 28
"""Offset of the reply's outer IPv4 (20) + UDP (8) header in its slot."""
SLOT = 8640
"""Slot size: HEADROOM + MAX_DATAGRAM, rounded up to a multiple of 64."""
NAME_SIZE = 16
"""sizeof(struct sockaddr_in)."""
CTRL_SIZE = 32
"""CMSG_SPACE(sizeof(struct in_pktinfo)) on 64-bit Linux."""
MMSGHDR_SIZE = 64
MSG_LEN_INDEX = 14
"""Index of ``msg_len`` in a ``mmsghdr`` viewed as 32-bit words."""
PKTINFO_ADDR_AT = 24
"""Offset, in a slot's control buffer, of ``in_pktinfo.ipi_addr`` (the header destination)."""


class Iovec(ctypes.Structure):
    """struct iovec."""

    _fields_ = (("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t))


class Msghdr(ctypes.Structure):
    """struct msghdr (x86_64 / aarch64 layout)."""

    _fields_ = (
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.c_void_p),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    )


class Mmsghdr(ctypes.Structure):
    """struct mmsghdr."""

    _fields_ = (("msg_hdr", Msghdr), ("msg_len", ctypes.c_uint32))


assert ctypes.sizeof(Mmsghdr) == MMSGHDR_SIZE, "unexpected struct mmsghdr layout"

# The reply's outer IPv4 + UDP header; the engine patches source, destination,
# source port and UDP length per packet. The kernel fills in the IPv4 total
# length, identification and checksum for IP_HDRINCL sockets (raw(7)). DF is set:
# GWLB does not fragment. UDP checksum 0 is allowed for IPv4 (RFC 768), as GWLB does.
REPLY_HEADER_TEMPLATE = (
    bytes.fromhex("450000000000400040110000") + bytes(8) + bytes.fromhex("000017c100000000")
)


class Batch:
    """The buffers and message vectors of one worker's batched receive and send."""

    def __init__(self, size: int = 64) -> None:
        if not 1 <= size <= 1024:
            raise ValueError(f"batch size must be 1..1024, got {size}")
        self.size = size
        self._data = (ctypes.c_char * (SLOT * size))()
        self._names = (ctypes.c_char * (NAME_SIZE * size))()
        self._ctrl = (ctypes.c_char * (CTRL_SIZE * size))()
        self.data = memoryview(self._data).cast("B")
        """Every slot's bytes; slot ``i`` starts at ``i * SLOT``."""
        self.names = memoryview(self._names).cast("B")
        """Sender ``sockaddr_in`` of slot ``i`` at ``i * NAME_SIZE``."""
        self.ctrl = memoryview(self._ctrl).cast("B")
        """IP_PKTINFO control message of slot ``i`` at ``i * CTRL_SIZE``."""

        self.rx_iov = (Iovec * size)()
        self.rx_msgs = (Mmsghdr * size)()
        self.tx_iov = (Iovec * size)()
        self.tx_msgs = (Mmsghdr * size)()
        base = ctypes.addressof(self._data)
        names = ctypes.addressof(self._names)
        ctrl = ctypes.addressof(self._ctrl)
        for i in range(size):
            self.rx_iov[i].iov_base = base + i * SLOT + HEADROOM
            self.rx_iov[i].iov_len = MAX_DATAGRAM
            hdr = self.rx_msgs[i].msg_hdr
            hdr.msg_name = names + i * NAME_SIZE
            hdr.msg_namelen = NAME_SIZE
            hdr.msg_iov = ctypes.addressof(self.rx_iov[i])
            hdr.msg_iovlen = 1
            hdr.msg_control = ctrl + i * CTRL_SIZE
            hdr.msg_controllen = CTRL_SIZE
            self.tx_iov[i].iov_base = base + i * SLOT + HEADER_AT
            thdr = self.tx_msgs[i].msg_hdr
            thdr.msg_name = names + i * NAME_SIZE
            thdr.msg_namelen = NAME_SIZE
            thdr.msg_iov = ctypes.addressof(self.tx_iov[i])
            thdr.msg_iovlen = 1
            off = i * SLOT + HEADER_AT
            self.data[off : off + 28] = REPLY_HEADER_TEMPLATE
        self.reply_overhead = 28
        """Bytes the reply's send vector holds in front of the payload: the IPv4 and UDP
        headers, or only the UDP header after :meth:`kernel_ip_header`."""
        self._rx_template = bytes(memoryview(self.rx_msgs).cast("B"))
        self.rx_lens = memoryview(self.rx_msgs).cast("B").cast("I")
        """``msg_len`` of slot ``i`` is ``rx_lens[i * 16 + 14]``."""
        self.tx_lens = memoryview(self.tx_iov).cast("B").cast("Q")
        """``iov_len`` of the reply in slot ``i`` is ``tx_lens[i * 2 + 1]``."""
        self.offsets = [
            (
                i,
                i * 16 + MSG_LEN_INDEX,
                i * SLOT + HEADROOM,
                i * NAME_SIZE + 2,
                i * CTRL_SIZE + PKTINFO_ADDR_AT,
                i * SLOT + HEADER_AT + 12,
                i * 2 + 1,
            )
            for i in range(size)
        ]
        """Per slot, precomputed for the packet loop: (slot, index of msg_len in ``rx_lens``,
        payload offset, sender port offset in ``names``, local address offset in ``ctrl``,
        reply header's address offset, index of the reply length in ``tx_lens``)."""

    def kernel_ip_header(self, *, source_from_pktinfo: bool) -> None:
        """Send replies from their UDP header on: the kernel writes the IPv4 header.

        Args:
            source_from_pktinfo: give each reply the IP_PKTINFO control message its
                datagram arrived with, so it leaves from the address the GWLB sent to
                (a socket listening on 0.0.0.0); otherwise the sending socket's bound
                address is the source.
        """
        base = ctypes.addressof(self._data)
        ctrl = ctypes.addressof(self._ctrl)
        for i in range(self.size):
            self.tx_iov[i].iov_base = base + i * SLOT + HEADROOM - 8
            hdr = self.tx_msgs[i].msg_hdr
            hdr.msg_control = ctrl + i * CTRL_SIZE if source_from_pktinfo else None
            hdr.msg_controllen = CTRL_SIZE if source_from_pktinfo else 0
        self.reply_overhead = 8

    def reset_rx(self) -> None:
        """Restore the receive vector (the kernel rewrites name and control lengths)."""
        ctypes.memmove(self.rx_msgs, self._rx_template, len(self._rx_template))

    def payload(self, i: int) -> memoryview:
        """The received datagram of slot ``i``."""
        start = i * SLOT + HEADROOM
        return self.data[start : start + self.rx_lens[i * 16 + MSG_LEN_INDEX]]

    def reply(self, i: int) -> bytes:
        """The reply prepared in slot ``i`` (outer IPv4 + UDP header and payload)."""
        start = i * SLOT + HEADER_AT
        return bytes(self.data[start : start + self.tx_lens[i * 2 + 1]])

    def fill(self, i: int, payload: bytes, src: bytes, sport: int, dst: bytes) -> None:
        """Place a datagram in slot ``i`` as the kernel would (for fakes and the fallback).

        Args:
            i: slot index.
            payload: the UDP payload.
            src: sender's IPv4 address, 4 bytes.
            sport: sender's UDP port.
            dst: the local address it was sent to, 4 bytes.
        """
        if len(payload) > MAX_DATAGRAM:
            payload = payload[:MAX_DATAGRAM]
        start = i * SLOT + HEADROOM
        self.data[start : start + len(payload)] = payload
        self.rx_lens[i * 16 + MSG_LEN_INDEX] = len(payload)
        n = i * NAME_SIZE
        self.names[n : n + 2] = (2).to_bytes(2, "little")  # AF_INET
        self.names[n + 2 : n + 4] = sport.to_bytes(2, "big")
        self.names[n + 4 : n + 8] = src
        c = i * CTRL_SIZE
        self.ctrl[c + PKTINFO_ADDR_AT : c + PKTINFO_ADDR_AT + 4] = dst
