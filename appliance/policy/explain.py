"""Why a flow gets its decision: the rules that did not match (and on what), and the one that did.

Pure; used by ``gwlbd policy explain``. It reuses the compiled matcher's
per-dimension bitsets, so the explanation is exactly what the data plane does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.policy.matcher import DIMENSIONS, CompiledPolicy
from appliance.policy.model import DOMAIN_PROTOCOLS, MidFlow
from appliance.policy.verdict import Action, Decision, FlowFacts

_ACTION_NAMES = {Action.ALLOW: "allow", Action.DROP: "drop", Action.REJECT: "reject"}


@dataclass(frozen=True, slots=True)
class RuleCheck:
    """One rule looked at, in order."""

    index: int
    rule_id: str
    action: str
    matched: bool
    failed: tuple[str, ...] = ()
    """Conditions that did not hold (``dstPort``, ``domain``...)."""
    conditions: tuple[str, ...] = ()
    """Conditions the rule has (empty: it matches everything)."""


@dataclass(frozen=True, slots=True)
class Explanation:
    """The decision and how it was reached."""

    decision: Decision
    checks: tuple[RuleCheck, ...]
    """Every rule before the deciding one, then the deciding one (if a rule decided)."""
    notes: tuple[str, ...] = field(default=())

    def lines(self, max_skipped: int = 20) -> list[str]:
        """Human-readable lines; at most ``max_skipped`` non-matching rules are listed."""
        d = self.decision
        action = _ACTION_NAMES[d.action]
        who = "the default action" if d.rule_id == "default" else f"rule {d.rule_id!r}"
        if d.pending_domain:
            head = "allow for now: a domain rule may decide once the flow names a domain"
        else:
            head = f"{action} by {who}" + (" (logged)" if d.log else "")
        out = [f"decision: {head}"]
        skipped = [c for c in self.checks if not c.matched]
        for check in skipped[:max_skipped]:
            out.append(
                f"  #{check.index} {check.rule_id} ({check.action}): no match on "
                + ", ".join(check.failed)
            )
        if len(skipped) > max_skipped:
            out.append(f"  ... and {len(skipped) - max_skipped} more rules did not match")
        for check in self.checks:
            if check.matched:
                on = ", ".join(check.conditions) if check.conditions else "no conditions"
                out.append(f"  #{check.index} {check.rule_id} ({check.action}): MATCH on {on}")
        out.extend(f"note: {note}" for note in self.notes)
        return out


def explain(policy: CompiledPolicy, facts: FlowFacts, domain: str | None = None) -> Explanation:
    """Explain the decision for a new flow with ``facts`` (and the ``domain`` it names, if any)."""
    notes: list[str] = []
    if facts.mid_flow and policy.settings.mid_flow is not MidFlow.EVALUATE:
        decision = policy.decide(facts)
        setting = policy.settings.mid_flow.value
        notes.append(f"mid-flow packet of an unknown flow: settings.midFlow is {setting}")
        return Explanation(decision, (), tuple(notes))
    decision = policy.decide(facts) if domain is None else policy.decide_domain(facts, domain)
    per_dimension = policy.dimension_bits(facts)
    free = policy.unconstrained_bits()
    domain_bits = policy.domain_bits(domain) if domain is not None else 0
    checks: list[RuleCheck] = []
    for index, rule in enumerate(policy.rules):
        bit = 1 << index
        failed = [name for name in DIMENSIONS if not per_dimension[name] & bit]
        has_domain = not free["domain"] & bit
        if has_domain and facts.protocol not in DOMAIN_PROTOCOLS:
            failed.append("domain (only TCP and UDP carry names)")
        elif has_domain and domain is None:
            if not failed:
                notes.append(
                    f"rule {rule.id!r} matches on domain: the flow waits (up to "
                    f"{policy.settings.domain_wait_packets} payload packets) for a name; without "
                    f"one: {_describe(policy.decide_without_domain(facts))}"
                )
                checks.append(
                    RuleCheck(
                        index, rule.id, _ACTION_NAMES[rule.action], False, ("domain (none yet)",)
                    )
                )
                break
            failed.append("domain")
        elif has_domain and not domain_bits & bit:
            failed.append("domain")
        conditions = tuple(name for name in (*DIMENSIONS, "domain") if not free[name] & bit)
        matched = not failed
        checks.append(
            RuleCheck(
                index, rule.id, _ACTION_NAMES[rule.action], matched, tuple(failed), conditions
            )
        )
        if matched:
            break
    return Explanation(decision, tuple(checks), tuple(notes))


def _describe(decision: Decision) -> str:
    who = "the default action" if decision.rule_id == "default" else f"rule {decision.rule_id!r}"
    return f"{_ACTION_NAMES[decision.action]} by {who}"
