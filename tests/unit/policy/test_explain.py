"""Explanations agree with decisions and name the conditions that failed."""

from __future__ import annotations

from collections.abc import Callable

from appliance.policy.explain import explain
from appliance.policy.verdict import FlowFacts

from .conftest import PolicyFactory

Facts = Callable[..., FlowFacts]

BODY = """
settings: {defaultAction: drop, midFlow: drop}
rules:
  - {id: a, action: allow, match: {src: [203.0.113.0/24], dstPort: 443}}
  - {id: b, action: allow, match: {endpoint: "0x1", protocol: udp}}
  - {id: c, action: reject, log: true, match: {dstPort: 443}}
"""


def test_deciding_rule_and_failed_conditions(policy: PolicyFactory, facts: Facts) -> None:
    compiled = policy(BODY)
    result = explain(compiled, facts(dport=443))
    assert result.decision == compiled.decide(facts(dport=443))
    assert [(c.rule_id, c.matched, c.failed) for c in result.checks] == [
        ("a", False, ("src",)),
        ("b", False, ("protocol", "endpoint")),
        ("c", True, ()),
    ]
    assert result.checks[-1].conditions == ("dstPort",)
    assert result.lines()[0] == "decision: reject by rule 'c' (logged)"


def test_default_decision_lists_every_rule_and_truncates(
    policy: PolicyFactory, facts: Facts
) -> None:
    result = explain(policy(BODY), facts(dport=80))
    assert result.decision.rule_id == "default"
    assert all(not c.matched for c in result.checks)
    lines = result.lines(max_skipped=2)
    assert lines[0] == "decision: drop by the default action"
    assert lines[-1] == "  ... and 1 more rules did not match"


def test_mid_flow_is_explained_by_the_setting(policy: PolicyFactory, facts: Facts) -> None:
    result = explain(policy(BODY), facts(mid_flow=True))
    assert result.decision.rule_id == "mid-flow"
    assert result.checks == ()
    assert result.notes == ("mid-flow packet of an unknown flow: settings.midFlow is drop",)


def test_domain_given_and_not_matching(policy: PolicyFactory, facts: Facts) -> None:
    compiled = policy("rules:\n  - {id: w, action: allow, match: {domain: [a.example]}}\n")
    result = explain(compiled, facts(), "b.example")
    assert result.decision.rule_id == "default"
    assert result.checks[0].failed == ("domain",)
    matched = explain(compiled, facts(), "A.example")
    assert matched.checks[0].matched


def test_domain_rule_and_a_protocol_without_names(policy: PolicyFactory, facts: Facts) -> None:
    compiled = policy("rules:\n  - {id: w, action: drop, match: {domain: [a.example]}}\n")
    result = explain(compiled, facts(protocol=1, icmp_type=8))
    assert result.decision.rule_id == "default"
    assert result.checks[0].failed == ("domain (only TCP and UDP carry names)",)
