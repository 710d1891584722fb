"""The batch's send vectors: IP_HDRINCL layout, or the UDP header only (kernel IPv4)."""

from __future__ import annotations

import ctypes

import pytest

from appliance.dataplane.batch import CTRL_SIZE, HEADER_AT, HEADROOM, SLOT, Batch


def test_replies_start_at_the_outer_ipv4_header_by_default() -> None:
    batch = Batch(4)
    base = ctypes.addressof(batch._data)
    assert batch.reply_overhead == 28
    assert [batch.tx_iov[i].iov_base for i in range(4)] == [
        base + i * SLOT + HEADER_AT for i in range(4)
    ]
    assert all(batch.tx_msgs[i].msg_hdr.msg_controllen == 0 for i in range(4))


@pytest.mark.parametrize("pktinfo", [True, False])
def test_with_a_kernel_ipv4_header_replies_start_at_the_udp_header(pktinfo: bool) -> None:
    batch = Batch(4)
    batch.kernel_ip_header(source_from_pktinfo=pktinfo)
    base = ctypes.addressof(batch._data)
    ctrl = ctypes.addressof(batch._ctrl)
    assert batch.reply_overhead == 8
    assert [batch.tx_iov[i].iov_base for i in range(4)] == [
        base + i * SLOT + HEADROOM - 8 for i in range(4)
    ]
    # the control message each datagram arrived with goes back with its reply (or none)
    assert [batch.tx_msgs[i].msg_hdr.msg_control for i in range(4)] == [
        ctrl + i * CTRL_SIZE if pktinfo else None for i in range(4)
    ]
    assert [batch.tx_msgs[i].msg_hdr.msg_controllen for i in range(4)] == [
        CTRL_SIZE if pktinfo else 0
    ] * 4
