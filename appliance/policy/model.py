"""The policy document as values: what :func:`~appliance.policy.document.parse_document` returns.

Addresses are kept as plain tuples ``(family, network, prefixlen)`` (a
:data:`Cidr`) rather than :mod:`ipaddress` objects: address sets hold 100,000+
entries and tuples are several times smaller and faster to build. Port ranges are
inclusive ``(low, high)`` tuples. An empty tuple in a :class:`Match` field means
"any" (the document field was absent); the parser never produces an empty list
that was written explicitly.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from appliance.policy.verdict import Action

API_VERSION = "gwlbd.policy/v1"
"""The only ``apiVersion`` this engine reads."""

Cidr = tuple[int, int, int]
"""``(family, network, prefixlen)``: family 4 or 6, network address as an int, host bits zero."""
PortRange = tuple[int, int]
"""Inclusive ``(low, high)``."""

PORT_PROTOCOLS = frozenset((6, 17, 132, 136))
"""Protocols whose flows have ports: TCP, UDP, SCTP, UDP-Lite. Port matches apply only to them."""
ICMP_PROTOCOLS = frozenset((1, 58))
"""ICMP and ICMPv6: ``icmpType`` matches apply only to them."""
DOMAIN_PROTOCOLS = frozenset((6, 17))
"""TCP and UDP: the only flows whose payloads name a domain (SNI, Host, DNS); others never
match a ``domain`` condition (and so never wait for a name)."""


class MidFlow(enum.Enum):
    """What to do with the first packet of an unknown flow that is not a flow start."""

    ALLOW = "allow"
    """Let it pass without evaluating rules (rule id ``mid-flow``); the safe choice for failover."""
    DROP = "drop"
    """Drop it (rule id ``mid-flow``); the client must reconnect."""
    EVALUATE = "evaluate"
    """Evaluate the rules as for a new flow (domain rules cannot see the handshake)."""


@dataclass(frozen=True, slots=True)
class Settings:
    """The ``settings`` block."""

    default_action: Action = Action.ALLOW
    """Action when no rule matches (``allow`` or ``drop``)."""
    default_log: bool = False
    """Log flows decided by the default action."""
    mid_flow: MidFlow = MidFlow.ALLOW
    """Handling of mid-flow packets of unknown flows (after GWLB failover)."""
    reevaluate_on_change: bool = True
    """A new policy version re-decides existing flows."""
    domain_wait_packets: int = 8
    """Payload packets a flow with a pending domain decision may send before deciding without."""


@dataclass(frozen=True, slots=True)
class Match:
    """Conditions of one rule; all given fields must match (empty tuple = any)."""

    src: tuple[Cidr, ...] = ()
    src_sets: tuple[str, ...] = ()
    dst: tuple[Cidr, ...] = ()
    dst_sets: tuple[str, ...] = ()
    protocols: tuple[int, ...] = ()
    src_ports: tuple[PortRange, ...] = ()
    dst_ports: tuple[PortRange, ...] = ()
    icmp_types: tuple[int, ...] = ()
    endpoints: tuple[int, ...] = ()
    attachments: tuple[int, ...] = ()
    domains: tuple[str, ...] = ()
    """Lowercase names without trailing dot; ``*.example.org`` matches any subdomain."""

    @property
    def has_src(self) -> bool:
        """True when the rule constrains the source address."""
        return bool(self.src or self.src_sets)

    @property
    def has_dst(self) -> bool:
        """True when the rule constrains the destination address."""
        return bool(self.dst or self.dst_sets)


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: first match wins."""

    id: str
    action: Action
    log: bool = False
    match: Match = field(default_factory=Match)
    description: str = ""


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    """A validated policy document."""

    version: str
    """The document's version label, shown in status."""
    settings: Settings
    address_sets: Mapping[str, tuple[Cidr, ...]]
    rules: tuple[Rule, ...]
    source: str = "<policy>"
    """Where the text came from (file name, ``ssm:...``, ``admin``)."""
    api_version: str = API_VERSION
