"""Explain a flow against a policy document: which rule decides it, and why.

Uses the appliance's own policy engine (``appliance.policy``: parse, compile,
decide), so the answer is the one the data plane would give for a new flow.
Pure: the caller reads the document text.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from appliance.policy.compiler import compile_policy
from appliance.policy.document import parse_document
from appliance.policy.errors import PolicyError
from appliance.policy.matcher import CompiledPolicy
from appliance.policy.values import parse_hex_id, parse_protocol
from appliance.policy.verdict import Decision, FlowFacts
from tui.errors import TuiError


class ExplainError(TuiError):
    """The policy document or the flow given to explain is invalid."""


@dataclass(frozen=True, slots=True)
class FlowQuestion:
    """A flow as the operator types it into the explain form."""

    src: str
    dst: str
    protocol: str = "tcp"
    sport: str = "0"
    dport: str = "0"
    domain: str = ""
    endpoint: str = "0x0"


@dataclass(frozen=True, slots=True)
class Explanation:
    """The policy's answer for one flow."""

    version: str
    decision: Decision
    """The decision for the flow's first packet."""
    domain_decision: Decision | None
    """When the first decision waits for a domain: the decision once ``domain`` is seen."""

    def text(self) -> str:
        """One line per decision, naming the deciding rule."""
        first = self.decision
        lines = [
            f"policy {self.version}: {first.action.name.lower()} by rule {first.rule_id}"
            + (" (waits for a domain name)" if first.pending_domain else "")
        ]
        if self.domain_decision is not None:
            d = self.domain_decision
            lines.append(f"with the domain: {d.action.name.lower()} by rule {d.rule_id}")
        return "\n".join(lines)


def load_policy(text: str, source: str) -> CompiledPolicy:
    """Parse and compile a policy document.

    Raises:
        ExplainError: the document is invalid (one problem per line).
    """
    try:
        return compile_policy(parse_document(text, source=source))
    except PolicyError as exc:
        raise ExplainError(str(exc)) from exc


def _number(text: str, what: str, high: int) -> int:
    value = text.strip() or "0"
    if not value.isdigit() or int(value) > high:
        raise ExplainError(f"{what}: expected 0-{high}, got {text!r}")
    return int(value)


def facts_of(question: FlowQuestion) -> FlowFacts:
    """Turn the form into :class:`FlowFacts`.

    Raises:
        ExplainError: naming the first invalid field.
    """
    try:
        src = ipaddress.ip_address(question.src.strip())
        dst = ipaddress.ip_address(question.dst.strip())
    except ValueError as exc:
        raise ExplainError(f"address: {exc}") from exc
    if src.version != dst.version:
        raise ExplainError("source and destination must be the same family")
    try:
        protocol = parse_protocol(question.protocol.strip() or "tcp")
        endpoint = parse_hex_id(question.endpoint.strip() or "0x0")
    except ValueError as exc:
        raise ExplainError(str(exc)) from exc
    icmp = protocol in (1, 58)
    return FlowFacts(
        family=src.version,
        src=int(src),
        dst=int(dst),
        protocol=protocol,
        sport=0 if icmp else _number(question.sport, "source port", 65535),
        dport=_number(question.dport, "destination port", 65535),
        icmp_type=8 if icmp else None,
        endpoint_id=endpoint,
        attachment_id=0,
    )


def explain(policy: CompiledPolicy, question: FlowQuestion) -> Explanation:
    """Decide ``question`` with ``policy``.

    Raises:
        ExplainError: the question is invalid.
    """
    facts = facts_of(question)
    decision = policy.decide(facts)
    domain_decision = None
    domain = question.domain.strip()
    if decision.pending_domain:
        domain_decision = (
            policy.decide_domain(facts, domain) if domain else policy.decide_without_domain(facts)
        )
    return Explanation(policy.version, decision, domain_decision)
