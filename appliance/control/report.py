"""Human-readable reports of the status API documents (pure: text in, text out).

:func:`render_status` turns a ``gwlbd.status/v1`` document into the table that
``gwlbd status`` prints; :func:`render_flows` does the same for ``gwlbd.flows/v1``.
Both tolerate missing fields (shown as ``-``) so a reader of schema v1 keeps
working against any v1 daemon.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

DASH: Final = "-"
_PROTOCOLS: Final = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp"}
_EVENTS_SHOWN: Final = 5


def format_duration(seconds: Any) -> str:
    """``3d 4h 05m``, ``2h 03m 04s``, ``3m 04s``, ``4.2s``, ``50ms``; ``-`` when not a number."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        return DASH
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s"


def format_count(value: Any) -> str:
    """An integer with thousands separators (``1,234,567``); ``-`` when not a number."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return DASH
    return f"{int(value):,}"


def format_bytes(value: Any) -> str:
    """A byte count in binary units (``512 B``, ``1.5 KiB``, ``3.2 GiB``)."""
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        return DASH
    if value < 1024:
        return f"{int(value)} B"
    amount = float(value)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        amount /= 1024
        if amount < 1024 or unit == "TiB":
            break
    return f"{amount:.1f} {unit}"


def format_endpoint(host: Any, port: Any) -> str:
    """``198.18.1.10:443`` or ``[2001:2::1]:443`` (just the address when there is no port)."""
    address = str(host) if host is not None else DASH
    if ":" in address:
        address = f"[{address}]"
    return f"{address}:{port}" if isinstance(port, int) and port else address


def format_protocol(number: Any) -> str:
    """``tcp``, ``udp``, ``icmp``... or the protocol number."""
    if isinstance(number, int) and not isinstance(number, bool):
        return _PROTOCOLS.get(number, str(number))
    return DASH


def _yes_no(value: Any) -> str:
    return "yes" if value is True else "no" if value is False else DASH


def _text(value: Any) -> str:
    return DASH if value is None or value == "" else str(value)


_NUMERIC: Final = re.compile(r"-|\d[\d,]*(\.\d+)? ?(B|KiB|MiB|GiB|TiB|d|h|m|s|ms)?( \d+[hms])*")


def _is_number(text: str) -> bool:
    return _NUMERIC.fullmatch(text) is not None


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Align ``rows`` under ``headers``; numeric columns are right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    numeric = [
        all(_is_number(row[i]) for row in rows) and any(row[i] != DASH for row in rows)
        for i in range(len(headers))
    ]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(widths[i]) if numeric[i] else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])


def _records(value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _header(doc: Mapping[str, Any]) -> list[str]:
    instance = doc.get("instance_id")
    where = _text(doc.get("hostname")) + (f" ({instance})" if instance else "")
    healthy = doc.get("healthy")
    health = "healthy" if healthy is True else "unhealthy" if healthy is False else DASH
    policy = _mapping(doc.get("policy"))
    lines = [
        f"gwlbd {_text(doc.get('version'))} on {where}, {_text(doc.get('mode'))} mode",
        f"state    {_text(doc.get('state'))} ({health}), up {format_duration(doc.get('uptime_s'))}",
    ]
    if policy:
        lines.append(
            f"policy   {_text(policy.get('version'))} from {_text(policy.get('source'))}, "
            f"default {_text(policy.get('default_action'))}"
        )
        error = _mapping(policy.get("last_error"))
        if error:
            lines.append(
                f"         last refused: {_text(error.get('version'))}: "
                f"{_text(error.get('message'))}"
            )
    return lines


def _workers(doc: Mapping[str, Any]) -> list[str]:
    rows = [
        [
            _text(w.get("index")),
            _text(w.get("pid")),
            _yes_no(w.get("alive")),
            format_count(w.get("restarts")),
            format_duration(w.get("heartbeat_age_s")),
            format_count(w.get("packets_in")),
            format_count(w.get("packets_out")),
            format_count(w.get("flows_active")),
        ]
        for w in _records(doc.get("workers"))
    ]
    if not rows:
        return ["workers: none"]
    headers = ["WORKER", "PID", "ALIVE", "RESTARTS", "HEARTBEAT", "PKTS IN", "PKTS OUT", "FLOWS"]
    return [table(headers, rows)]


def _counters(doc: Mapping[str, Any]) -> list[str]:
    c = _mapping(doc.get("counters"))
    return [
        "counters",
        f"  packets  in {format_count(c.get('packets_in'))} ({format_bytes(c.get('bytes_in'))}), "
        f"out {format_count(c.get('packets_out'))} ({format_bytes(c.get('bytes_out'))})",
        f"  flows    active {format_count(c.get('flows_active'))}, "
        f"created {format_count(c.get('flows_created'))}, "
        f"expired {format_count(c.get('flows_expired'))}, "
        f"evicted {format_count(c.get('flows_evicted'))}",
        f"  worker restarts {format_count(c.get('worker_restarts'))}",
    ]


def _drops(doc: Mapping[str, Any]) -> list[str]:
    drops = _mapping(doc.get("drops"))
    nonzero = sorted(
        ((str(reason), count) for reason, count in drops.items() if count),
        key=lambda item: (-item[1] if isinstance(item[1], int) else 0, item[0]),
    )
    if not nonzero:
        return ["drops: none"]
    return [table(["DROP REASON", "COUNT"], [[reason, format_count(n)] for reason, n in nonzero])]


def _tunnels(doc: Mapping[str, Any]) -> list[str]:
    rows = []
    for t in _records(doc.get("tunnels")):
        interfaces = _mapping(t.get("interfaces"))
        rows.append(
            [
                _text(t.get("endpoint_id")),
                format_count(len(_records_or_values(t.get("attachment_ids")))),
                format_count(t.get("packets_in")),
                format_bytes(t.get("bytes_in")),
                format_count(t.get("packets_out")),
                format_bytes(t.get("bytes_out")),
                format_count(t.get("drops")),
                format_count(t.get("flows_active")),
                format_duration(t.get("last_packet_age_s")),
                f"{interfaces.get('in')}/{interfaces.get('out')}" if interfaces else DASH,
            ]
        )
    if not rows:
        return ["tunnels: none yet"]
    headers = [
        "ENDPOINT", "ATTACH", "PKTS IN", "BYTES IN", "PKTS OUT", "BYTES OUT", "DROPS",
        "FLOWS", "IDLE", "INTERFACES",
    ]  # fmt: skip
    return [table(headers, rows)]


def _records_or_values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _events(doc: Mapping[str, Any]) -> list[str]:
    events = _records(doc.get("events"))[-_EVENTS_SHOWN:]
    now = doc.get("now")
    if not events:
        return []
    lines = [f"recent events (last {len(events)})"]
    for event in events:
        at = event.get("at")
        ago = (
            format_duration(now - at)
            if isinstance(now, int | float) and isinstance(at, int | float)
            else DASH
        )
        lines.append(f"  {ago:>12} ago  {_text(event.get('kind'))}: {_text(event.get('message'))}")
    return lines


def render_status(doc: Mapping[str, Any]) -> str:
    """The ``gwlbd status`` report of a ``gwlbd.status/v1`` document."""
    sections = [
        _header(doc),
        _workers(doc),
        _counters(doc),
        _drops(doc),
        _tunnels(doc),
        _events(doc),
    ]
    return "\n\n".join("\n".join(section) for section in sections if section)


def _flow_row(flow: Mapping[str, Any], now: Any) -> list[str]:
    last_seen = flow.get("last_seen")
    idle = (
        format_duration(now - last_seen)
        if isinstance(now, int | float) and isinstance(last_seen, int | float)
        else DASH
    )
    verdict = _text(flow.get("verdict"))
    rule = flow.get("rule")
    return [
        _text(flow.get("endpoint_id")),
        format_protocol(flow.get("protocol")),
        format_endpoint(flow.get("src"), flow.get("sport")),
        format_endpoint(flow.get("dst"), flow.get("dport")),
        f"{verdict} ({rule})" if rule else verdict,
        format_count(flow.get("packets")),
        format_bytes(flow.get("bytes")),
        idle,
        _text(flow.get("worker")),
    ]


def render_flows(doc: Mapping[str, Any], sort: str = "bytes") -> str:
    """The ``gwlbd flows`` report of a ``gwlbd.flows/v1`` document."""
    flows = _records(doc.get("flows"))
    total = doc.get("total")
    summary = f"{format_count(total)} matching flows"
    if isinstance(total, int) and total > len(flows):
        summary += f", top {len(flows)} by {sort}"
    if not flows:
        return summary
    headers = [
        "ENDPOINT", "PROTO", "SOURCE", "DESTINATION", "VERDICT", "PACKETS", "BYTES", "IDLE",
        "WORKER",
    ]  # fmt: skip
    now = doc.get("now")
    rows = [_flow_row(f, now) for f in flows]
    if any(f.get("domain") for f in flows):
        headers.insert(5, "DOMAIN")
        for row, flow in zip(rows, flows, strict=True):
            row.insert(5, _text(flow.get("domain")))
    return summary + "\n" + table(headers, rows)
