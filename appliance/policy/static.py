"""The built-in policies used before a policy document is loaded.

:class:`StaticPolicy` is fail-open (allow all, minus a deny list);
:class:`FailClosedPolicy` drops everything (rule id ``no-policy``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from appliance.policy.verdict import ALLOW_ALL, Action, Decision, FlowFacts

_DENY = Decision(Action.DROP, "static-deny")


class StaticPolicy:
    """Allows every flow except those with an endpoint address in ``deny_cidrs``."""

    def __init__(self, deny_cidrs: Iterable[str] = (), version: str = "static") -> None:
        nets = [ipaddress.ip_network(c, strict=False) for c in deny_cidrs]
        self._v4 = [(int(n.network_address), int(n.netmask)) for n in nets if n.version == 4]
        self._v6 = [(int(n.network_address), int(n.netmask)) for n in nets if n.version == 6]
        self._version = version

    @property
    def version(self) -> str:
        return self._version

    def decide(self, facts: FlowFacts) -> Decision:
        nets = self._v4 if facts.family == 4 else self._v6
        for net, mask in nets:
            if facts.src & mask == net or facts.dst & mask == net:
                return _DENY
        return ALLOW_ALL

    def decide_domain(self, facts: FlowFacts, domain: str) -> Decision:
        return self.decide(facts)

    def decide_without_domain(self, facts: FlowFacts) -> Decision:
        return self.decide(facts)


NO_POLICY_DROP = Decision(Action.DROP, "no-policy")


class FailClosedPolicy:
    """Drops every flow: the ``fail-closed`` choice while no policy is loaded."""

    def __init__(self, version: str = "none") -> None:
        self._version = version

    @property
    def version(self) -> str:
        return self._version

    def decide(self, facts: FlowFacts) -> Decision:
        return NO_POLICY_DROP

    def decide_domain(self, facts: FlowFacts, domain: str) -> Decision:
        return NO_POLICY_DROP

    def decide_without_domain(self, facts: FlowFacts) -> Decision:
        return NO_POLICY_DROP
