"""Parsing and validating policy documents: values, structure, messages with lines, limits."""

from __future__ import annotations

import json
import pickle

import pytest

from appliance.errors import ApplianceError
from appliance.policy import document
from appliance.policy.document import parse_document
from appliance.policy.errors import PolicyError
from appliance.policy.model import MidFlow
from appliance.policy.verdict import Action

FULL = """\
apiVersion: gwlbd.policy/v1
version: "2026-11-29.1"
settings:
  defaultAction: drop
  defaultLog: true
  midFlow: evaluate
  reevaluateOnChange: false
  domainWaitPackets: 4
addressSets:
  threat-intel: [198.18.0.0/24, "2001:2::/48", 198.19.0.1]
rules:
  - id: block-telnet
    description: no telnet anywhere
    action: reject
    log: true
    match:
      src: ["@threat-intel", 198.18.9.0/24]
      dst: 198.19.0.0/16
      protocol: [tcp, 17]
      srcPort: ["1000-2000"]
      dstPort: [23, "2323"]
      endpoint: ["0x0123456789abcdef", 0x5]
      attachment: ["0x0"]
  - id: ping
    action: allow
    match: {protocol: icmp, icmpType: [8, "0"]}
  - id: web
    action: allow
    match: {domain: [Example.COM., "*.example.org"]}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_document(text)
    return caught.value.problems


def test_full_document_values() -> None:
    doc = parse_document(FULL, source="policy.yaml")
    assert doc.version == "2026-11-29.1"
    assert doc.source == "policy.yaml"
    assert doc.settings.default_action is Action.DROP
    assert doc.settings.default_log is True
    assert doc.settings.mid_flow is MidFlow.EVALUATE
    assert doc.settings.reevaluate_on_change is False
    assert doc.settings.domain_wait_packets == 4
    assert doc.address_sets["threat-intel"] == (
        (4, 0xC6120000, 24),
        (6, 0x20010002 << 96, 48),
        (4, 0xC6130001, 32),
    )
    telnet, ping, web = doc.rules
    assert (telnet.id, telnet.action, telnet.log) == ("block-telnet", Action.REJECT, True)
    assert telnet.description == "no telnet anywhere"
    m = telnet.match
    assert m.src_sets == ("threat-intel",)
    assert m.src == ((4, 0xC6120900, 24),)
    assert m.dst == ((4, 0xC6130000, 16),)
    assert m.protocols == (6, 17)
    assert m.src_ports == ((1000, 2000),)
    assert m.dst_ports == ((23, 23), (2323, 2323))
    assert m.endpoints == (0x0123456789ABCDEF, 5)
    assert m.attachments == (0,)
    assert ping.match.icmp_types == (8, 0)
    assert web.match.domains == ("example.com", "*.example.org")


def test_defaults_when_settings_and_rules_are_absent() -> None:
    doc = parse_document('apiVersion: gwlbd.policy/v1\nversion: "1"\n')
    assert doc.rules == ()
    assert doc.settings.default_action is Action.ALLOW
    assert doc.settings.mid_flow is MidFlow.ALLOW
    assert doc.settings.reevaluate_on_change is True
    assert doc.settings.domain_wait_packets == 8


def test_json_is_accepted() -> None:
    text = json.dumps(
        {
            "apiVersion": "gwlbd.policy/v1",
            "version": "j1",
            "rules": [{"id": "a", "action": "drop", "match": {"dstPort": [22]}}],
        }
    )
    assert parse_document(text).rules[0].match.dst_ports == ((22, 22),)


def test_error_names_field_path_and_line() -> None:
    text = FULL.replace('dstPort: [23, "2323"]', 'dstPort: [23, "70000"]')
    assert problems(text) == [
        "rules[0].match.dstPort[1] (line 21): '70000' is not a port (0-65535)"
    ]


def test_json_errors_have_lines_too() -> None:
    text = (
        '{\n  "apiVersion": "gwlbd.policy/v1",\n  "version": "1",\n'
        '  "rules": [\n    {"id": "a", "action": "nope"}\n  ]\n}'
    )
    assert problems(text) == ["rules[0].action (line 5): must be allow, drop or reject, got 'nope'"]


def test_all_problems_are_reported() -> None:
    text = """\
apiVersion: gwlbd.policy/v2
version: ""
settings: {defaultAction: reject, midFlow: maybe, domainWaitPackets: 0, colour: red}
addressSets:
  bad name: [198.18.0.0/15]
  s: [198.18.0.1/33, 198.18.0.256, 010.0.0.1, "2001:2::/129", 12]
rules:
  - {id: default, action: allow}
  - {id: a, action: allow, match: {src: ["@missing"], dstPort: [22], protocol: icmp}}
  - {id: a, action: drop, match: {icmpType: [300], protocol: tcp, endpoint: [0xZZ], port: 1}}
  - {id: b, action: drop, match: {domain: ["exa mple.com", "-a.com"], srcPort: "9-3", dst: []}}
  - just a string
  - {id: c, action: drop, match: {domain: [a.com], protocol: [tcp, icmp]}}
"""
    found = problems(text)
    expected_prefixes = [
        "apiVersion (line 1): must be 'gwlbd.policy/v1'",
        "version (line 2): a non-empty version label",
        "settings.colour (line 3): unknown field",
        "settings.defaultAction (line 3): must be 'allow' or 'drop'",
        "settings.midFlow (line 3): must be allow, drop or evaluate",
        "settings.domainWaitPackets (line 3): must be an integer 1-64",
        "addressSets.bad name (line 5): 'bad name' is not a valid address set name",
        "addressSets.s[0] (line 6): '198.18.0.1/33' is not a CIDR",
        "addressSets.s[1] (line 6): '198.18.0.256' is not a CIDR",
        "addressSets.s[2] (line 6): '010.0.0.1' is not a CIDR: leading zero",
        "addressSets.s[3] (line 6): '2001:2::/129' is not a CIDR",
        "addressSets.s[4] (line 6): 12 is not a CIDR",
        "rules[0].id (line 8): 'default' is reserved",
        "rules[1].match.src[0] (line 9): address set 'missing' is not defined",
        "rules[1].match.dstPort (line 9): protocol 1 has no ports",
        "rules[2].match.port (line 10): unknown field",
        "rules[2].id (line 10): 'a' is already used by rules[1]",
        "rules[2].match.icmpType[0] (line 10): 300 is not an ICMP type",
        "rules[2].match.endpoint[0] (line 10): '0xZZ' is not an id",
        "rules[2].match.icmpType (line 10): protocol 6 is not icmp or icmpv6",
        "rules[3].match.dst (line 11): empty list",
        "rules[3].match.srcPort (line 11): '9-3' is not a port range: 9 is above 3",
        "rules[3].match.domain[0] (line 11): 'exa mple.com' is not a domain name",
        "rules[3].match.domain[1] (line 11): '-a.com' is not a domain name",
        "rules[4] (line 12): expected a mapping, got a string",
        "rules[5].match.domain (line 13): protocol 1 carries no domain names",
    ]
    assert len(found) == len(expected_prefixes), found
    for message, prefix in zip(sorted(found), sorted(expected_prefixes), strict=True):
        assert message.startswith(prefix), (message, prefix)


def test_yaml_syntax_error_has_line() -> None:
    found = problems("apiVersion: gwlbd.policy/v1\nrules: [\n  {id: a\n")
    assert len(found) == 1
    assert found[0].startswith("<policy> (line ")
    assert "invalid YAML" in found[0]


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text", "42"])
def test_top_level_must_be_a_mapping(text: str) -> None:
    assert "expected a mapping" in problems(text)[0]


def test_policy_error_is_an_appliance_error_and_pickles() -> None:
    error = PolicyError(["a", "b"])
    assert isinstance(error, ApplianceError)
    copy = pickle.loads(pickle.dumps(error))
    assert copy.problems == ["a", "b"]
    assert str(error) == "a (and 1 more problems)"


def test_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(document, "MAX_DOCUMENT_CHARS", 100)
    found = problems("#" * 101)
    assert found == ["<policy>: document is 101 characters, over the limit of 100"]


def test_count_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(document, "MAX_RULES", 2)
    monkeypatch.setattr(document, "MAX_MATCH_VALUES", 2)
    monkeypatch.setattr(document, "MAX_TOTAL_CIDRS", 3)
    rules = "\n".join(f"  - {{id: r{i}, action: drop}}" for i in range(3))
    head = 'apiVersion: gwlbd.policy/v1\nversion: "1"\n'
    assert problems(head + "rules:\n" + rules) == ["rules (line 3): 3 rules, over the limit of 2"]
    many = head + "rules:\n  - {id: a, action: drop, match: {dstPort: [1, 2, 3]}}\n"
    assert problems(many) == ["rules[0].match.dstPort (line 4): 3 entries, over the limit of 2"]
    big = (
        head
        + "addressSets:\n  a: [198.18.0.0/24, 198.18.1.0/24]\n  b: [198.18.2.0/24, 198.18.3.0/24]\n"
    )
    assert problems(big) == ["addressSets.b (line 5): address sets hold over 3 CIDRs in total"]


def test_problem_count_is_bounded() -> None:
    rules = "\n".join(f"  - {{id: r{i}, action: nope}}" for i in range(200))
    found = problems('apiVersion: gwlbd.policy/v1\nversion: "1"\nrules:\n' + rules)
    assert len(found) == document.MAX_PROBLEMS + 1
    assert found[-1] == "too many problems; stopped reporting"


def test_duplicate_keys_are_errors_with_lines() -> None:
    yaml_text = (
        'apiVersion: gwlbd.policy/v1\nversion: "1"\nrules:\n'
        "  - id: a\n    action: drop\n    match: {dstPort: 22}\n    match: {dstPort: 23}\n"
    )
    assert problems(yaml_text) == ["<policy> (line 7): invalid YAML: duplicate key 'match'"]
    json_text = '{"apiVersion": "gwlbd.policy/v1",\n "version": "1",\n "version": "2"}'
    assert problems(json_text) == ["<policy> (line 3): invalid JSON: duplicate key 'version'"]
