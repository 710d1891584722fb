"""Tunnels: one per GWLB endpoint (GWLBE ENI id), created on its first packet.

A tunnel's counters are kept in :class:`Tally` objects, one per policy rule that
decided flows of the tunnel. A flow holds a reference to its tally, so the packet
loop updates one small object per packet and gets both the per-tunnel totals and
the per-rule hit counters from it (each is a sum over tallies, taken only when a
snapshot is made). Each worker keeps its own registry; the supervisor adds the
workers' snapshots up. Pure: no I/O, time is passed in.
"""

from __future__ import annotations

from collections.abc import Iterator

UNDECIDED = ""
"""Tally key for packets of a tunnel that never reached a flow (malformed inner packet)."""


class Tally:
    """Packets, bytes and drops of one tunnel's flows decided by one rule."""

    __slots__ = ("bytes", "dropped_bytes", "drops", "last_packet", "packets", "rule_id", "tunnel")

    def __init__(self, tunnel: Tunnel, rule_id: str) -> None:
        self.tunnel = tunnel
        self.rule_id = rule_id
        self.packets = 0
        self.bytes = 0
        self.drops = 0
        """Packets counted here that were not returned (policy)."""
        self.dropped_bytes = 0
        """Their bytes."""
        self.last_packet = 0.0


class Tunnel:
    """One GWLB endpoint as seen by one worker."""

    __slots__ = ("attachments", "endpoint_id", "flows_active", "tallies")

    def __init__(self, endpoint_id: int) -> None:
        self.endpoint_id = endpoint_id
        self.flows_active = 0
        self.attachments: set[int] = set()
        self.tallies: dict[str, Tally] = {}

    def tally(self, rule_id: str) -> Tally:
        """The tally of ``rule_id`` in this tunnel, created on first use."""
        tally = self.tallies.get(rule_id)
        if tally is None:
            tally = self.tallies[rule_id] = Tally(self, rule_id)
        return tally

    @property
    def packets_in(self) -> int:
        """Packets received from the GWLB on this tunnel."""
        return sum(t.packets for t in self.tallies.values())

    @property
    def bytes_in(self) -> int:
        """Bytes (GENEVE datagram sizes) received on this tunnel."""
        return sum(t.bytes for t in self.tallies.values())

    @property
    def drops(self) -> int:
        """Packets of this tunnel that were not returned."""
        return sum(t.drops for t in self.tallies.values())

    @property
    def dropped_bytes(self) -> int:
        """Bytes of the packets of this tunnel that were not returned."""
        return sum(t.dropped_bytes for t in self.tallies.values())

    @property
    def last_packet(self) -> float:
        """Time of the last packet, 0.0 before the first."""
        return max((t.last_packet for t in self.tallies.values()), default=0.0)


class TunnelRegistry:
    """Endpoint id -> :class:`Tunnel`, with idle expiry of tunnels that hold no flow."""

    def __init__(self, idle_timeout: float = 3600.0) -> None:
        self.idle_timeout = idle_timeout
        self.by_endpoint: dict[int, Tunnel] = {}

    def get(self, endpoint_id: int) -> Tunnel:
        """The tunnel of ``endpoint_id``, created on first use."""
        tunnel = self.by_endpoint.get(endpoint_id)
        if tunnel is None:
            tunnel = self.by_endpoint[endpoint_id] = Tunnel(endpoint_id)
        return tunnel

    def expire(self, now: float) -> list[Tunnel]:
        """Forget tunnels with no flows and no packet for ``idle_timeout``; returns them."""
        gone = [
            t
            for t in self.by_endpoint.values()
            if t.flows_active == 0 and now - t.last_packet >= self.idle_timeout
        ]
        for t in gone:
            del self.by_endpoint[t.endpoint_id]
            t.tallies.clear()  # tally -> tunnel back references: free without the cyclic GC
        return gone

    def __iter__(self) -> Iterator[Tunnel]:
        return iter(self.by_endpoint.values())

    def __len__(self) -> int:
        return len(self.by_endpoint)
