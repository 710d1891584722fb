"""Sending prepared replies one by one (the fallback where libc has no sendmmsg)."""

from __future__ import annotations

import socket
from typing import Any

from appliance.dataplane.batch import Batch
from appliance.dataplane.packetio import send_each


class RecordingSocket:
    def __init__(self, refuse: set[str]) -> None:
        self.sent: list[tuple[bytes, str]] = []
        self.refuse = refuse

    def sendto(self, data: Any, address: tuple[str, int]) -> int:
        if address[0] in self.refuse:
            raise OSError(101, "Network is unreachable")
        self.sent.append((bytes(data), address[0]))
        return len(data)


def test_each_reply_goes_to_its_slots_gwlb_node_and_refusals_are_counted() -> None:
    batch = Batch(4)
    for i in range(4):
        payload = bytes([i]) * (10 + i)
        batch.fill(i, payload, socket.inet_aton(f"198.18.0.{i + 1}"), 5000, b"\0\0\0\0")
        batch.tx_lens[i * 2 + 1] = 28 + len(payload)
    sock = RecordingSocket(refuse={"198.18.0.2"})
    sent, failed = send_each(sock, batch, [(0, 2), (3, 1)])  # type: ignore[arg-type]
    assert (sent, failed) == (2, 1)
    assert [(len(data), dst) for data, dst in sock.sent] == [(38, "198.18.0.1"), (41, "198.18.0.4")]
    assert [data[28:] for data, _ in sock.sent] == [b"\0" * 10, b"\3" * 13]
