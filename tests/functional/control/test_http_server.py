"""The control HTTP server with real listeners and real requests."""

from __future__ import annotations

import json
import logging
import socket
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from appliance.control.client import AdminClient
from appliance.control.errors import ControlError, ListenerError
from appliance.control.fake import FakeStatusProvider, sample_flow
from appliance.control.http import ControlServer, ControlSettings
from appliance.errors import ConfigError

RawExchange = Callable[[bytes], bytes]


def _status_code(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def _json_body(answer: bytes) -> dict[str, Any]:
    body = answer.split(b"\r\n\r\n", 1)[1]
    document = json.loads(body)
    assert isinstance(document, dict)
    return document


# --- health -----------------------------------------------------------------------------


def test_healthz_answers_200_ok_when_serving(tcp: AdminClient) -> None:
    assert tcp.health() == (True, "ok")


@pytest.mark.parametrize("state", ["starting", "draining", "degraded", "stopping"])
def test_healthz_answers_503_with_the_reason(
    tcp: AdminClient, provider: FakeStatusProvider, state: str
) -> None:
    provider.state = state
    status, content_type, body = tcp.request("GET", "/healthz")
    assert (status, body) == (503, f"{state}\n".encode())
    assert content_type.startswith("text/plain")


def test_healthz_follows_transitions(tcp: AdminClient, provider: FakeStatusProvider) -> None:
    # GIVEN a serving daemon WHEN a worker dies THEN health goes 503 degraded, and back
    assert tcp.health() == (True, "ok")
    provider.workers[1]["alive"] = False
    assert tcp.health() == (False, "degraded")
    provider.workers[1]["alive"] = True
    assert tcp.health() == (True, "ok")


def test_root_path_answers_like_healthz(tcp: AdminClient, provider: FakeStatusProvider) -> None:
    assert tcp.request("GET", "/")[::2] == (200, b"ok\n")
    provider.state = "draining"
    assert tcp.request("GET", "/")[::2] == (503, b"draining\n")


def test_head_has_no_body(raw: RawExchange) -> None:
    answer = raw(b"HEAD /healthz HTTP/1.0\r\n\r\n")
    assert _status_code(answer) == 200
    assert answer.endswith(b"\r\n\r\n")
    assert b"Content-Length: 3" in answer


def test_healthz_is_503_when_the_provider_fails(
    tcp: AdminClient, provider: FakeStatusProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> tuple[bool, str]:
        raise RuntimeError("boom")

    monkeypatch.setattr(provider, "health", broken)
    assert tcp.request("GET", "/healthz")[::2] == (503, b"degraded\n")


# --- status and flows -------------------------------------------------------------------


def test_status_round_trips(tcp: AdminClient, provider: FakeStatusProvider) -> None:
    assert tcp.get("/status") == provider.status()


def test_status_is_served_on_the_admin_socket_too(
    admin: AdminClient, provider: FakeStatusProvider
) -> None:
    assert admin.get("/status") == provider.status()


def test_flows_round_trip_sorted_filtered_and_limited(
    tcp: AdminClient, provider: FakeStatusProvider
) -> None:
    provider.flow_records = [
        sample_flow(0, octets=100, packets=9, last_seen=1.0),
        sample_flow(1, octets=300, packets=1, last_seen=3.0),
        sample_flow(2, octets=200, packets=5, last_seen=2.0, dst="2001:2::1", src="2001:2::2"),
        sample_flow(3, octets=50, endpoint_id="0x00000000000000ff"),
    ]
    document = tcp.get("/flows")
    assert document["schema"] == "gwlbd.flows/v1"
    assert document["total"] == 4
    assert [f["sport"] for f in document["flows"]] == [40001, 40002, 40000, 40003]

    document = tcp.get("/flows", {"sort": "packets", "limit": 2})
    assert document["total"] == 4
    assert [f["sport"] for f in document["flows"]] == [40003, 40000]

    document = tcp.get("/flows", {"sort": "recent", "endpoint": "0x0123456789abcdef"})
    assert [f["sport"] for f in document["flows"]] == [40001, 40002, 40000]

    document = tcp.get("/flows", {"addr": "2001:2:0::1"})
    assert [f["sport"] for f in document["flows"]] == [40002]

    document = tcp.get("/flows", {"port": 40003})
    assert [f["endpoint_id"] for f in document["flows"]] == ["0x00000000000000ff"]

    document = tcp.get("/flows", {"endpoint": "ff", "limit": 0})
    assert (document["total"], document["flows"]) == (1, [])


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=abc", "limit"),
        ("limit=10001", "limit"),
        ("limit=-1", "limit"),
        ("limit=1&limit=2", "limit"),
        ("sort=size", "sort"),
        ("endpoint=xyz", "endpoint"),
        ("endpoint=0x0123456789abcdef00", "endpoint"),
        ("addr=1.2.3", "addr"),
        ("port=70000", "port"),
        ("port=", "port"),
        ("colour=red", "colour"),
    ],
)
def test_bad_flow_parameters_answer_400_naming_the_parameter(
    tcp: AdminClient, query: str, parameter: str
) -> None:
    status, content_type, body = tcp.request("GET", f"/flows?{query}")
    document = json.loads(body)
    assert status == 400
    assert content_type == "application/json"
    assert document["ok"] is False
    assert document["parameter"] == parameter
    assert document["error"].startswith(f"{parameter}:")


# --- routing and bad requests -----------------------------------------------------------


def test_unknown_path_is_404(tcp: AdminClient) -> None:
    status, _, body = tcp.request("GET", "/nope")
    assert status == 404
    assert json.loads(body)["ok"] is False


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_on_read_endpoints_are_405(tcp: AdminClient, method: str) -> None:
    status, _, body = tcp.request(method, "/status")
    assert status == 405
    assert json.loads(body)["error"] == "/status accepts GET only"


def test_unknown_method_is_answered_in_json(raw: RawExchange) -> None:
    answer = raw(b"BREW /status HTTP/1.0\r\n\r\n")
    assert _status_code(answer) == 501
    assert _json_body(answer)["ok"] is False


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"garbage\r\n\r\n",
        b"GET /status HTTP/9.9\r\n\r\n",
        b"\x00\xff\xfe binary \r\n\r\n",
        b"GET /status HTTP/1.0\r\nContent-Length: lots\r\n\r\n",
    ],
)
def test_malformed_requests_get_400_and_the_server_keeps_serving(
    raw: RawExchange, tcp: AdminClient, request_bytes: bytes
) -> None:
    answer = raw(request_bytes)
    assert 400 <= _status_code(answer) < 600
    assert _json_body(answer)["ok"] is False
    assert tcp.health() == (True, "ok")


def test_a_client_that_disconnects_early_does_not_hurt(
    server: ControlServer, tcp: AdminClient
) -> None:
    address = server.health_address
    assert address is not None
    for _ in range(5):
        with socket.create_connection(address, timeout=5) as sock:
            sock.sendall(b"GET /status HT")
    assert tcp.health() == (True, "ok")


def test_provider_failure_is_a_500_and_the_server_keeps_serving(
    tcp: AdminClient, provider: FakeStatusProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(provider, "status", broken)
    status, _, body = tcp.request("GET", "/status")
    assert status == 500
    assert json.loads(body) == {"ok": False, "error": "internal error: RuntimeError"}
    assert tcp.health() == (True, "ok")


# --- admin actions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/admin/drain",
        "/admin/undrain",
        "/admin/policy",
        "/admin/policy/reload",
        "/admin/flows/clear",
    ],
)
def test_admin_actions_are_refused_on_the_tcp_listener(
    tcp: AdminClient, provider: FakeStatusProvider, path: str
) -> None:
    with pytest.raises(ControlError, match="only on the local admin channel") as caught:
        tcp.post(path, b"policy: {}")
    assert caught.value.status == 403
    assert provider.actions == []
    assert provider.state == "serving"


def test_drain_and_undrain_reach_the_provider(
    admin: AdminClient, tcp: AdminClient, provider: FakeStatusProvider
) -> None:
    answer = admin.post("/admin/drain")
    assert answer["ok"] is True
    assert "draining" in answer["message"]
    assert tcp.health() == (False, "draining")
    assert admin.post("/admin/undrain")["ok"] is True
    assert tcp.health() == (True, "ok")
    assert provider.actions == ["drain", "undrain"]


def test_admin_actions_want_post(admin: AdminClient, provider: FakeStatusProvider) -> None:
    with pytest.raises(ControlError, match="accepts POST only") as caught:
        admin.get("/admin/drain")
    assert caught.value.status == 405
    assert provider.actions == []


def test_policy_push_delivers_the_body(admin: AdminClient, provider: FakeStatusProvider) -> None:
    document = "version: v7\nrules: []\n# \u00e9t\u00e9\n"
    answer = admin.post("/admin/policy", document.encode())
    assert answer["ok"] is True
    assert provider.pushed_policies == [document]


def test_refused_policy_is_an_error_answer(
    admin: AdminClient, provider: FakeStatusProvider
) -> None:
    provider.refuse_policy = "rules[0].action: unknown action 'maybe'"
    with pytest.raises(ControlError, match="unknown action 'maybe'") as caught:
        admin.post("/admin/policy", b"rules: [{action: maybe}]")
    assert caught.value.status == 422
    with pytest.raises(ControlError, match="unknown action"):
        admin.post("/admin/policy/reload")
    assert provider.pushed_policies == []


@pytest.mark.parametrize(
    ("body", "error"),
    [(b"", "policy document is empty"), (b"\xff\xfe", "not valid UTF-8")],
)
def test_unusable_policy_bodies_are_400(
    admin: AdminClient, provider: FakeStatusProvider, body: bytes, error: str
) -> None:
    with pytest.raises(ControlError, match=error) as caught:
        admin.post("/admin/policy", body)
    assert caught.value.status == 400
    assert provider.pushed_policies == []


def test_policy_reload_reaches_the_provider(
    admin: AdminClient, provider: FakeStatusProvider
) -> None:
    assert admin.post("/admin/policy/reload")["message"] == "policy reloaded"
    assert provider.actions == ["policy_reload"]


def test_flows_clear_forgets_matching_flows(
    admin: AdminClient, provider: FakeStatusProvider
) -> None:
    provider.flow_records = [sample_flow(0), sample_flow(1, dport=53), sample_flow(2, dport=53)]
    answer = admin.post("/admin/flows/clear", params={"port": 53})
    assert answer["message"] == "cleared 2 flows"
    assert [f["sport"] for f in provider.flow_records] == [40000]


def test_flows_clear_refuses_list_parameters(
    admin: AdminClient, provider: FakeStatusProvider
) -> None:
    provider.flow_records = [sample_flow(0)]
    with pytest.raises(ControlError, match="limit: unknown parameter") as caught:
        admin.post("/admin/flows/clear", params={"limit": 1})
    assert caught.value.status == 400
    assert len(provider.flow_records) == 1


def test_drain_takes_no_parameters(admin: AdminClient, provider: FakeStatusProvider) -> None:
    with pytest.raises(ControlError, match="force: unknown parameter"):
        admin.post("/admin/drain", params={"force": 1})
    assert provider.actions == []


# --- request bodies ---------------------------------------------------------------------


@pytest.fixture
def small_server(provider: FakeStatusProvider, socket_path: Path) -> Any:
    settings = ControlSettings(
        health_host="127.0.0.1", health_port=None, admin_socket=str(socket_path), max_body=1024
    )
    with ControlServer(provider, settings) as control:
        yield control


def _unix_exchange(path: str, data: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(path)
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_policy_body_over_the_limit_is_413(
    small_server: ControlServer, provider: FakeStatusProvider
) -> None:
    assert small_server.admin_socket is not None
    # The body is announced but never sent: the server must answer without reading it.
    answer = _unix_exchange(
        small_server.admin_socket, b"POST /admin/policy HTTP/1.0\r\nContent-Length: 1025\r\n\r\n"
    )
    assert _status_code(answer) == 413
    assert "exceeds 1024" in _json_body(answer)["error"]
    assert provider.pushed_policies == []


def test_policy_body_at_the_limit_is_accepted(
    small_server: ControlServer, provider: FakeStatusProvider
) -> None:
    assert small_server.admin_socket is not None
    assert AdminClient(small_server.admin_socket).post("/admin/policy", b"x" * 1024)["ok"]
    assert provider.pushed_policies == ["x" * 1024]


def test_chunked_bodies_are_411(small_server: ControlServer, provider: FakeStatusProvider) -> None:
    assert small_server.admin_socket is not None
    answer = _unix_exchange(
        small_server.admin_socket,
        b"POST /admin/policy HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n",
    )
    assert _status_code(answer) == 411
    assert provider.pushed_policies == []


def test_truncated_body_is_400(small_server: ControlServer, provider: FakeStatusProvider) -> None:
    assert small_server.admin_socket is not None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(small_server.admin_socket)
        sock.sendall(b"POST /admin/policy HTTP/1.0\r\nContent-Length: 100\r\n\r\nshort")
        sock.shutdown(socket.SHUT_WR)
        answer = sock.recv(65536)
    assert _status_code(answer) == 400
    assert provider.pushed_policies == []


# --- the admin socket -------------------------------------------------------------------


def test_admin_socket_is_0600_in_a_created_directory(server: ControlServer) -> None:
    assert server.admin_socket is not None
    mode = Path(server.admin_socket).stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600


def test_admin_socket_is_removed_on_close(provider: FakeStatusProvider, socket_path: Path) -> None:
    control = ControlServer(
        provider, ControlSettings(health_port=None, admin_socket=str(socket_path))
    )
    control.start()
    assert socket_path.exists()
    control.close()
    assert not socket_path.exists()
    assert list(socket_path.parent.iterdir()) == []
    control.close()  # idempotent


def test_stale_socket_file_is_replaced(provider: FakeStatusProvider, socket_path: Path) -> None:
    socket_path.parent.mkdir(parents=True)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(socket_path))
    stale.close()  # the file stays, nobody listens: what a crashed daemon leaves behind
    with ControlServer(
        provider, ControlSettings(health_port=None, admin_socket=str(socket_path))
    ) as control:
        assert control.admin_socket is not None
        assert AdminClient(control.admin_socket).get("/status")["state"] == "serving"


def test_a_live_socket_is_not_stolen(server: ControlServer, provider: FakeStatusProvider) -> None:
    assert server.admin_socket is not None
    second = ControlServer(
        provider, ControlSettings(health_port=None, admin_socket=server.admin_socket)
    )
    with pytest.raises(ListenerError, match="in use by another running gwlbd"):
        second.start()
    assert AdminClient(server.admin_socket).get("/status")["state"] == "serving"


def test_a_regular_file_is_not_replaced(provider: FakeStatusProvider, socket_path: Path) -> None:
    socket_path.parent.mkdir(parents=True)
    socket_path.write_text("keep me")
    control = ControlServer(
        provider, ControlSettings(health_port=None, admin_socket=str(socket_path))
    )
    with pytest.raises(ListenerError, match="is not a socket"):
        control.start()
    assert socket_path.read_text() == "keep me"


# --- listeners --------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["0.0.0.0:8081", "198.18.0.1:8081", "[2001:2::1]:8081"])
def test_admin_listen_must_be_loopback(provider: FakeStatusProvider, address: str) -> None:
    with pytest.raises(ConfigError, match=r"admin_listen: .* not a loopback address"):
        ControlServer(provider, ControlSettings(admin_listen=address))


@pytest.mark.parametrize("address", ["8081", "localhost", "host:80", "127.0.0.1:http", ":80"])
def test_admin_listen_must_be_host_and_port(provider: FakeStatusProvider, address: str) -> None:
    with pytest.raises(ConfigError, match="admin_listen"):
        ControlServer(provider, ControlSettings(admin_listen=address))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_loopback_admin_listener_serves_admin_actions(
    provider: FakeStatusProvider, host: str
) -> None:
    try:
        settings = ControlSettings(
            health_host="127.0.0.1", health_port=0, admin_socket=None, admin_listen=f"{host}:0"
        )
        control = ControlServer(provider, settings)
        control.start()
    except ListenerError as exc:  # no IPv6 loopback on this machine
        pytest.skip(str(exc))
    try:
        assert control.admin_address is not None
        admin_host, admin_port = control.admin_address
        url_host = f"[{admin_host}]" if ":" in admin_host else admin_host
        assert AdminClient(f"http://{url_host}:{admin_port}").post("/admin/drain")["ok"]
        health = control.health_address
        assert health is not None
        tcp = AdminClient(f"http://{health[0]}:{health[1]}")
        with pytest.raises(ControlError, match="only on the local admin channel"):
            tcp.post("/admin/undrain")
        assert provider.actions == ["drain"]
    finally:
        control.close()


def test_port_in_use_is_a_listener_error(
    server: ControlServer, provider: FakeStatusProvider
) -> None:
    address = server.health_address
    assert address is not None
    other = ControlServer(
        provider,
        ControlSettings(health_host="127.0.0.1", health_port=address[1], admin_socket=None),
    )
    with pytest.raises(ListenerError, match=f"cannot listen on 127.0.0.1:{address[1]}"):
        other.start()


def test_failed_start_leaves_nothing_behind(
    server: ControlServer, provider: FakeStatusProvider, socket_path: Path
) -> None:
    address = server.health_address
    assert address is not None
    other_socket = socket_path.parent / "other.sock"
    other = ControlServer(
        provider,
        ControlSettings(
            health_host="127.0.0.1", health_port=0, admin_socket=str(other_socket),
            admin_listen=f"127.0.0.1:{address[1]}",
        ),
    )  # fmt: skip
    with pytest.raises(ListenerError):
        other.start()
    assert not other_socket.exists()
    assert other.health_address is None


def test_start_twice_is_refused(server: ControlServer) -> None:
    with pytest.raises(ListenerError, match="already started"):
        server.start()


def test_close_stops_serving(provider: FakeStatusProvider) -> None:
    control = ControlServer(
        provider, ControlSettings(health_host="127.0.0.1", health_port=0, admin_socket=None)
    )
    control.start()
    address = control.health_address
    assert address is not None
    client = AdminClient(f"http://{address[0]}:{address[1]}")
    assert client.health() == (True, "ok")
    control.close()
    with pytest.raises(ControlError, match="connection refused"):
        client.health()


# --- logging and connection limits ------------------------------------------------------


def test_requests_are_logged_at_debug_and_nothing_goes_to_stderr(
    raw: RawExchange,
    tcp: AdminClient,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG, logger="appliance.control")
    tcp.get("/status")
    raw(b"garbage\r\n\r\n")
    records = [r for r in caplog.records if r.name == "appliance.control.listeners"]
    assert any('"GET /status HTTP/1.1" 200' in r.getMessage() for r in records)
    assert any("Bad request syntax" in r.getMessage() for r in records)
    assert {r.levelno for r in records} == {logging.DEBUG}
    assert capfd.readouterr().err == ""


def test_connections_beyond_the_limit_are_closed(
    provider: FakeStatusProvider, socket_path: Path
) -> None:
    settings = ControlSettings(
        health_host="127.0.0.1", health_port=0, admin_socket=None, max_connections=1
    )
    with ControlServer(provider, settings) as control:
        address = control.health_address
        assert address is not None
        with socket.create_connection(address, timeout=5) as idle:
            # GIVEN one connection that holds the only slot WHEN another arrives
            with socket.create_connection(address, timeout=5) as extra:
                extra.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
                # THEN it is closed without an answer
                try:
                    answer = extra.recv(1024)
                except ConnectionResetError:
                    answer = b""
                assert answer == b""
            idle.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            assert idle.recv(1024).startswith(b"HTTP/1.0 200")
        # The slot is freed once the handler thread has finished: poll until it is.
        client = AdminClient(f"http://{address[0]}:{address[1]}")
        for _ in range(100):
            try:
                assert client.health() == (True, "ok")
                break
            except ControlError:
                time.sleep(0.02)
        else:
            pytest.fail("the slot of the closed connection was never freed")


def test_answers_name_gwlbd_and_are_not_cached(raw: RawExchange) -> None:
    headers = raw(b"GET /status HTTP/1.0\r\n\r\n").split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert b"Server: gwlbd" in headers
    assert b"Cache-Control: no-store" in headers
    assert b"Connection: close" in headers
