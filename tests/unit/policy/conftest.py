"""Helpers for policy unit tests: build a compiled policy from YAML and flow facts."""

from __future__ import annotations

import ipaddress
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from appliance.policy.compiler import compile_policy
from appliance.policy.document import parse_document
from appliance.policy.matcher import CompiledPolicy
from appliance.policy.verdict import FlowFacts

HEADER = 'apiVersion: gwlbd.policy/v1\nversion: "t1"\n'


def make_facts(
    src: str = "198.18.0.10",
    dst: str = "198.19.0.20",
    protocol: int = 6,
    sport: int = 40000,
    dport: int = 443,
    icmp_type: int | None = None,
    endpoint_id: int = 0x0123456789ABCDEF,
    attachment_id: int = 0,
    mid_flow: bool = False,
) -> FlowFacts:
    """Facts for a flow given in text form."""
    source = ipaddress.ip_address(src)
    return FlowFacts(
        family=source.version,
        src=int(source),
        dst=int(ipaddress.ip_address(dst)),
        protocol=protocol,
        sport=sport,
        dport=dport,
        icmp_type=icmp_type,
        endpoint_id=endpoint_id,
        attachment_id=attachment_id,
        mid_flow=mid_flow,
    )


PolicyFactory = Callable[[str], CompiledPolicy]


@pytest.fixture
def policy() -> PolicyFactory:
    """Compile a YAML body (apiVersion and version are added)."""

    def build(body: str) -> CompiledPolicy:
        return compile_policy(parse_document(HEADER + textwrap.dedent(body), source="test"))

    return build


@pytest.fixture
def facts() -> Callable[..., FlowFacts]:
    """The :func:`make_facts` helper as a fixture."""

    def build(**kwargs: Any) -> FlowFacts:
        return make_facts(**kwargs)

    return build
