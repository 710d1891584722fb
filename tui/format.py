"""Pure formatting of numbers, sizes, rates, ages and times for table cells."""

from __future__ import annotations

import time

NONE = "-"
"""What an unknown value looks like."""


def count(value: float | None) -> str:
    """``1234567`` -> ``1.2M``; small numbers unchanged."""
    if value is None:
        return NONE
    v = float(value)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.1f}{unit}"
    return f"{v:.0f}" if v == int(v) else f"{v:.1f}"


def size(value: float | None) -> str:
    """Bytes in binary units: ``1536`` -> ``1.5KiB``."""
    if value is None:
        return NONE
    v = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(v) < 1024 or unit == "TiB":
            return f"{v:.0f}{unit}" if unit == "B" else f"{v:.1f}{unit}"
        v /= 1024
    return NONE  # pragma: no cover - the loop always returns


def rate(value: float | None) -> str:
    """Per-second rate: ``count/s``; unknown (first sample) is ``-``."""
    return NONE if value is None else f"{count(value)}/s"


def byte_rate(value: float | None) -> str:
    """Bytes per second in binary units."""
    return NONE if value is None else f"{size(value)}/s"


def age(seconds: float | None) -> str:
    """A duration: ``0.6s``, ``42s``, ``5m12s``, ``3h04m``, ``2d05h``."""
    if seconds is None:
        return NONE
    s = max(0.0, float(seconds))
    if s < 10:
        return f"{s:.1f}s"
    if s < 60:
        return f"{s:.0f}s"
    m, sec = divmod(int(s), 60)
    if m < 60:
        return f"{m}m{sec:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"


def clock(at: float | None) -> str:
    """Unix time as ``HH:MM:SS`` UTC."""
    if at is None:
        return NONE
    return time.strftime("%H:%M:%S", time.gmtime(at))


def stamp(at: float | None) -> str:
    """Unix time as ``YYYY-MM-DD HH:MM:SS`` UTC."""
    if at is None:
        return NONE
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at))


def yes_no(value: bool | None) -> str:
    """``yes`` / ``no`` / ``-``."""
    return NONE if value is None else ("yes" if value else "no")


PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmp6", 47: "gre", 50: "esp"}


def protocol(number: int | None) -> str:
    """IP protocol name (``tcp``) or its number."""
    if number is None:
        return NONE
    return PROTOCOLS.get(number, str(number))


def endpoint(addr: str | None, port: int | None, family: int | None = 4) -> str:
    """``addr:port``, bracketing IPv6 addresses."""
    if addr is None:
        return NONE
    host = f"[{addr}]" if family == 6 or ":" in addr else addr
    return host if not port else f"{host}:{port}"
