"""Flow logs as Suricata EVE JSON lines (``event_type: flow``), plus a ``gwlb`` object.

A record has the fields Suricata writes for a flow (``timestamp``, ``flow_id``,
``event_type``, ``src_ip``, ``src_port``, ``dest_ip``, ``dest_port``, ``proto``,
optional ``app_proto``, ``icmp_type``/``icmp_code`` for ICMP, and ``flow`` with
``pkts_toserver``, ``pkts_toclient``, ``bytes_toserver``, ``bytes_toclient``,
``start``, ``end``, ``age``, ``state``, ``reason``, ``alerted``), so tools that read
Suricata's ``eve.json`` read these too; ``gwlb`` adds the GWLB endpoint and
attachment ids, the flow cookie, the rule and the verdict. Source: Suricata's
"Eve JSON Format" documentation (7.0), event type flow.

:func:`flow_record` is pure. :class:`FlowLogWriter` writes records to a
:class:`FileSink` (size-based rotation) or a :class:`StreamSink` (stdout) behind
a token-bucket rate limit that counts what it suppressed.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

from appliance.errors import ApplianceError

PROTO_NAMES = {1: "ICMP", 6: "TCP", 17: "UDP", 47: "GRE", 50: "ESP", 51: "AH", 58: "IPv6-ICMP"}
PROTO_NAMES |= {132: "SCTP", 136: "UDPLite"}
"""``proto`` as Suricata names it; other protocols are written as their number."""
_PORT_PROTOCOLS = frozenset((6, 17, 132, 136))
_ICMP_PROTOCOLS = frozenset((1, 58))
FLOW_STATES = frozenset(("new", "established", "closed", "bypassed"))
FLOW_REASONS = frozenset(("timeout", "forced", "shutdown"))


class FlowLogError(ApplianceError):
    """The flow log could not be opened or written."""


def eve_time(unix: float) -> str:
    """Suricata's timestamp form: ``2026-11-29T17:33:19.123456+0000``."""
    return datetime.fromtimestamp(unix, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f%z")


@dataclass(frozen=True, slots=True)
class GwlbInfo:
    """The ``gwlb`` object of a record."""

    endpoint_id: int
    attachment_id: int
    cookie: int
    rule: str
    """Id of the rule that decided (or ``default``, ``mid-flow``...)."""
    verdict: str
    """``allow``, ``drop`` or ``reject``."""
    domain: str | None = None
    """Name seen in the payload (SNI, Host, DNS), when a domain rule looked for one."""
    policy_version: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object, ids as ``0x`` + hex like the status API."""
        out: dict[str, Any] = {
            "endpoint_id": f"0x{self.endpoint_id:016x}",
            "attachment_id": f"0x{self.attachment_id:016x}",
            "cookie": f"0x{self.cookie:08x}",
            "rule": self.rule,
            "verdict": self.verdict,
        }
        if self.domain is not None:
            out["domain"] = self.domain
        if self.policy_version is not None:
            out["policy_version"] = self.policy_version
        return out


def flow_record(
    *,
    flow_id: int,
    src_ip: str,
    src_port: int,
    dest_ip: str,
    dest_port: int,
    protocol: int,
    pkts_toserver: int,
    pkts_toclient: int,
    bytes_toserver: int,
    bytes_toclient: int,
    start: float,
    end: float,
    state: str,
    reason: str,
    gwlb: GwlbInfo,
    app_proto: str | None = None,
    icmp_type: int | None = None,
    icmp_code: int | None = None,
    alerted: bool = False,
    timestamp: float | None = None,
) -> dict[str, Any]:
    """One EVE flow record from plain flow fields; ``src`` is the side that started the flow.

    Raises:
        ValueError: ``state`` or ``reason`` is not one Suricata uses.
    """
    if state not in FLOW_STATES:
        raise ValueError(f"flow state {state!r} is not one of {sorted(FLOW_STATES)}")
    if reason not in FLOW_REASONS:
        raise ValueError(f"flow end reason {reason!r} is not one of {sorted(FLOW_REASONS)}")
    record: dict[str, Any] = {
        "timestamp": eve_time(end if timestamp is None else timestamp),
        "flow_id": flow_id & 0x7FFF_FFFF_FFFF_FFFF,
        "event_type": "flow",
        "src_ip": src_ip,
    }
    if protocol in _PORT_PROTOCOLS:
        record["src_port"] = src_port
    record["dest_ip"] = dest_ip
    if protocol in _PORT_PROTOCOLS:
        record["dest_port"] = dest_port
    record["proto"] = PROTO_NAMES.get(protocol, str(protocol))
    if protocol in _ICMP_PROTOCOLS and icmp_type is not None:
        record["icmp_type"] = icmp_type
        record["icmp_code"] = icmp_code or 0
    if app_proto is not None:
        record["app_proto"] = app_proto
    record["flow"] = {
        "pkts_toserver": pkts_toserver,
        "pkts_toclient": pkts_toclient,
        "bytes_toserver": bytes_toserver,
        "bytes_toclient": bytes_toclient,
        "start": eve_time(start),
        "end": eve_time(end),
        "age": max(0, int(end - start)),
        "state": state,
        "reason": reason,
        "alerted": alerted,
    }
    record["gwlb"] = gwlb.to_json()
    return record


class Sink(Protocol):
    """Where JSON lines go."""

    def write_line(self, line: str) -> None:
        """Write one line (without its newline); raises :class:`FlowLogError`."""
        ...

    def close(self) -> None:
        """Flush and release the destination."""
        ...


class StreamSink:
    """Lines to a text stream (stdout by default); the stream is not closed."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout

    def write_line(self, line: str) -> None:
        """Write and flush one line."""
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError) as exc:
            raise FlowLogError(f"cannot write the flow log: {exc}") from exc

    def close(self) -> None:
        """Flush only."""
        with contextlib.suppress(OSError, ValueError):
            self.stream.flush()


class FileSink:
    """Lines appended to a file, rotated by size: ``eve.json`` -> ``eve.json.1`` ... ``.N``."""

    def __init__(
        self, path: str | os.PathLike[str], *, max_bytes: int = 100 << 20, backups: int = 5
    ):
        """Open (create) ``path`` for appending.

        Args:
            path: the log file.
            max_bytes: rotate before a line would make the file larger than this.
            backups: rotated files kept; 0 truncates instead.

        Raises:
            FlowLogError: the file cannot be opened.
        """
        if max_bytes < 1 or backups < 0:
            raise ValueError("max_bytes must be positive and backups not negative")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self._file = self._open()
        self._size = self._file.tell()

    def _open(self) -> TextIO:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return self.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise FlowLogError(f"cannot open the flow log {self.path}: {exc}") from exc

    def write_line(self, line: str) -> None:
        """Append one line, rotating first if it would pass ``max_bytes``."""
        data = line + "\n"
        size = len(data.encode("utf-8"))
        try:
            if self._size and self._size + size > self.max_bytes:
                self._rotate()
            self._file.write(data)
            self._file.flush()
        except (OSError, ValueError) as exc:
            raise FlowLogError(f"cannot write the flow log {self.path}: {exc}") from exc
        self._size += size

    def _rotate(self) -> None:
        self._file.close()
        try:
            if self.backups:
                for index in range(self.backups - 1, 0, -1):
                    older = self.path.with_name(f"{self.path.name}.{index}")
                    if older.exists():
                        older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
                self.path.replace(self.path.with_name(f"{self.path.name}.1"))
            else:
                self.path.unlink(missing_ok=True)
        finally:
            self._file = self._open()
            self._size = self._file.tell()

    def reopen(self) -> None:
        """Reopen the file (after an external tool such as logrotate moved it)."""
        self._file.close()
        self._file = self._open()
        self._size = self._file.tell()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


class FlowLogWriter:
    """Rate-limited writer of flow records (thread-safe).

    A token bucket allows ``rate`` records a second on average and bursts of
    ``burst``; records beyond it are dropped and counted in :attr:`suppressed`.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        rate: float = 1000.0,
        burst: int = 2000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sink = sink
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()
        self.written = 0
        self.suppressed = 0
        self.errors = 0
        """Records lost to write errors (disk full...)."""

    def write(self, record: Mapping[str, Any]) -> bool:
        """Write ``record`` as one JSON line; False when rate-limited or the write failed."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens < 1.0:
                self.suppressed += 1
                return False
            self._tokens -= 1.0
            try:
                self.sink.write_line(json.dumps(record, separators=(",", ":")))
            except FlowLogError:
                self.errors += 1
                return False
            self.written += 1
            return True

    def counters(self) -> dict[str, int]:
        """``written``, ``suppressed`` and ``errors`` since start (for status and metrics)."""
        with self._lock:
            return {"written": self.written, "suppressed": self.suppressed, "errors": self.errors}

    def close(self) -> None:
        """Close the sink."""
        with self._lock:
            self.sink.close()


def open_flow_log(
    target: str, *, max_bytes: int = 100 << 20, backups: int = 5, rate: float = 1000.0
) -> FlowLogWriter:
    """A writer to ``target``: ``-`` or ``stdout`` for standard output, else a file path."""
    sink: Sink = (
        StreamSink()
        if target in ("-", "stdout")
        else FileSink(target, max_bytes=max_bytes, backups=backups)
    )
    return FlowLogWriter(sink, rate=rate, burst=max(1, int(rate * 2)))
