"""The per-worker flow table: directional keys, counters, cached verdicts, expiry and a size bound.

A flow is stored under the directional key of each direction it has been seen in
(``appliance.wire.flowkey`` layout): the first direction maps to the :class:`Flow`
itself, the opposite direction to its :class:`ReverseHalf`. Both halves carry their
own packet and byte counters (Suricata's ``toserver``/``toclient``) and the decision,
so the packet loop does the same few attribute updates whichever way a packet goes.

Expiry and eviction share one walk over the keys (see :class:`FlowTable`), so busy
flows survive a flood of new ones and no call stalls the packet loop. Timeouts
follow the GWLB's (TCP 350 s, others 120 s) so state never expires
before the GWLB's does.

Pure: no I/O, no logging, time is passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from appliance.flows.tunnels import Tally, Tunnel
from appliance.policy.verdict import Action, Decision
from appliance.wire.flowkey import reverse_key

TCP = 6


class Flow:
    """One flow, in the direction of the first packet seen (the "to server" side)."""

    __slots__ = (
        "action",
        "attachment_id",
        "bytes",
        "cookie",
        "decision",
        "domain",
        "first_seen",
        "icmp_type",
        "index_key",
        "key",
        "last_seen",
        "mid_flow",
        "packets",
        "pending",
        "reverse",
        "tally",
        "timeout",
    )

    def __init__(
        self,
        key: bytes,
        tally: Tally,
        decision: Decision,
        *,
        attachment_id: int,
        cookie: int,
        icmp_type: int | None,
        mid_flow: bool,
        now: float,
        timeout: float,
        pending: int,
    ) -> None:
        self.key = key
        self.tally = tally
        """Where this flow's packets are counted: its tunnel's tally for its rule."""
        self.attachment_id = attachment_id
        self.cookie = cookie
        self.icmp_type = icmp_type
        self.mid_flow = mid_flow
        self.decision = decision
        self.action = int(decision.action)
        """``Action`` as a plain int, so the packet loop tests it without an enum lookup."""
        self.packets = 0
        self.bytes = 0
        self.first_seen = now
        self.last_seen = now
        self.timeout = timeout
        self.pending = pending
        """Payload packets still offered to domain rules; 0 when decided for good."""
        self.domain: str | None = None
        self.reverse: ReverseHalf | None = None
        self.index_key: bytes | None = None
        """This half's key in :attr:`FlowTable.by_header`, if it has one."""

    @property
    def idle_since(self) -> float:
        """Last time a packet was seen in either direction."""
        if self.reverse is not None and self.reverse.last_seen > self.last_seen:
            return self.reverse.last_seen
        return self.last_seen

    @property
    def tunnel(self) -> Tunnel:
        """The tunnel (GWLB endpoint) this flow arrived on."""
        return self.tally.tunnel

    def set_decision(self, decision: Decision, action: int) -> None:
        """Replace the cached decision and action on both halves; count under its rule."""
        self.decision = decision
        self.action = action
        self.tally = self.tally.tunnel.tally(decision.rule_id)
        if self.reverse is not None:
            self.reverse.action = action
            self.reverse.tally = self.tally


class ReverseHalf:
    """The opposite direction of a :class:`Flow` (the "to client" side)."""

    __slots__ = ("action", "bytes", "flow", "index_key", "last_seen", "packets", "tally")

    def __init__(self, flow: Flow, now: float) -> None:
        self.flow = flow
        self.tally = flow.tally
        self.action = flow.action
        self.packets = 0
        self.bytes = 0
        self.last_seen = now
        self.index_key: bytes | None = None


FlowHalf = Flow | ReverseHalf


@dataclass(frozen=True, slots=True)
class TableLimits:
    """Timeouts and the size bound of a flow table."""

    tcp_timeout: float = 350.0
    """Idle timeout of TCP flows, seconds (GWLB default 350; configurable 60-6000 there)."""
    other_timeout: float = 120.0
    """Idle timeout of every other protocol, seconds (GWLB: 120)."""
    max_flows: int = 1_000_000
    """Flows held before the least recently seen are evicted."""


EndCallback = Callable[[Flow, str], None]
"""Called with a flow and ``timeout`` or ``evicted`` (or ``cleared``) when it leaves the table."""


class FlowTable:
    """Directional key -> flow half, with incremental expiry and sampled LRU eviction.

    One dict holds both directions. Expiry walks a snapshot of the keys a bounded
    number at a time (:meth:`sweep`), so a million flows never stall the packet loop;
    popping from the head of a dict instead would be quadratic in CPython.
    Eviction at the size bound samples a few flows from the same walk and removes
    the least recently seen of them (approximated LRU, as Redis does).
    """

    EVICTION_SAMPLE = 8
    HEADER_INDEX_LIMIT = 1 << 16
    """Entries :attr:`by_header` holds before it starts over (about 10 MiB at most)."""

    def __init__(self, limits: TableLimits, on_end: EndCallback | None = None) -> None:
        self.limits = limits
        self.entries: dict[bytes, FlowHalf] = {}
        """Both directions' keys; the packet loop reads this dict directly."""
        self.by_header: dict[bytes, FlowHalf] = {}
        """A bounded index of busy halves by the exact leading bytes of their packets.

        The engine's fast path keys it by a datagram's GENEVE header (with the inner
        IPv4 version/IHL byte), the inner protocol and the addresses and ports: one
        lookup finds the half *and* proves the header is one already validated. It
        holds at most :attr:`HEADER_INDEX_LIMIT` entries and is emptied when full
        (halves it forgets are found by their flow key again and re-indexed); a half
        leaving the table leaves the index too.
        """
        self._on_end = on_end
        self._walk: list[bytes] = []
        self._cursor = 0
        self.count = 0
        """Flows held (forward halves)."""
        self.created = 0
        self.expired = 0
        self.evicted = 0

    def __len__(self) -> int:
        return self.count

    def timeout_for(self, protocol: int) -> float:
        """Idle timeout for a protocol number."""
        return self.limits.tcp_timeout if protocol == TCP else self.limits.other_timeout

    def add(self, flow: Flow, now: float) -> None:
        """Insert a new flow under its forward key, evicting first if the table is full."""
        while self.count >= self.limits.max_flows:
            self._evict_one()
        self.entries[flow.key] = flow
        self.count += 1
        flow.tally.tunnel.flows_active += 1
        self.created += 1

    def add_reverse(self, flow: Flow, key: bytes, now: float) -> ReverseHalf:
        """Register the opposite direction of ``flow`` under ``key``."""
        half = ReverseHalf(flow, now)
        flow.reverse = half
        self.entries[key] = half
        return half

    def index_header(self, key: bytes, half: FlowHalf) -> None:
        """Find ``half`` under ``key`` in :attr:`by_header` from now on (its only entry)."""
        index = self.by_header
        self._unindex(half)
        if len(index) >= self.HEADER_INDEX_LIMIT:
            index.clear()
        index[key] = half
        half.index_key = key

    def _unindex(self, half: FlowHalf) -> None:
        key = half.index_key
        if key is not None and self.by_header.get(key) is half:
            del self.by_header[key]
        half.index_key = None

    def remove(self, flow: Flow, reason: str = "cleared") -> None:
        """Forget a flow, both directions."""
        if self.entries.get(flow.key) is not flow:
            return
        del self.entries[flow.key]
        self._unindex(flow)
        if flow.reverse is not None:
            self.entries.pop(reverse_key(flow.key), None)
            self._unindex(flow.reverse)
        self.count -= 1
        flow.tally.tunnel.flows_active -= 1
        if self._on_end is not None:
            self._on_end(flow, reason)
        # Break the flow <-> reverse half cycle so reference counting frees both at once:
        # workers keep long-lived objects out of the cyclic collector (gc.freeze).
        flow.reverse = None

    def _next_flow(self) -> Flow | None:
        """The next live forward half of the walk, restarting it when exhausted."""
        for _ in range(2):
            while self._cursor < len(self._walk):
                key = self._walk[self._cursor]
                self._cursor += 1
                half = self.entries.get(key)
                if type(half) is Flow and half.key == key:
                    return half
            self._walk = list(self.entries)
            self._cursor = 0
        return None

    def _evict_one(self) -> None:
        victim: Flow | None = None
        for _ in range(self.EVICTION_SAMPLE):
            flow = self._next_flow()
            if flow is None:
                break
            if victim is None or flow.idle_since < victim.idle_since:
                victim = flow
        if victim is None:  # pragma: no cover - count > 0 guarantees a flow
            raise AssertionError("flow table is full but holds no flow")
        self.evicted += 1
        self.remove(victim, "evicted")

    def sweep(self, now: float, budget: int) -> int:
        """Check up to ``budget`` keys of the walk; expire idle flows. Returns flows expired."""
        expired = 0
        walk = self._walk
        if self._cursor >= len(walk):
            walk = self._walk = list(self.entries)
            self._cursor = 0
        stop = min(len(walk), self._cursor + budget)
        entries = self.entries
        for i in range(self._cursor, stop):
            half = entries.get(walk[i])
            if type(half) is Flow and now - half.idle_since >= half.timeout:
                self.expired += 1
                expired += 1
                self.remove(half, "timeout")
        self._cursor = stop
        return expired

    def clear(self, predicate: Callable[[Flow], bool]) -> int:
        """Forget every flow for which ``predicate`` is true; returns how many."""
        doomed = [f for f in self.flows() if predicate(f)]
        for flow in doomed:
            self.remove(flow, "cleared")
        return len(doomed)

    def flows(self) -> Iterator[Flow]:
        """Every flow once (forward halves)."""
        return (h for h in self.entries.values() if type(h) is Flow)


def is_denied(action: int) -> bool:
    """True for actions that stop a flow's packets."""
    return action != Action.ALLOW
