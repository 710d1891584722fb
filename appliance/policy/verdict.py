"""The contract between the data plane and any policy: facts in, a decision out.

The data plane builds :class:`FlowFacts` once per new flow (in the direction of
the first packet it saw), asks :meth:`Policy.decide`, and caches the
:class:`Decision` on the flow. Packets of known flows never reach the policy,
except flows whose decision is ``pending_domain``: their payloads are offered
to :meth:`Policy.decide_domain` until a name is seen, or to
:meth:`Policy.decide_without_domain` once the bound (``domainWaitPackets``
payload packets without a name) is reached.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class Action(enum.IntEnum):
    """What happens to a flow's packets."""

    ALLOW = 0
    DROP = 1
    REJECT = 2
    """Drop, and answer the sender with a TCP RST or ICMP unreachable through the tunnel."""


@dataclass(frozen=True, slots=True)
class FlowFacts:
    """What a policy may look at when a flow starts."""

    family: int
    """4 or 6."""
    src: int
    """Source address of the first packet, as an integer."""
    dst: int
    """Destination address of the first packet, as an integer."""
    protocol: int
    """IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...)."""
    sport: int
    """Source port; 0 when the protocol has none."""
    dport: int
    """Destination port; for ICMP echo the identifier; 0 when none."""
    icmp_type: int | None
    """ICMP/ICMPv6 type for ICMP flows, else None."""
    endpoint_id: int
    """GWLB endpoint (GWLBE ENI) id from GENEVE option type 1."""
    attachment_id: int
    """Attachment id from GENEVE option type 2 (0 when unused)."""
    mid_flow: bool = False
    """True when the first packet seen is not a flow start (e.g. TCP without SYN)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """A policy's answer for one flow."""

    action: Action
    rule_id: str
    """The rule that decided, or ``default`` / ``no-policy`` / ``mid-flow``."""
    log: bool = False
    """Write a flow log record for this flow."""
    pending_domain: bool = False
    """Domain rules may still change the decision once a name is seen in the payload."""


ALLOW_ALL = Decision(Action.ALLOW, "default")


class Policy(Protocol):
    """A compiled, immutable policy snapshot, safe to swap between batches."""

    @property
    def version(self) -> str:
        """Version label of the document this snapshot was compiled from."""
        ...

    def decide(self, facts: FlowFacts) -> Decision:
        """Decide a new flow from its first packet."""
        ...

    def decide_domain(self, facts: FlowFacts, domain: str) -> Decision:
        """Decide a pending flow once its payload names a domain (SNI, Host, DNS qname)."""
        ...

    def decide_without_domain(self, facts: FlowFacts) -> Decision:
        """Decide a pending flow whose payloads named no domain within the wait bound."""
        ...
