"""Memory per flow: RSS growth of one worker's engine holding N concurrent flows.

The flows go through the real packet path (batch buffers, the engine's parser,
the flow table and the policy), not a synthetic insert, so the figure includes
everything a worker keeps per flow. Runs in a fresh interpreter so nothing else
inflates the heap; reports bytes per flow as RSS growth divided by flows held.
"""

from __future__ import annotations

import gc
import json
import os
import struct
import subprocess
import sys
import time
from typing import Any

from appliance.dataplane.batch import Batch
from appliance.dataplane.engine import Engine
from appliance.flows.table import TableLimits
from appliance.policy.static import StaticPolicy
from appliance.wire.geneve import build_geneve

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident set size of this process."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * _PAGE


def _template() -> bytearray:
    inner = bytearray(
        struct.pack(
            "!BBHHHBBH4s4sHHHH",
            0x45, 0, 20 + 8 + 32, 0, 0x4000, 64, 17, 0,
            bytes([198, 18, 0, 0]), bytes([198, 19, 1, 1]),
            0, 443, 8 + 32, 0,
        )
        + bytes(32)
    )  # fmt: skip
    header = build_geneve(endpoint_id=0x0123456789ABCDEF, attachment_id=0, cookie=1)
    return bytearray(header) + inner


def measure(flows: int) -> dict[str, Any]:
    """Feed ``flows`` distinct UDP flows through an engine; return RSS figures."""
    engine = Engine(
        StaticPolicy(["198.19.9.0/24"]),
        gwlb_cidrs=["198.18.0.0/24"],
        limits=TableLimits(max_flows=flows + 1),
    )
    batch = Batch(64)
    packet = _template()
    src, sport = bytes([198, 18, 0, 1]), 5000
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    done = 0
    now = time.time()
    while done < flows:
        n = min(batch.size, flows - done)
        for i in range(n):
            flow = done + i
            # inner source address (3 bytes of host part) and source port make each flow unique
            packet[40 + 13 : 40 + 16] = (flow >> 8).to_bytes(3, "big")
            packet[40 + 20 : 40 + 22] = (1024 + (flow & 0xFF)).to_bytes(2, "big")
            batch.fill(i, bytes(packet), src, sport, bytes([198, 18, 0, 2]))
        engine.process(batch, n, now)
        done += n
    elapsed = time.perf_counter() - started
    gc.collect()
    after = rss_bytes()
    held = len(engine.table)
    return {
        "flows": held,
        "rss_before_mb": round(before / 2**20, 1),
        "rss_after_mb": round(after / 2**20, 1),
        "bytes_per_flow": round((after - before) / held, 1),
        "insert_rate_per_s": round(held / elapsed),
    }


def run(flows: int = 1_000_000) -> dict[str, Any]:
    """Measure in a fresh interpreter (so the caller's heap does not count)."""
    out = subprocess.run(
        [sys.executable, "-m", "appliance.bench.flowmem", str(flows)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)))
