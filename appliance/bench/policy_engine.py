"""Benchmark of the policy engine: compile time, memory, pickle size and decision latency.

The policy is synthetic but shaped like a real egress policy: threat-intelligence
address sets (IPv4 and IPv6) referenced by a few rules at the top, then thousands
of narrow rules (destination networks with ports, source networks with port
ranges, per-endpoint rules, ICMP types, attachment rules and some domain rules).
New flows are random, so most of them walk every dimension and fall through to
the default action: the worst case for the matcher.

Run with ``gwlbd policy bench`` or ``python -m appliance.bench.policy_engine``.
"""

from __future__ import annotations

import gc
import json
import pickle
import random
import statistics
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from appliance.policy.compiler import compile_policy
from appliance.policy.document import parse_document
from appliance.policy.verdict import FlowFacts

DEFAULT_RULES = 10_000
DEFAULT_CIDRS = 100_000


@dataclass(frozen=True, slots=True)
class PolicyBenchResult:
    """Medians over the runs."""

    rules: int
    cidrs: int
    runs: int
    parse_s: float
    """Parsing and validating the JSON text."""
    compile_s: float
    """:func:`compile_policy` alone."""
    compile_peak_mib: float
    """Peak memory allocated while compiling (tracemalloc)."""
    policy_mib: float
    """Memory the compiled policy keeps."""
    pickle_mib: float
    pickle_s: float
    """Pickling and unpickling, as sent to a worker."""
    decide_median_us: float
    decide_p99_us: float
    decisions: int

    def to_json(self) -> str:
        """One JSON object."""
        return json.dumps(asdict(self))


def _v4_cidr(rng: random.Random, low: int, high: int) -> str:
    length = rng.randint(low, high)
    address = rng.getrandbits(32) & ~((1 << (32 - length)) - 1)
    return f"{address >> 24}.{address >> 16 & 255}.{address >> 8 & 255}.{address & 255}/{length}"


def _v6_cidr(rng: random.Random) -> str:
    length = rng.choice((32, 48, 56, 64, 128))
    address = (0x2001_0002 << 96 | rng.getrandbits(96)) & ~((1 << (128 - length)) - 1)
    groups = ":".join(f"{address >> s & 0xFFFF:x}" for s in range(112, -16, -16))
    return f"{groups}/{length}"


def generate_policy(rules: int = DEFAULT_RULES, cidrs: int = DEFAULT_CIDRS, seed: int = 1) -> str:
    """A JSON policy document with ``rules`` rules and address sets of ``cidrs`` CIDRs in total."""
    rng = random.Random(seed)  # noqa: S311 - synthetic benchmark data
    v6_count = cidrs // 5
    sets = {
        "threat-intel": [_v4_cidr(rng, 16, 32) for _ in range(cidrs - 2 * v6_count)],
        "threat-intel-v6": [_v6_cidr(rng) for _ in range(v6_count)],
        "partners": [_v4_cidr(rng, 20, 28) for _ in range(v6_count)],
    }
    body: list[dict[str, Any]] = [
        {"id": "ti-src", "action": "drop", "log": True, "match": {"src": ["@threat-intel"]}},
        {"id": "ti-dst", "action": "reject", "log": True, "match": {"dst": ["@threat-intel"]}},
        {"id": "ti6", "action": "drop", "match": {"dst": ["@threat-intel-v6"]}},
        {"id": "partners", "action": "allow", "match": {"src": ["@partners"], "protocol": "tcp"}},
    ]
    kinds = (
        "dst-port",
        "dst-port",
        "dst-port",
        "src-range",
        "endpoint",
        "icmp",
        "attach",
        "domain",
    )
    for index in range(len(body), rules):
        kind = rng.choice(kinds)
        match: dict[str, Any]
        if kind == "dst-port":
            match = {
                "dst": [_v4_cidr(rng, 16, 28)],
                "protocol": rng.choice(("tcp", "udp")),
                "dstPort": [rng.randint(1, 65535)],
            }
        elif kind == "src-range":
            low = rng.randint(1024, 60000)
            match = {
                "src": [_v4_cidr(rng, 12, 24)],
                "srcPort": [f"{low}-{low + rng.randint(0, 500)}"],
            }
        elif kind == "endpoint":
            match = {"endpoint": [f"0x{rng.getrandbits(64):016x}"], "protocol": "udp"}
        elif kind == "icmp":
            match = {
                "protocol": "icmp",
                "icmpType": [rng.randint(0, 40)],
                "dst": [_v4_cidr(rng, 8, 24)],
            }
        elif kind == "attach":
            match = {
                "attachment": [f"0x{rng.getrandbits(64):016x}"],
                "dstPort": [rng.randint(1, 1023)],
            }
        else:
            match = {
                "protocol": "tcp",
                "dstPort": [443],
                "dst": [_v4_cidr(rng, 8, 16)],
                "domain": [f"*.d{index}.example.com", f"d{index}.example.org"],
            }
        body.append({"id": f"r{index}", "action": rng.choice(("allow", "drop")), "match": match})
    document = {
        "apiVersion": "gwlbd.policy/v1",
        "version": f"bench-{rules}-{cidrs}",
        "settings": {"defaultAction": "allow"},
        "addressSets": sets,
        "rules": body,
    }
    return json.dumps(document)


def random_flows(count: int, seed: int = 2) -> list[FlowFacts]:
    """New-flow facts: mostly TCP/UDP IPv4, some IPv6 and ICMP."""
    rng = random.Random(seed)  # noqa: S311 - synthetic benchmark data
    flows: list[FlowFacts] = []
    for _ in range(count):
        roll = rng.random()
        family = 6 if roll < 0.1 else 4
        bits = 128 if family == 6 else 32
        protocol = 1 if roll > 0.95 else rng.choice((6, 6, 17))
        flows.append(
            FlowFacts(
                family=family,
                src=rng.getrandbits(bits),
                dst=rng.getrandbits(bits),
                protocol=protocol,
                sport=rng.randint(1024, 65535) if protocol != 1 else 0,
                dport=rng.choice((443, 80, 53, rng.randint(1, 65535))) if protocol != 1 else 7,
                icmp_type=8 if protocol == 1 else None,
                endpoint_id=rng.getrandbits(64),
                attachment_id=0,
            )
        )
    return flows


def _percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(
    rules: int = DEFAULT_RULES, cidrs: int = DEFAULT_CIDRS, runs: int = 3, decisions: int = 20_000
) -> PolicyBenchResult:
    """Measure ``runs`` times and report the medians."""
    text = generate_policy(rules, cidrs)
    flows = random_flows(decisions)
    samples: dict[str, list[float]] = {}

    def record(key: str, value: float) -> None:
        samples.setdefault(key, []).append(value)

    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        doc = parse_document(text, source="bench")
        record("parse_s", time.perf_counter() - start)
        start = time.perf_counter()
        policy = compile_policy(doc)
        record("compile_s", time.perf_counter() - start)
        tracemalloc.start()
        kept = compile_policy(doc)
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del kept
        record("compile_peak_mib", peak / 2**20)
        record("policy_mib", current / 2**20)
        start = time.perf_counter()
        blob = pickle.dumps(policy, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.loads(blob)  # noqa: S301 - our own bytes, as a worker receives them
        record("pickle_s", time.perf_counter() - start)
        record("pickle_mib", len(blob) / 2**20)
        timings: list[float] = []
        clock = time.perf_counter_ns
        decide = policy.decide
        for facts in flows:
            before = clock()
            decide(facts)
            timings.append((clock() - before) / 1000)
        record("decide_median_us", statistics.median(timings))
        record("decide_p99_us", _percentile(timings, 0.99))
    medians = {key: statistics.median(values) for key, values in samples.items()}
    return PolicyBenchResult(
        rules=rules,
        cidrs=cidrs,
        runs=runs,
        decisions=decisions,
        parse_s=round(medians["parse_s"], 3),
        compile_s=round(medians["compile_s"], 3),
        compile_peak_mib=round(medians["compile_peak_mib"], 1),
        policy_mib=round(medians["policy_mib"], 1),
        pickle_mib=round(medians["pickle_mib"], 1),
        pickle_s=round(medians["pickle_s"], 3),
        decide_median_us=round(medians["decide_median_us"], 2),
        decide_p99_us=round(medians["decide_p99_us"], 2),
    )


if __name__ == "__main__":
    print(run().to_json())
