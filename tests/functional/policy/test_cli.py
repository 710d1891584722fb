"""``gwlbd policy ...`` end to end through argparse: check, explain, apply and reload."""

from __future__ import annotations

import argparse
import http.server
import json
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.commands import policy as policy_command

POLICY = """\
apiVersion: gwlbd.policy/v1
version: "2026-11-29.1"
settings: {defaultAction: allow}
addressSets:
  threat-intel: [198.18.100.0/24, "2001:2:bad::/48"]
rules:
  - id: block-telnet
    action: reject
    log: true
    match: {protocol: tcp, dstPort: [23, 2323]}
  - id: ti
    action: drop
    match: {dst: ["@threat-intel"]}
  - id: web
    action: allow
    match: {protocol: tcp, dstPort: 443, domain: ["*.example.com"]}
  - id: no-web
    action: drop
    match: {protocol: tcp, dstPort: 443}
"""


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="gwlbd")
    policy_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    code: int = args.handler(args)
    return code


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


def test_check_valid_prints_summary(policy_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("policy", "check", str(policy_file)) == 0
    out = capsys.readouterr().out
    assert f"{policy_file}: valid gwlbd.policy/v1 policy, version 2026-11-29.1" in out
    assert "rules: 4 (1 allow, 2 drop, 1 reject)" in out
    assert "threat-intel (2)" in out


def test_check_json(policy_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("policy", "check", "--json", str(policy_file)) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["rules"] == 4
    assert info["domain_rules"] == 1
    assert info["cidrs"] == 2


def test_check_invalid_lists_problems_with_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(POLICY.replace("[23, 2323]", "[23, 70000]").replace("drop\n", "deny\n", 1))
    assert run("policy", "check", str(bad)) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "gwlbd policy check: rules[0].match.dstPort[1] (line 10): 70000 is not a port (0-65535)",
        "gwlbd policy check: rules[1].action (line 12): must be allow, drop or reject, got 'deny'",
    ]


def test_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("policy", "check", str(tmp_path / "nope.yaml")) == 1
    assert "nope.yaml: No such file or directory" in capsys.readouterr().err


def test_explain_names_the_deciding_rule(
    policy_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["policy", "explain", str(policy_file), "--src", "198.18.0.1", "--dst", "198.18.100.5"]
    assert run(*argv, "--proto", "tcp", "--sport", "40000", "--dport", "443") == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "policy 2026-11-29.1: tcp 198.18.0.1:40000 -> 198.18.100.5:443",
        "decision: drop by rule 'ti'",
        "  #0 block-telnet (reject): no match on dstPort",
        "  #1 ti (drop): MATCH on dst",
    ]


def test_explain_with_domain_and_json(
    policy_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["policy", "explain", str(policy_file), "--src", "198.18.0.1", "--dst", "198.18.1.5"]
    assert run(*argv, "--dport", "443", "--domain", "www.example.com", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["decision"] == {
        "action": "allow",
        "rule": "web",
        "log": False,
        "pending_domain": False,
    }
    assert [c["rule"] for c in result["checks"]] == ["block-telnet", "ti", "web"]
    assert run(*argv, "--dport", "443") == 0
    out = capsys.readouterr().out
    assert "allow for now" in out
    assert "without one: drop by rule 'no-web'" in out


def test_explain_rejects_mixed_families(
    policy_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run("policy", "explain", str(policy_file), "--src", "198.18.0.1", "--dst", "2001:2::1") == 1
    )
    assert "same IP version" in capsys.readouterr().err


class _Admin(http.server.BaseHTTPRequestHandler):
    calls: list[tuple[str, bytes]]
    answer: dict[str, Any]
    status_code = 200

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.calls.append((self.path, self.rfile.read(length)))
        body = json.dumps(self.answer).encode()
        self.send_response(self.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def address_string(self) -> str:
        return "unix"


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[tuple[str, type[_Admin]]]:
    """A fake daemon admin socket recording POSTs."""
    handler = type("Handler", (_Admin,), {"calls": [], "answer": {"ok": True, "message": "done"}})
    path = str(tmp_path / "admin.sock")
    server = _UnixHTTPServer(path, handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield path, handler
    finally:
        server.shutdown()
        server.server_close()


def test_apply_posts_the_document(
    policy_file: Path, admin: tuple[str, type[_Admin]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, handler = admin
    assert run("policy", "apply", str(policy_file), "--target", path) == 0
    assert handler.calls == [("/admin/policy", POLICY.encode())]
    assert capsys.readouterr().out.strip() == "done"


def test_apply_refuses_invalid_file_without_contacting_daemon(
    tmp_path: Path, admin: tuple[str, type[_Admin]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, handler = admin
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: nope\n")
    assert run("policy", "apply", str(bad), "--target", path) == 1
    assert handler.calls == []
    assert "apiVersion (line 1)" in capsys.readouterr().err


def test_apply_reports_daemon_refusal(
    policy_file: Path,
    admin: tuple[str, type[_Admin]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, handler = admin
    handler.answer = {"ok": False, "error": "policy refused"}
    handler.status_code = 422
    monkeypatch.setenv("GWLBD_ADMIN", path)
    assert run("policy", "apply", str(policy_file)) == 1
    assert "policy refused" in capsys.readouterr().err


def test_reload_posts_reload(
    admin: tuple[str, type[_Admin]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, handler = admin
    assert run("policy", "reload", "--target", path) == 0
    assert handler.calls == [("/admin/policy/reload", b"")]


def test_unreachable_daemon(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("policy", "reload", "--target", str(tmp_path / "none.sock")) == 1
    assert "cannot reach gwlbd" in capsys.readouterr().err


def test_bench_runs_small(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "policy",
        "bench",
        "--rules",
        "50",
        "--cidrs",
        "200",
        "--runs",
        "1",
        "--decisions",
        "50",
    ]
    assert run(*argv, "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rules"] == 50
    assert result["decisions"] == 50
