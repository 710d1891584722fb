"""The built-in policies, and that every policy satisfies the data plane's protocol."""

from __future__ import annotations

from collections.abc import Callable

from appliance.policy.compiler import compile_policy
from appliance.policy.document import parse_document
from appliance.policy.static import FailClosedPolicy, StaticPolicy
from appliance.policy.verdict import ALLOW_ALL, Action, Decision, FlowFacts, Policy

Facts = Callable[..., FlowFacts]


def test_static_policy_denies_listed_cidrs_only(facts: Facts) -> None:
    static = StaticPolicy(["198.18.0.0/24", "2001:2::/48"])
    deny = Decision(Action.DROP, "static-deny")
    assert static.decide(facts(src="198.18.0.9")) == deny
    assert static.decide_domain(facts(dst="198.18.0.9", src="203.0.113.1"), "x") == deny
    assert static.decide_without_domain(facts(src="2001:2::1", dst="2001:db8::1")) == deny
    assert static.decide(facts(src="198.18.1.9", dst="203.0.113.1")) == ALLOW_ALL


def test_fail_closed_policy_drops_everything(facts: Facts) -> None:
    closed = FailClosedPolicy()
    expected = Decision(Action.DROP, "no-policy")
    assert closed.decide(facts()) == expected
    assert closed.decide_domain(facts(), "example.com") == expected
    assert closed.decide_without_domain(facts()) == expected
    assert closed.version == "none"


def test_all_policies_satisfy_the_protocol() -> None:
    compiled = compile_policy(parse_document('apiVersion: gwlbd.policy/v1\nversion: "1"\n'))
    policies: list[Policy] = [StaticPolicy(), FailClosedPolicy(), compiled]
    assert [p.version for p in policies] == ["static", "none", "1"]
