"""Every match kind and action of the compiled policy, one behaviour per test."""

from __future__ import annotations

import pickle
from collections.abc import Callable

import pytest

from appliance.policy.matcher import PENDING_DOMAIN
from appliance.policy.verdict import Action, Decision, FlowFacts

from .conftest import PolicyFactory

Facts = Callable[..., FlowFacts]


def test_empty_policy_uses_default_action(policy: PolicyFactory, facts: Facts) -> None:
    compiled = policy("settings: {defaultAction: drop, defaultLog: true}\nrules: []\n")
    assert compiled.decide(facts()) == Decision(Action.DROP, "default", log=True)


@pytest.mark.parametrize(
    ("action", "expected"),
    [("allow", Action.ALLOW), ("drop", Action.DROP), ("reject", Action.REJECT)],
)
def test_each_action_is_returned_with_rule_id_and_log(
    policy: PolicyFactory, facts: Facts, action: str, expected: Action
) -> None:
    compiled = policy(
        f"settings: {{defaultAction: allow}}\n"
        f"rules:\n  - {{id: r, action: {action}, log: true, match: {{dstPort: 443}}}}\n"
    )
    assert compiled.decide(facts(dport=443)) == Decision(expected, "r", log=True)
    assert compiled.decide(facts(dport=80)) == Decision(Action.ALLOW, "default")


def test_first_match_wins(policy: PolicyFactory, facts: Facts) -> None:
    compiled = policy(
        """
        rules:
          - {id: first, action: allow, match: {dst: [198.19.0.0/24]}}
          - {id: second, action: drop, match: {dst: [198.19.0.0/16]}}
        """
    )
    assert compiled.decide(facts(dst="198.19.0.20")).rule_id == "first"
    assert compiled.decide(facts(dst="198.19.1.20")).rule_id == "second"


@pytest.mark.parametrize(
    ("cidr", "address", "hit"),
    [
        ("198.18.0.0/15", "198.19.255.255", True),
        ("198.18.0.0/15", "198.20.0.0", False),
        ("198.18.0.7", "198.18.0.7", True),
        ("198.18.0.7", "198.18.0.8", False),
        ("0.0.0.0/0", "203.0.113.1", True),
        ("2001:2::/48", "2001:2::1", True),
        ("2001:2::/48", "2001:2:1::1", False),
        ("2001:2::/48", "198.18.0.1", False),
        ("::/0", "198.18.0.1", False),
    ],
)
def test_source_and_destination_cidrs(
    policy: PolicyFactory, facts: Facts, cidr: str, address: str, hit: bool
) -> None:
    other = "2001:2:ffff::9" if ":" in address else "203.0.113.200"
    by_src = policy(f'rules:\n  - {{id: r, action: drop, match: {{src: ["{cidr}"]}}}}\n')
    by_dst = policy(f'rules:\n  - {{id: r, action: drop, match: {{dst: ["{cidr}"]}}}}\n')
    assert (by_src.decide(facts(src=address, dst=other)).rule_id == "r") is hit
    assert (by_dst.decide(facts(src=other, dst=address)).rule_id == "r") is hit


def test_address_set_reference_on_both_sides(policy: PolicyFactory, facts: Facts) -> None:
    compiled = policy(
        """
        addressSets:
          bad: [203.0.113.0/24, "2001:2:bad::/48", 198.51.100.7]
        rules:
          - {id: from-bad, action: drop, match: {src: ["@bad"]}}
          - {id: to-bad, action: reject, match: {dst: ["@bad", 192.0.2.0/24]}}
        """
    )
    assert compiled.decide(facts(src="203.0.113.9")).rule_id == "from-bad"
    assert compiled.decide(facts(dst="198.51.100.7")).rule_id == "to-bad"
    assert compiled.decide(facts(dst="192.0.2.1")).rule_id == "to-bad"
    assert compiled.decide(facts(src="2001:2::1", dst="2001:2:bad::1")).rule_id == "to-bad"
    assert compiled.decide(facts(dst="198.51.100.8")).rule_id == "default"


def test_nested_prefixes_in_a_set_and_literals(policy: PolicyFactory, facts: Facts) -> None:
    compiled = policy(
        """
        addressSets:
          s: [198.18.0.0/16, 198.18.5.0/24, 198.18.5.5]
        rules:
          - {id: narrow, action: drop, match: {dst: [198.18.5.0/24]}}
          - {id: wide, action: allow, match: {dst: ["@s"]}}
        """
    )
    assert compiled.decide(facts(dst="198.18.5.5")).rule_id == "narrow"
    assert compiled.decide(facts(dst="198.18.6.5")).rule_id == "wide"
    assert compiled.decide(facts(dst="198.19.0.0")).rule_id == "default"


@pytest.mark.parametrize(("protocol", "hit"), [(6, True), (17, True), (1, False), (47, True)])
def test_protocol_names_and_numbers(
    policy: PolicyFactory, facts: Facts, protocol: int, hit: bool
) -> None:
    compiled = policy("rules:\n  - {id: p, action: drop, match: {protocol: [tcp, udp, 47]}}\n")
    assert (compiled.decide(facts(protocol=protocol)).rule_id == "p") is hit


def test_ports_and_ranges(policy: PolicyFactory, facts: Facts) -> None:
    compiled = policy(
        """
        rules:
          - {id: d, action: drop, match: {dstPort: [22, "1000-2000"]}}
          - {id: s, action: drop, match: {srcPort: "0-1023"}}
        """
    )
    assert compiled.decide(facts(dport=22)).rule_id == "d"
    assert compiled.decide(facts(dport=1000)).rule_id == "d"
    assert compiled.decide(facts(dport=2000)).rule_id == "d"
    assert compiled.decide(facts(dport=2001)).rule_id == "default"
    assert compiled.decide(facts(sport=1023, dport=80)).rule_id == "s"
    assert compiled.decide(facts(sport=1024, dport=80)).rule_id == "default"


def test_ports_never_match_protocols_without_ports(policy: PolicyFactory, facts: Facts) -> None:
    compiled = policy("rules:\n  - {id: d, action: drop, match: {dstPort: [7]}}\n")
    assert compiled.decide(facts(protocol=17, dport=7)).rule_id == "d"
    # ICMP echo carries its identifier where ports would be: not a port.
    assert compiled.decide(facts(protocol=1, dport=7, icmp_type=8)).rule_id == "default"


def test_icmp_type(policy: PolicyFactory, facts: Facts) -> None:
    compiled = policy(
        """
        rules:
          - {id: ping, action: drop, match: {protocol: [icmp, icmpv6], icmpType: [8, 128]}}
        """
    )
    assert compiled.decide(facts(protocol=1, icmp_type=8, dport=0)).rule_id == "ping"
    assert compiled.decide(facts(protocol=1, icmp_type=0, dport=0)).rule_id == "default"
    v6 = facts(src="2001:2::1", dst="2001:2::2", protocol=58, icmp_type=128)
    assert compiled.decide(v6).rule_id == "ping"
    assert compiled.decide(facts(protocol=6)).rule_id == "default"


def test_endpoint_and_attachment(policy: PolicyFactory, facts: Facts) -> None:
    compiled = policy(
        """
        rules:
          - {id: vpc-a, action: drop, match: {endpoint: ["0x00000000000000aa"], attachment: 0x5}}
          - {id: vpc-b, action: allow, match: {endpoint: ["0xbb"]}}
        """
    )
    assert compiled.decide(facts(endpoint_id=0xAA, attachment_id=5)).rule_id == "vpc-a"
    assert compiled.decide(facts(endpoint_id=0xAA, attachment_id=6)).rule_id == "default"
    assert compiled.decide(facts(endpoint_id=0xBB)).rule_id == "vpc-b"


def test_all_conditions_of_a_rule_must_hold(policy: PolicyFactory, facts: Facts) -> None:
    compiled = policy(
        """
        rules:
          - id: narrow
            action: drop
            match: {src: [198.18.0.0/24], dst: [198.19.0.0/24], protocol: tcp, dstPort: 443}
        """
    )
    assert compiled.decide(facts()).rule_id == "narrow"
    assert compiled.decide(facts(protocol=17)).rule_id == "default"
    assert compiled.decide(facts(dst="198.19.1.1")).rule_id == "default"


DOMAIN_POLICY = """
settings: {defaultAction: drop}
rules:
  - {id: dns, action: allow, match: {protocol: udp, dstPort: 53, domain: ["*.example.org"]}}
  - id: web
    action: allow
    match: {protocol: tcp, dstPort: 443, domain: [example.com, "*.example.com"]}
  - {id: blocked, action: reject, match: {domain: [bad.example.net]}}
  - {id: ssh, action: allow, match: {protocol: tcp, dstPort: 22}}
"""


def test_domain_rule_makes_decision_pending(policy: PolicyFactory, facts: Facts) -> None:
    compiled = policy(DOMAIN_POLICY)
    assert compiled.decide(facts(dport=443)) is PENDING_DOMAIN
    assert PENDING_DOMAIN.action is Action.ALLOW
    # A domain rule (blocked) precedes ssh, so even ssh waits for a name.
    assert compiled.decide(facts(dport=22)).pending_domain


def test_decide_domain_exact_and_wildcard(policy: PolicyFactory, facts: Facts) -> None:
    compiled = policy(DOMAIN_POLICY)
    web = facts(dport=443)
    assert compiled.decide_domain(web, "example.com").rule_id == "web"
    assert compiled.decide_domain(web, "WWW.Example.COM.").rule_id == "web"
    assert compiled.decide_domain(web, "a.b.example.com").rule_id == "web"
    assert compiled.decide_domain(web, "bad.example.net") == Decision(Action.REJECT, "blocked")
    assert compiled.decide_domain(web, "example.org").rule_id == "default"
    dns = facts(protocol=17, dport=53)
    assert compiled.decide_domain(dns, "www.example.org").rule_id == "dns"
    # "*.example.org" does not match the apex.
    assert compiled.decide_domain(dns, "example.org").rule_id == "default"


def test_decide_without_domain_skips_domain_rules(policy: PolicyFactory, facts: Facts) -> None:
    compiled = policy(DOMAIN_POLICY)
    assert compiled.decide_without_domain(facts(dport=22)).rule_id == "ssh"
    assert compiled.decide_without_domain(facts(dport=443)) == Decision(Action.DROP, "default")


def test_non_domain_rule_first_is_not_pending(policy: PolicyFactory, facts: Facts) -> None:
    compiled = policy(
        """
        rules:
          - {id: ssh, action: allow, match: {dstPort: 22}}
          - {id: web, action: allow, match: {domain: [example.com]}}
        """
    )
    assert compiled.decide(facts(dport=22)) == Decision(Action.ALLOW, "ssh")
    assert compiled.has_domain_rules


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("allow", Decision(Action.ALLOW, "mid-flow")),
        ("drop", Decision(Action.DROP, "mid-flow")),
        ("evaluate", Decision(Action.REJECT, "r")),
    ],
)
def test_mid_flow_setting(
    policy: PolicyFactory, facts: Facts, setting: str, expected: Decision
) -> None:
    compiled = policy(
        f"settings: {{midFlow: {setting}}}\n"
        "rules:\n  - {id: r, action: reject, match: {dstPort: 443}}\n"
    )
    mid = facts(mid_flow=True)
    assert compiled.decide(mid) == expected
    assert compiled.decide_domain(mid, "x.example") == expected
    assert compiled.decide_without_domain(mid) == expected
    assert compiled.decide(facts()) == Decision(Action.REJECT, "r")


def test_snapshot_survives_pickle(policy: PolicyFactory, facts: Facts) -> None:
    compiled = policy(DOMAIN_POLICY + "addressSets: {s: [198.18.0.0/24]}\n")
    copy = pickle.loads(pickle.dumps(compiled))
    for flow in (facts(dport=22), facts(dport=443), facts(protocol=17, dport=53)):
        assert copy.decide(flow) == compiled.decide(flow)
        assert copy.decide_domain(flow, "a.example.org") == compiled.decide_domain(
            flow, "a.example.org"
        )
    assert copy.version == "t1"
    assert [r.id for r in copy.rules] == ["dns", "web", "blocked", "ssh"]


def test_domain_rules_never_hold_flows_that_carry_no_names(
    policy: PolicyFactory, facts: Facts
) -> None:
    compiled = policy(
        """
        settings: {defaultAction: drop}
        rules:
          - {id: web, action: allow, match: {domain: [example.com]}}
          - {id: ping, action: allow, match: {protocol: icmp}}
        """
    )
    ping = facts(protocol=1, icmp_type=8, dport=0)
    assert compiled.decide(ping) == Decision(Action.ALLOW, "ping")
    assert compiled.decide(facts(protocol=47)) == Decision(Action.DROP, "default")
    assert compiled.decide(facts(protocol=17, dport=53)) is PENDING_DOMAIN
