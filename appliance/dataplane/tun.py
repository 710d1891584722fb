"""TUN devices of tun mode: gwlbtun's names, the kernel settings they need, and a fake.

Per GWLB endpoint (the GWLBE ENI id of GENEVE option type 1) two TUN devices exist,
named exactly as AWS's ``gwlbtun`` names them (its ``devname_make``/``toBase60``):
``gwi-`` + the endpoint id in base 60 (digits, then ``a-z``, then ``A-Z``; at most 11
characters, so the name fits Linux's 15) for packets handed to the kernel, and
``gwo-`` + the same for packets the kernel sends back. Hooks get the id as 17
zero-padded hex digits, as gwlbtun's ``MakeENIStr`` prints it.

The daemon configures what the devices need itself, at creation and before the
first packet (no hook has to race systemd over it): MTU 8500, a long transmit queue,
``rp_filter`` 0 on both devices (the effective value is the maximum of ``all`` and
the device's own, so ``all`` is lowered while every other interface keeps its
effective value), ``accept_local`` 1, IPv4 and IPv6 forwarding, and no IPv6
link-local address (so the devices send no router solicitations of their own).
:class:`SysctlGuard` re-checks those values, because a late systemd-sysctl or
udev run may put them back.

The file descriptors come from ``TUNSETIFF`` on ``/dev/net/tun``; link settings go
through pyroute2.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import struct
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from pyroute2 import IPRoute

from appliance.errors import DataplaneError

TUN_MTU = 8500
"""GWLB's inner MTU; gwlbtun sets the same."""
TX_QUEUE = 10_000
"""Packets the kernel may queue towards us on one device before it drops."""
BASE60 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
"""gwlbtun's alphabet (60 of the 62 characters are ever used as digits)."""
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
_SYS = Path("/proc/sys")


def base60(value: int) -> str:
    """``value`` (0 to 2**64-1) in gwlbtun's base-60 notation."""
    if not 0 <= value < 1 << 64:
        raise ValueError(f"endpoint id out of range: {value}")
    digits = BASE60[value % 60]
    value //= 60
    while value:
        digits = BASE60[value % 60] + digits
        value //= 60
    return digits


def interface_names(endpoint_id: int) -> tuple[str, str]:
    """``(gwi-X, gwo-X)`` of an endpoint, as gwlbtun names them."""
    suffix = base60(endpoint_id)
    return f"gwi-{suffix}", f"gwo-{suffix}"


def endpoint_hex(endpoint_id: int) -> str:
    """The endpoint id as the 4th hook argument: 17 zero-padded hex digits (gwlbtun)."""
    return f"{endpoint_id:017x}"


class TunDevice(Protocol):
    """One packet device: the kernel's packets are read from it, ours written to it."""

    name: str

    def fileno(self) -> int:
        """The descriptor to wait on (-1 for fakes)."""
        ...

    def read_into(self, view: memoryview) -> int | None:
        """Read one packet into ``view``; 0 or None when none waits."""
        ...

    def write(self, packet: memoryview) -> int | None:
        """Hand one packet to the kernel; returns bytes written (0 or None: not taken).

        Raises:
            OSError: the kernel refused it.
        """
        ...

    def close(self) -> None:
        """Release the device (a kernel TUN device disappears with its last descriptor)."""
        ...


class DeviceFactory(Protocol):
    """Creates the two devices of an endpoint."""

    def create(self, endpoint_id: int) -> tuple[TunDevice, TunDevice]:
        """``(gwi, gwo)`` devices of ``endpoint_id``, ready for packets.

        Raises:
            DataplaneError: the devices could not be created or configured.
        """
        ...


# -- the kernel's devices ------------------------------------------------------------


class KernelTun:
    """A non-blocking descriptor on a TUN device (IFF_TUN | IFF_NO_PI, one queue)."""

    def __init__(self, name: str) -> None:
        self.name = name
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise DataplaneError(f"cannot open /dev/net/tun: {exc.strerror}") from exc
        try:
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI))
        except OSError as exc:
            os.close(fd)
            raise DataplaneError(
                f"cannot create TUN device {name} (needs CAP_NET_ADMIN): {exc.strerror}"
            ) from exc
        self._fd = fd
        # FileIO's readinto/write on a non-blocking descriptor return None instead of
        # raising when nothing waits (a raised BlockingIOError per drain costs more than
        # the read): bound once, they are the device's packet calls.
        self._file = io.FileIO(fd, "r+", closefd=False)
        self.read_into: Callable[[memoryview], int | None] = self._file.readinto
        self.write: Callable[[memoryview], int | None] = self._file.write

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        if self._fd >= 0:
            self._file.close()
            os.close(self._fd)
            self._fd = -1


def write_sysctl(key: str, value: str) -> None:
    """Write ``/proc/sys/<key>`` for a key without an interface name in it.

    Raises:
        DataplaneError: the key does not exist or cannot be written.
    """
    try:
        (_SYS / key.replace(".", "/")).write_text(value)
    except OSError as exc:
        raise DataplaneError(f"cannot set {key}={value}: {exc.strerror}") from exc


def _conf(family: str, ifname: str, leaf: str) -> str:
    return f"net.{family}.conf.{ifname}.{leaf}"


def _read_conf(ifname: str, leaf: str) -> str | None:
    try:
        return (_SYS / "net/ipv4/conf" / ifname / leaf).read_text().strip()
    except OSError:
        return None


def _write_conf(family: str, ifname: str, leaf: str, value: str) -> None:
    path = _SYS / "net" / family / "conf" / ifname / leaf
    try:
        path.write_text(value)
    except OSError as exc:
        raise DataplaneError(
            f"cannot set {_conf(family, ifname, leaf)}={value}: {exc.strerror}"
        ) from exc


def lower_all_rp_filter(keep: Iterable[str] = ()) -> int:
    """Make ``conf.all.rp_filter`` 0 without loosening any other interface.

    The kernel filters with ``max(all, <interface>)``. Before ``all`` goes to 0, every
    interface (and ``default``, for interfaces created later) whose own value is lower
    than the old ``all`` gets the old ``all``, so its effective filter stays the same.

    Args:
        keep: interfaces to leave alone (the tun devices, which want 0).

    Returns:
        The previous value of ``all.rp_filter``.
    """
    old_text = _read_conf("all", "rp_filter")
    old = int(old_text) if old_text and old_text.isdigit() else 0
    if old == 0:
        return 0
    skip = set(keep)
    for entry in sorted((_SYS / "net/ipv4/conf").iterdir()):
        name = entry.name
        if name == "all" or name in skip or name.startswith(("gwi-", "gwo-")):
            continue
        own = _read_conf(name, "rp_filter")
        if own is not None and own.isdigit() and int(own) < old:
            with contextlib.suppress(DataplaneError):  # the interface may just have gone
                _write_conf("ipv4", name, "rp_filter", str(old))
    _write_conf("ipv4", "all", "rp_filter", "0")
    return old


DEVICE_SETTINGS: dict[tuple[str, str], str] = {
    ("ipv4", "rp_filter"): "0",
    ("ipv4", "accept_local"): "1",
    ("ipv6", "addr_gen_mode"): "1",
    ("ipv6", "accept_ra"): "0",
}
"""The per-device sysctls the daemon owns: ``{(family, leaf): value}``."""


def enable_forwarding() -> None:
    """IPv4 and IPv6 forwarding on (tun mode forwards between its devices and the uplink).

    Raises:
        DataplaneError: a sysctl cannot be written.
    """
    write_sysctl("net.ipv4.ip_forward", "1")
    if (_SYS / "net/ipv6/conf/all/forwarding").exists():
        _write_conf("ipv6", "all", "forwarding", "1")


def configure_device(ifname: str) -> None:
    """Apply :data:`DEVICE_SETTINGS` to ``ifname`` (IPv6 ones only where IPv6 exists)."""
    for (family, leaf), value in DEVICE_SETTINGS.items():
        if family == "ipv6" and not (_SYS / "net/ipv6/conf" / ifname).exists():
            continue
        _write_conf(family, ifname, leaf, value)


class SysctlGuard:
    """Re-asserts the tun devices' sysctls; counts how often something had changed them."""

    def __init__(self) -> None:
        self.repairs = 0

    def check(self, ifnames: Iterable[str]) -> int:
        """Fix what differs on ``ifnames`` (and ``all.rp_filter``); returns values fixed."""
        fixed = 0
        names = list(ifnames)
        if not names:
            return 0
        all_rp = _read_conf("all", "rp_filter")
        if all_rp not in (None, "0"):
            lower_all_rp_filter(names)
            fixed += 1
        for ifname in names:
            for (family, leaf), value in DEVICE_SETTINGS.items():
                path = _SYS / "net" / family / "conf" / ifname / leaf
                try:
                    current = path.read_text().strip()
                except OSError:
                    continue  # device gone, or no IPv6
                if current != value:
                    with contextlib.suppress(DataplaneError):
                        _write_conf(family, ifname, leaf, value)
                        fixed += 1
        self.repairs += fixed
        return fixed


class KernelDevices:
    """Creates real TUN devices through ``/dev/net/tun`` and pyroute2."""

    def __init__(self, mtu: int = TUN_MTU) -> None:
        self.mtu = mtu
        self._forwarding = False

    def create(self, endpoint_id: int) -> tuple[TunDevice, TunDevice]:
        if not self._forwarding:
            enable_forwarding()
            self._forwarding = True
        names = interface_names(endpoint_id)
        devices: list[KernelTun] = []
        try:
            for name in names:
                devices.append(KernelTun(name))
            with IPRoute() as ipr:
                for name in names:
                    index = ipr.link_lookup(ifname=name)[0]
                    ipr.link("set", index=index, mtu=self.mtu, txqlen=TX_QUEUE)
                    configure_device(name)
                lower_all_rp_filter(names)
                for name in names:
                    ipr.link("set", index=ipr.link_lookup(ifname=name)[0], state="up")
        except DataplaneError:
            for device in devices:
                device.close()
            raise
        except Exception as exc:
            for device in devices:
                device.close()
            raise DataplaneError(f"cannot configure {' / '.join(names)}: {exc}") from exc
        return devices[0], devices[1]


# -- the in-memory fake --------------------------------------------------------------


class MemoryTun:
    """A device for tests: ``to_kernel`` collects writes, ``inject`` queues kernel packets."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.to_kernel: list[bytes] = []
        self.from_kernel: deque[bytes] = deque()
        self.closed = False
        self.fail_writes = 0
        """Make this many upcoming writes fail."""

    def fileno(self) -> int:
        return -1

    def inject(self, packet: bytes) -> None:
        """Queue a packet as if the kernel had routed it out of this device."""
        self.from_kernel.append(packet)

    def read_into(self, view: memoryview) -> int:
        if not self.from_kernel:
            return 0
        packet = self.from_kernel.popleft()
        n = min(len(packet), len(view))
        view[:n] = packet[:n]
        return n

    def write(self, packet: memoryview) -> int:
        if self.fail_writes > 0:
            self.fail_writes -= 1
            raise OSError(105, "No buffer space available")
        self.to_kernel.append(bytes(packet))
        return len(packet)

    def close(self) -> None:
        self.closed = True


class MemoryDevices:
    """Device factory for tests; remembers every pair it made."""

    def __init__(self) -> None:
        self.made: dict[int, tuple[MemoryTun, MemoryTun]] = {}
        self.fail = False

    def create(self, endpoint_id: int) -> tuple[TunDevice, TunDevice]:
        if self.fail:
            raise DataplaneError("device creation refused (test)")
        gwi, gwo = (MemoryTun(name) for name in interface_names(endpoint_id))
        self.made[endpoint_id] = (gwi, gwo)
        return gwi, gwo
