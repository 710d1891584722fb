"""AdminClient against real servers, and against things that are not gwlbd."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appliance.control.client import AdminClient
from appliance.control.errors import ControlError
from appliance.errors import ApplianceError

Answer = Callable[[socket.socket], None]


@pytest.fixture
def impostor() -> Iterator[Callable[[Answer], str]]:
    """Start a TCP listener on loopback that answers each connection with ``answer``."""
    listeners: list[socket.socket] = []
    threads: list[threading.Thread] = []

    def start(answer: Answer) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def serve() -> None:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(5)
                answer(connection)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        threads.append(thread)
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    yield start
    for listener in listeners:
        listener.close()
    for thread in threads:
        thread.join(5)


def _read_request(connection: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(4096)
        if not chunk:
            return
        data += chunk


def test_control_error_is_an_appliance_error() -> None:
    assert issubclass(ControlError, ApplianceError)


def test_missing_socket_is_a_clear_error(tmp_path: Path) -> None:
    client = AdminClient(str(tmp_path / "admin.sock"))
    with pytest.raises(ControlError, match=r"cannot reach gwlbd at .*admin.sock: no such socket"):
        client.get("/status")


def test_stale_socket_is_connection_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "a.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()
    with pytest.raises(ControlError, match="connection refused"):
        AdminClient(path).post("/admin/drain")


def test_closed_tcp_port_is_connection_refused() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(ControlError, match=f"cannot reach gwlbd at http://127.0.0.1:{port}"):
        AdminClient(f"http://127.0.0.1:{port}").get("/status")


def test_a_silent_daemon_times_out(impostor: Callable[[Answer], str]) -> None:
    released = threading.Event()

    def hang(connection: socket.socket) -> None:
        _read_request(connection)
        released.wait(5)

    target = impostor(hang)
    try:
        with pytest.raises(ControlError, match="timed out"):
            AdminClient(target, timeout=0.2).get("/status")
    finally:
        released.set()


def test_garbage_instead_of_http(impostor: Callable[[Answer], str]) -> None:
    def garbage(connection: socket.socket) -> None:
        _read_request(connection)
        connection.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

    with pytest.raises(ControlError, match="gave no valid HTTP answer to GET /status"):
        AdminClient(impostor(garbage)).get("/status")


def test_html_instead_of_json(impostor: Callable[[Answer], str]) -> None:
    def html(connection: socket.socket) -> None:
        _read_request(connection)
        body = b"<html>It works!</html>"
        connection.sendall(
            b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s"
            % (len(body), body)
        )

    with pytest.raises(ControlError, match="HTTP 200 and a body that is not a JSON object"):
        AdminClient(impostor(html)).get("/status")


def test_a_json_error_answer_raises_with_its_message(impostor: Callable[[Answer], str]) -> None:
    def refuse(connection: socket.socket) -> None:
        _read_request(connection)
        body = b'{"ok": false, "error": "no policy source configured"}'
        connection.sendall(
            b"HTTP/1.0 409 Conflict\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )

    with pytest.raises(ControlError, match="POST /admin/policy/reload failed: no policy") as caught:
        AdminClient(impostor(refuse)).post("/admin/policy/reload")
    assert caught.value.status == 409


@pytest.mark.parametrize(
    "target", ["", "https://198.18.0.1", "ftp://198.18.0.1", "http://", "http://198.18.0.1:x"]
)
def test_unusable_targets_are_refused(target: str) -> None:
    with pytest.raises(ControlError):
        AdminClient(target)


def test_client_reads_metrics_and_health(admin: AdminClient) -> None:
    assert admin.health() == (True, "ok")
    assert "gwlbd_healthy 1.0" in admin.metrics()
