"""``gwlbd policy check | explain | apply | reload | bench``: work with policy documents.

``check`` and ``explain`` run locally on a file (``-`` reads standard input);
``apply`` and ``reload`` talk to the running daemon over its admin channel
(``--target``, else ``$GWLBD_ADMIN``, else ``/run/gwlbd/admin.sock``); ``bench``
runs the policy engine benchmark. Problems print one per line on stderr and the
exit status is 1.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from appliance.control.client import ADMIN_TARGET_ENV, DEFAULT_ADMIN_TARGET, AdminClient
from appliance.errors import ApplianceError
from appliance.policy.compiler import compile_policy
from appliance.policy.document import parse_document
from appliance.policy.errors import PolicyError
from appliance.policy.explain import explain
from appliance.policy.matcher import CompiledPolicy
from appliance.policy.model import PolicyDocument
from appliance.policy.values import PROTOCOL_NAMES, parse_hex_id, parse_protocol
from appliance.policy.verdict import FlowFacts

_ACTION_NAMES = {0: "allow", 1: "drop", 2: "reject"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``gwlbd policy`` and its subcommands."""
    parser = subparsers.add_parser(
        "policy",
        help="check, explain, apply and benchmark policy documents",
        description="Work with policy documents (see docs/policy.md).",
    )
    commands = parser.add_subparsers(dest="policy_command", metavar="ACTION", required=True)

    check = commands.add_parser(
        "check", help="validate a policy file and summarise it", description="Validate FILE."
    )
    check.add_argument("file", metavar="FILE", help="policy document (YAML or JSON; - for stdin)")
    check.add_argument("--json", action="store_true", help="print the summary as JSON")
    check.set_defaults(handler=run_check)

    why = commands.add_parser(
        "explain",
        help="say which rule decides a flow, and why",
        description="Evaluate FILE for one flow and show the rules that did and did not match.",
    )
    why.add_argument("file", metavar="FILE", help="policy document (- for stdin)")
    why.add_argument("--src", required=True, type=_address, help="source address")
    why.add_argument("--dst", required=True, type=_address, help="destination address")
    why.add_argument("--proto", default="tcp", type=_protocol, help="protocol name or number")
    why.add_argument("--sport", type=_port, default=0, help="source port")
    why.add_argument("--dport", type=_port, default=0, help="destination port")
    why.add_argument("--icmp-type", type=_port, help="ICMP/ICMPv6 type")
    why.add_argument("--endpoint", type=_hex_id, default=0, help="GWLB endpoint id (0x...)")
    why.add_argument("--attachment", type=_hex_id, default=0, help="attachment id (0x...)")
    why.add_argument("--domain", help="name the flow carries (SNI, HTTP Host, DNS query)")
    why.add_argument("--mid-flow", action="store_true", help="the first packet seen is mid-flow")
    why.add_argument("--json", action="store_true", help="print the explanation as JSON")
    why.set_defaults(handler=run_explain)

    apply = commands.add_parser(
        "apply",
        help="push a policy file to the running daemon",
        description="Validate FILE locally, then send it to the daemon (POST /admin/policy).",
    )
    apply.add_argument("file", metavar="FILE", help="policy document (- for stdin)")
    _add_target(apply)
    apply.set_defaults(handler=run_apply)

    reload = commands.add_parser(
        "reload",
        help="make the daemon re-read its policy source now",
        description="POST /admin/policy/reload: re-read the file or SSM parameter now.",
    )
    _add_target(reload)
    reload.set_defaults(handler=run_reload)

    bench = commands.add_parser(
        "bench",
        help="benchmark the policy engine",
        description="Compile time, memory, pickle size and decision latency (medians of runs).",
    )
    bench.add_argument("--rules", type=int, default=10_000, help="rules (default 10000)")
    bench.add_argument("--cidrs", type=int, default=100_000, help="CIDRs in sets (default 100000)")
    bench.add_argument("--runs", type=int, default=3, help="runs (default 3)")
    bench.add_argument("--decisions", type=int, default=20_000, help="flows decided per run")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument(
        "--write",
        metavar="FILE",
        help="only write the generated policy document to FILE (for `gwlbd bench --gwlbd "
        "NAME:N:--policy-file FILE`, the data-plane comparison with allow-all)",
    )
    bench.set_defaults(handler=run_bench)


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target",
        metavar="SOCKET|URL",
        help=f"admin socket or http://host:port (default ${ADMIN_TARGET_ENV}, else "
        f"{DEFAULT_ADMIN_TARGET})",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IPv4 or IPv6 address: {text!r}") from None


def _protocol(text: str) -> int:
    try:
        return parse_protocol(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"not a number 0-65535: {text!r}")
    return int(text)


def _hex_id(text: str) -> int:
    try:
        return parse_hex_id(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _read(path: str) -> str:
    """The text of ``path`` (``-``: standard input); raises PolicyError naming the file."""
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise PolicyError(f"{path}: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{path}: not UTF-8 text (byte {exc.start})") from exc


def _load(path: str) -> tuple[PolicyDocument, CompiledPolicy, float]:
    text = _read(path)
    start = time.perf_counter()
    doc = parse_document(text, source="<stdin>" if path == "-" else path)
    compiled = compile_policy(doc)
    return doc, compiled, time.perf_counter() - start


def _fail(command: str, exc: ApplianceError) -> int:
    problems = exc.problems if isinstance(exc, PolicyError) else [str(exc)]
    for problem in problems:
        print(f"gwlbd policy {command}: {problem}", file=sys.stderr)
    return 1


def summary(doc: PolicyDocument, compiled: CompiledPolicy, seconds: float) -> dict[str, Any]:
    """What ``check`` reports about a valid document."""
    actions = Counter(_ACTION_NAMES[int(rule.action)] for rule in doc.rules)
    return {
        "source": doc.source,
        "apiVersion": doc.api_version,
        "version": doc.version,
        "settings": {
            "defaultAction": _ACTION_NAMES[int(doc.settings.default_action)],
            "defaultLog": doc.settings.default_log,
            "midFlow": doc.settings.mid_flow.value,
            "reevaluateOnChange": doc.settings.reevaluate_on_change,
            "domainWaitPackets": doc.settings.domain_wait_packets,
        },
        "rules": len(doc.rules),
        "actions": dict(actions),
        "logged_rules": sum(rule.log for rule in doc.rules),
        "domain_rules": sum(bool(rule.match.domains) for rule in doc.rules),
        "address_sets": {name: len(cidrs) for name, cidrs in doc.address_sets.items()},
        "cidrs": compiled.cidr_count,
        "compile_seconds": round(seconds, 4),
    }


def run_check(args: argparse.Namespace) -> int:
    """Handler of ``gwlbd policy check``."""
    try:
        doc, compiled, seconds = _load(args.file)
    except ApplianceError as exc:
        return _fail("check", exc)
    info = summary(doc, compiled, seconds)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    actions = ", ".join(f"{count} {name}" for name, count in sorted(info["actions"].items()))
    sets = ", ".join(f"{name} ({count})" for name, count in info["address_sets"].items())
    settings = info["settings"]
    print(f"{info['source']}: valid {info['apiVersion']} policy, version {info['version']}")
    print(f"  rules: {info['rules']}" + (f" ({actions})" if actions else ""))
    print(f"  logged rules: {info['logged_rules']}, domain rules: {info['domain_rules']}")
    print(f"  address sets: {len(info['address_sets'])}" + (f": {sets}" if sets else ""))
    print(f"  CIDRs: {info['cidrs']}")
    print(
        f"  default action: {settings['defaultAction']}, mid-flow: {settings['midFlow']}, "
        f"re-evaluate on change: {str(settings['reevaluateOnChange']).lower()}, "
        f"domain wait: {settings['domainWaitPackets']} packets"
    )
    print(f"  compiled in {seconds * 1000:.1f} ms")
    return 0


def run_explain(args: argparse.Namespace) -> int:
    """Handler of ``gwlbd policy explain``."""
    if args.src.version != args.dst.version:
        print("gwlbd policy explain: --src and --dst must be the same IP version", file=sys.stderr)
        return 1
    try:
        _, compiled, _ = _load(args.file)
    except ApplianceError as exc:
        return _fail("explain", exc)
    icmp_type = args.icmp_type
    if icmp_type is None and args.proto in (1, 58):
        icmp_type = 8 if args.proto == 1 else 128
    facts = FlowFacts(
        family=args.src.version,
        src=int(args.src),
        dst=int(args.dst),
        protocol=args.proto,
        sport=args.sport,
        dport=args.dport,
        icmp_type=icmp_type if args.proto in (1, 58) else None,
        endpoint_id=args.endpoint,
        attachment_id=args.attachment,
        mid_flow=args.mid_flow,
    )
    result = explain(compiled, facts, args.domain)
    if args.json:
        d = result.decision
        print(
            json.dumps(
                {
                    "version": compiled.version,
                    "decision": {
                        "action": _ACTION_NAMES[int(d.action)],
                        "rule": d.rule_id,
                        "log": d.log,
                        "pending_domain": d.pending_domain,
                    },
                    "checks": [
                        {
                            "index": c.index,
                            "rule": c.rule_id,
                            "action": c.action,
                            "matched": c.matched,
                            "failed": list(c.failed),
                            "conditions": list(c.conditions),
                        }
                        for c in result.checks
                    ],
                    "notes": list(result.notes),
                },
                indent=2,
            )
        )
        return 0
    names = {number: name for name, number in PROTOCOL_NAMES.items()}
    proto = names.get(args.proto, str(args.proto))
    flow = f"{proto} {args.src}:{args.sport} -> {args.dst}:{args.dport}"
    print(f"policy {compiled.version}: {flow}" + (f" ({args.domain})" if args.domain else ""))
    for line in result.lines():
        print(line)
    return 0


def _client(args: argparse.Namespace) -> AdminClient:
    target = args.target or os.environ.get(ADMIN_TARGET_ENV) or DEFAULT_ADMIN_TARGET
    return AdminClient(target, timeout=args.timeout)


def run_apply(args: argparse.Namespace) -> int:
    """Handler of ``gwlbd policy apply``: validate locally, then push."""
    try:
        text = _read(args.file)
        doc = parse_document(text, source=args.file)
        compile_policy(doc)
        answer = _client(args).post("/admin/policy", text.encode("utf-8"))
    except ApplianceError as exc:
        return _fail("apply", exc)
    print(answer.get("message") or f"policy {doc.version} applied")
    return 0


def run_reload(args: argparse.Namespace) -> int:
    """Handler of ``gwlbd policy reload``."""
    try:
        answer = _client(args).post("/admin/policy/reload")
    except ApplianceError as exc:
        return _fail("reload", exc)
    print(answer.get("message") or "policy reloaded")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    """Handler of ``gwlbd policy bench``."""
    from appliance.bench import policy_engine  # noqa: PLC0415 - only this command needs it

    if args.write:
        with open(args.write, "w") as handle:
            handle.write(policy_engine.generate_policy(args.rules, args.cidrs))
        print(f"wrote a policy of {args.rules} rules and {args.cidrs} CIDRs to {args.write}")
        return 0
    result = policy_engine.run(
        rules=args.rules, cidrs=args.cidrs, runs=args.runs, decisions=args.decisions
    )
    if args.json:
        print(result.to_json())
        return 0
    print(
        f"policy engine, {result.rules} rules, {result.cidrs} CIDRs, median of {result.runs} runs"
    )
    print(f"  parse + validate: {result.parse_s:.3f} s")
    print(f"  compile:          {result.compile_s:.3f} s (target < 2 s)")
    memory = f"{result.compile_peak_mib:.1f} MiB, policy kept {result.policy_mib:.1f} MiB"
    print(f"  compile peak:     {memory}")
    print(f"  pickle:           {result.pickle_mib:.1f} MiB, {result.pickle_s:.3f} s round trip")
    print(
        f"  decide (new flow): median {result.decide_median_us:.2f} us (target <= 20), "
        f"p99 {result.decide_p99_us:.2f} us (target <= 100), {result.decisions} flows"
    )
    return 0
