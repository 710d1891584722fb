"""Flow log records in Suricata's EVE flow shape, rotation, and the rate limit."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from appliance.flowlog import (
    FileSink,
    FlowLogWriter,
    GwlbInfo,
    StreamSink,
    eve_time,
    flow_record,
    open_flow_log,
)

EVE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+0000\Z")
EVE_FLOW_FIELDS = {
    "pkts_toserver": int,
    "pkts_toclient": int,
    "bytes_toserver": int,
    "bytes_toclient": int,
    "start": str,
    "end": str,
    "age": int,
    "state": str,
    "reason": str,
    "alerted": bool,
}
GWLB = GwlbInfo(0x0123456789ABCDEF, 0, 0x1A2B3C4D, "block-telnet", "reject", "a.example", "v1")


def record(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "flow_id": 1234567890123,
        "src_ip": "198.18.0.10",
        "src_port": 40000,
        "dest_ip": "198.19.0.20",
        "dest_port": 23,
        "protocol": 6,
        "pkts_toserver": 3,
        "pkts_toclient": 1,
        "bytes_toserver": 180,
        "bytes_toclient": 40,
        "start": 1764430000.25,
        "end": 1764430010.75,
        "state": "closed",
        "reason": "timeout",
        "gwlb": GWLB,
    }
    fields.update(overrides)
    return flow_record(**fields)


def assert_eve_flow(event: dict[str, Any]) -> None:
    """The checks a reader of Suricata's eve.json relies on for event_type flow."""
    assert event["event_type"] == "flow"
    assert EVE_TIME.match(event["timestamp"])
    assert isinstance(event["flow_id"], int)
    assert 0 <= event["flow_id"] < 2**63
    for key in ("src_ip", "dest_ip", "proto"):
        assert isinstance(event[key], str)
    allowed = {"timestamp", "flow_id", "event_type", "src_ip", "src_port", "dest_ip"}
    allowed |= {"dest_port", "proto", "app_proto", "icmp_type", "icmp_code", "flow", "gwlb"}
    assert set(event) <= allowed
    assert set(event["flow"]) == set(EVE_FLOW_FIELDS)
    for key, kind in EVE_FLOW_FIELDS.items():
        assert type(event["flow"][key]) is kind, key
    assert EVE_TIME.match(event["flow"]["start"])
    assert EVE_TIME.match(event["flow"]["end"])


def test_tcp_record_has_the_eve_flow_fields_and_gwlb() -> None:
    event = json.loads(json.dumps(record(app_proto="tls")))
    assert_eve_flow(event)
    assert event["proto"] == "TCP"
    assert (event["src_port"], event["dest_port"]) == (40000, 23)
    assert event["app_proto"] == "tls"
    assert event["timestamp"] == "2025-11-29T15:26:50.750000+0000"
    assert event["flow"]["start"] == "2025-11-29T15:26:40.250000+0000"
    assert event["flow"]["age"] == 10
    assert event["gwlb"] == {
        "endpoint_id": "0x0123456789abcdef",
        "attachment_id": "0x0000000000000000",
        "cookie": "0x1a2b3c4d",
        "rule": "block-telnet",
        "verdict": "reject",
        "domain": "a.example",
        "policy_version": "v1",
    }


def test_icmp_record_has_type_and_code_and_no_ports() -> None:
    event = record(protocol=58, icmp_type=128, src_ip="2001:2::1", dest_ip="2001:2::2")
    assert_eve_flow(event)
    assert event["proto"] == "IPv6-ICMP"
    assert (event["icmp_type"], event["icmp_code"]) == (128, 0)
    assert "src_port" not in event
    assert "dest_port" not in event


def test_unknown_protocol_is_its_number_and_flow_id_fits_63_bits() -> None:
    event = record(protocol=99, flow_id=2**64 - 1)
    assert event["proto"] == "99"
    assert event["flow_id"] == 2**63 - 1


@pytest.mark.parametrize(("field", "value"), [("state", "open"), ("reason", "expired")])
def test_state_and_reason_are_suricatas(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=value):
        record(**{field: value})


def test_eve_time_is_utc_with_microseconds() -> None:
    assert eve_time(0.5) == "1970-01-01T00:00:00.500000+0000"


def test_stream_sink_writes_compact_json_lines() -> None:
    stream = io.StringIO()
    writer = FlowLogWriter(StreamSink(stream))
    assert writer.write(record())
    assert writer.write(record(flow_id=2))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert ": " not in lines[0]
    for line in lines:
        assert_eve_flow(json.loads(line))


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_suppresses_and_counts_then_refills() -> None:
    clock = FakeClock()
    stream = io.StringIO()
    writer = FlowLogWriter(StreamSink(stream), rate=2.0, burst=3, clock=clock)
    results = [writer.write(record(flow_id=i)) for i in range(5)]
    assert results == [True, True, True, False, False]
    assert writer.counters() == {"written": 3, "suppressed": 2, "errors": 0}
    clock.now += 1.0  # two more tokens
    assert [writer.write(record()) for _ in range(3)] == [True, True, False]
    assert writer.counters()["suppressed"] == 3
    assert len(stream.getvalue().splitlines()) == 5


def test_file_sink_rotates_by_size_and_keeps_backups(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "eve.json"
    line = json.dumps(record(), separators=(",", ":"))
    per_file = 3
    sink = FileSink(path, max_bytes=(len(line) + 1) * per_file, backups=2)
    writer = FlowLogWriter(sink, rate=1e9, burst=10**9)
    for i in range(10):
        assert writer.write(record(flow_id=i))
    writer.close()
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["eve.json", "eve.json.1", "eve.json.2"]
    ids = [
        [json.loads(x)["flow_id"] for x in p.read_text().splitlines()]
        for p in (path.parent / "eve.json.2", path.parent / "eve.json.1", path)
    ]
    assert ids == [[3, 4, 5], [6, 7, 8], [9]]  # 0-2 rotated out of the two backups


def test_file_sink_appends_to_existing_file_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    path.write_text('{"old":1}\n')
    sink = FileSink(path)
    sink.write_line('{"new":2}')
    path.rename(tmp_path / "moved.json")  # logrotate's "create" mode
    sink.reopen()
    sink.write_line('{"after":3}')
    sink.close()
    assert (tmp_path / "moved.json").read_text() == '{"old":1}\n{"new":2}\n'
    assert path.read_text() == '{"after":3}\n'


def test_write_errors_are_counted_not_raised(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "eve.json")
    sink.close()  # writes now fail
    writer = FlowLogWriter(sink)
    assert writer.write(record()) is False
    assert writer.counters() == {"written": 0, "suppressed": 0, "errors": 1}


def test_open_flow_log_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    to_stdout = open_flow_log("-")
    to_stdout.write(record())
    assert_eve_flow(json.loads(capsys.readouterr().out))
    to_file = open_flow_log(str(tmp_path / "f.json"))
    to_file.write(record())
    to_file.close()
    assert_eve_flow(json.loads((tmp_path / "f.json").read_text()))
