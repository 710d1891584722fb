"""``gwlbd status | drain | undrain | flows`` against a real server with a fake daemon."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from appliance.commands import status as status_command
from appliance.control.fake import FakeStatusProvider, sample_flow
from appliance.control.http import ControlServer


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gwlbd")
    subparsers = parser.add_subparsers(dest="command", required=True)
    status_command.register(subparsers)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


@pytest.fixture
def target(server: ControlServer) -> str:
    assert server.admin_socket is not None
    return server.admin_socket


def test_status_prints_a_readable_table(
    target: str, provider: FakeStatusProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    provider.drops["policy"] = 20
    provider.drops["too_short"] = 3
    assert _run(["status", "--target", target]) == 0
    out = capsys.readouterr().out
    assert "gwlbd 0.1.0 on fake-appliance (i-0123456789abcdef0), inline mode" in out
    assert "state    serving (healthy), up 1h 00m 00s" in out
    assert "WORKER" in out
    assert "4243" in out
    assert "in 2,000 (293.0 KiB), out 1,980 (290.0 KiB)" in out
    assert "policy          20" in out
    assert "too_short        3" in out
    assert "oam" not in out  # zero drops are left out
    assert "0x0123456789abcdef" in out


def test_status_json_prints_the_raw_document(
    target: str, provider: FakeStatusProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["status", "--json", "--target", target]) == 0
    assert json.loads(capsys.readouterr().out) == provider.status()


def test_target_comes_from_the_environment(
    target: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GWLBD_ADMIN", target)
    assert _run(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "serving"


def test_explicit_target_beats_the_environment(
    target: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GWLBD_ADMIN", str(tmp_path / "nothing.sock"))
    assert _run(["status", "--json", "--target", target]) == 0
    capsys.readouterr()
    assert _run(["status"]) == 1
    assert "nothing.sock" in capsys.readouterr().err


def test_status_over_http(server: ControlServer, capsys: pytest.CaptureFixture[str]) -> None:
    address = server.health_address
    assert address is not None
    assert _run(["status", "--target", f"http://{address[0]}:{address[1]}"]) == 0
    assert "serving (healthy)" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["status", "drain", "undrain", "flows"])
def test_unreachable_daemon_is_one_line_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    assert _run([command, "--target", str(tmp_path / "admin.sock")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith(f"gwlbd {command}: cannot reach gwlbd at ")
    assert "Traceback" not in captured.err


def test_drain_and_undrain(
    target: str, provider: FakeStatusProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["drain", "--target", target]) == 0
    assert provider.state == "draining"
    assert "draining" in capsys.readouterr().out
    assert _run(["status", "--target", target]) == 0
    assert "state    draining (unhealthy)" in capsys.readouterr().out
    assert _run(["undrain", "--target", target]) == 0
    assert provider.state == "serving"


def test_drain_refused_on_the_health_port(
    server: ControlServer, provider: FakeStatusProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    address = server.health_address
    assert address is not None
    assert _run(["drain", "--target", f"http://{address[0]}:{address[1]}"]) == 1
    assert "only on the local admin channel" in capsys.readouterr().err
    assert provider.state == "serving"


def test_flows_table_with_filters(
    target: str, provider: FakeStatusProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    provider.flow_records = [
        sample_flow(0, octets=100),
        sample_flow(1, octets=5000, dport=53),
        sample_flow(2, octets=300, dport=53, src="2001:2::2", dst="2001:2::1"),
    ]
    assert _run(["flows", "--target", target, "--port", "53", "--limit", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "2 matching flows, top 1 by bytes"
    assert out[1].split() == [
        "ENDPOINT", "PROTO", "SOURCE", "DESTINATION", "VERDICT", "PACKETS", "BYTES", "IDLE",
        "WORKER",
    ]  # fmt: skip
    assert "198.18.1.10:40001" in out[2]
    assert len(out) == 3


def test_flows_json_passes_every_parameter(
    target: str, provider: FakeStatusProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    provider.flow_records = [
        sample_flow(0, octets=100, last_seen=2.0, src="2001:2::2"),
        sample_flow(1, octets=900, last_seen=1.0, src="2001:2::2"),
        sample_flow(2, endpoint_id="0x00000000000000aa", src="2001:2::2"),
        sample_flow(3),
    ]
    argv = ["flows", "--json", "--target", target, "--sort", "recent", "--endpoint",
            "0x0123456789abcdef", "--addr", "2001:2:0:0::2"]  # fmt: skip
    assert _run(argv) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["total"] == 2
    assert [f["sport"] for f in document["flows"]] == [40000, 40001]


@pytest.mark.parametrize(
    "argv",
    [
        ["flows", "--port", "70000"],
        ["flows", "--limit", "-3"],
        ["flows", "--endpoint", "nope"],
        ["flows", "--addr", "1.2.3"],
        ["flows", "--sort", "size"],
        ["status", "--timeout", "0"],
    ],
)
def test_bad_arguments_are_usage_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        _run(argv)
    assert caught.value.code == 2
    assert "error:" in capsys.readouterr().err
