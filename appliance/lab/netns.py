"""Network namespaces, veth links and the processes running in them, for the lab and tests.

Netlink work (namespaces, links, addresses, routes) goes through pyroute2; processes
are started with ``ip netns exec`` so they see the namespace's ``/sys`` as well.

A :class:`Topology` owns everything it creates: on close (and on ``__exit__``, also after
an exception or Ctrl-C) it kills the process groups it started and removes its
namespaces, which takes their veth links with them. Each namespace it creates gets an
owner record (``/run/gwlbd-lab/<name>``: pid and process start time of the creator)
written *before* the namespace exists, so :func:`stale_namespaces` can tell leftovers of
a crashed run from namespaces a live run still uses.

Addresses are restricted to the benchmarking ranges 198.18.0.0/15 and 2001:2::/48.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from pyroute2 import IPRoute, netns

from appliance.lab.errors import NamespaceError

LAB_V4 = ipaddress.ip_network("198.18.0.0/15")
"""The only IPv4 range the lab may use (RFC 2544 benchmarking)."""
LAB_V6 = ipaddress.ip_network("2001:2::/48")
"""The only IPv6 range the lab may use (RFC 5180 benchmarking)."""
OWNER_DIR = Path("/run/gwlbd-lab")
"""Where owner records of lab namespaces live."""
IFNAME_MAX = 15
"""Longest Linux interface name."""

_KILL_GRACE_S = 3.0
_IFA_F_NODAD = 0x02


def check_lab_address(text: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    """Parse an address (with or without prefix) and insist it is inside the lab ranges.

    Args:
        text: ``"198.18.0.1/30"``, ``"198.19.1.10"``, ``"2001:2::1/64"``...

    Returns:
        The parsed interface (a bare address gets a /32 or /128 prefix).

    Raises:
        NamespaceError: the address is malformed or outside 198.18.0.0/15 and 2001:2::/48.
    """
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError as exc:
        raise NamespaceError(f"not an address: {text!r}") from exc
    allowed = LAB_V4 if iface.version == 4 else LAB_V6
    if iface.ip not in allowed:
        raise NamespaceError(f"{text} is outside the lab range {allowed}")
    return iface


def _process_start_time(pid: int) -> str | None:
    """Start time of ``pid`` in clock ticks since boot (field 22 of /proc/pid/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may contain spaces; it ends at the last ')'
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19]


def _owner_alive(name: str) -> bool:
    try:
        pid_text, start = (OWNER_DIR / name).read_text().split()
    except (OSError, ValueError):
        return False
    return _process_start_time(int(pid_text)) == start


def stale_namespaces(prefix: str = "gwlbd") -> list[str]:
    """Namespaces named ``<prefix>-...`` whose creating process is gone.

    Namespaces created by a live :class:`Topology` are not listed, even if the prefix
    matches, so a cleanup never pulls the rug from under a running lab or test.
    """
    return sorted(
        name
        for name in netns.listnetns()
        if name.startswith(f"{prefix}-") and not _owner_alive(name)
    )


def _kill_pids(pids: Sequence[int]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
                alive.append(pid)
        if not alive or sig == signal.SIGKILL:
            return
        deadline = time.monotonic() + _KILL_GRACE_S
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in alive):
            time.sleep(0.05)
        pids = [p for p in alive if Path(f"/proc/{p}").exists()]


def remove_namespace(name: str) -> None:
    """Kill every process inside namespace ``name``, then delete it (no error if absent)."""
    pids = netns.ns_pids().get(name, [])
    if pids:
        _kill_pids([p for p in pids if p != os.getpid()])
    if name in netns.listnetns():
        with contextlib.suppress(FileNotFoundError):
            netns.remove(name)
    with contextlib.suppress(FileNotFoundError):
        (OWNER_DIR / name).unlink()


def remove_stale_namespaces(prefix: str = "gwlbd") -> list[str]:
    """Remove what :func:`stale_namespaces` finds; returns the names removed."""
    names = stale_namespaces(prefix)
    for name in names:
        remove_namespace(name)
    return names


class Namespace:
    """A named network namespace created by a :class:`Topology`.

    Attributes:
        name: the namespace name (as ``ip netns list`` shows it).
        role: what the namespace plays in the topology (``client``, ``gwlb``...).
    """

    def __init__(self, name: str, role: str) -> None:
        self.name = name
        self.role = role

    def __repr__(self) -> str:
        return f"Namespace({self.name!r}, role={self.role!r})"

    @contextlib.contextmanager
    def iproute(self) -> Iterator[Any]:
        """An ``IPRoute`` bound to this namespace (closed on exit)."""
        ipr = IPRoute(netns=self.name, flags=0)
        try:
            yield ipr
        finally:
            ipr.close()

    def command(self, argv: Sequence[str]) -> list[str]:
        """The argv that runs ``argv`` inside this namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside the namespace (not tracked; see :meth:`Topology.start`)."""
        proc: subprocess.Popen[bytes] = subprocess.Popen(self.command(argv), **kwargs)
        return proc

    def run(
        self, argv: Sequence[str], *, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the namespace to completion, capturing text output.

        Raises:
            NamespaceError: ``check`` is set and the command failed or timed out.
        """
        try:
            result = subprocess.run(
                self.command(argv), capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise NamespaceError(f"{self.name}: {' '.join(argv)} timed out") from exc
        if check and result.returncode != 0:
            raise NamespaceError(
                f"{self.name}: {' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}"
            )
        return result

    def sysctl(self, key: str, value: str) -> None:
        """Write ``value`` to ``/proc/sys/<key>`` as seen from inside this namespace.

        The write happens in a forked child that joins the namespace, because the
        ``net.*`` part of /proc/sys shows the namespace of the process that opens it.

        Raises:
            NamespaceError: the key does not exist or cannot be written.
        """
        path = "/proc/sys/" + key.replace(".", "/")
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: join the namespace, write, report, exit without cleanup
            os.close(read_fd)
            code = 0
            try:
                netns.setns(self.name, flags=0, fork=False)
                with open(path, "w") as fh:
                    fh.write(value)
            except BaseException as exc:  # reported to the parent
                os.write(write_fd, str(exc).encode()[:500])
                code = 1
            os._exit(code)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as reader:
            message = reader.read().decode(errors="replace")
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise NamespaceError(f"{self.name}: sysctl {key}={value}: {message}")


class Topology:
    """Namespaces, links and processes that are removed together.

    Use as a context manager; :meth:`close` kills every process started with
    :meth:`start` and removes every namespace created with :meth:`namespace`.

    Args:
        prefix: first part of every namespace name (``<prefix>-<role>-<6 hex>``).
    """

    def __init__(self, prefix: str = "gwlbd") -> None:
        self.prefix = prefix
        self.token = secrets.token_hex(3)
        self.namespaces: dict[str, Namespace] = {}
        self._processes: list[subprocess.Popen[bytes]] = []
        self._links = 0
        self._closed = False

    def __enter__(self) -> Topology:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def namespace(self, role: str) -> Namespace:
        """Create a namespace for ``role`` with its loopback up.

        Raises:
            NamespaceError: the role is already taken or the namespace cannot be created.
        """
        if self._closed:
            raise NamespaceError("topology is closed")
        if role in self.namespaces:
            raise NamespaceError(f"role {role!r} already has a namespace")
        name = f"{self.prefix}-{role}-{secrets.token_hex(3)}"
        OWNER_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
        (OWNER_DIR / name).write_text(f"{os.getpid()} {_process_start_time(os.getpid())}\n")
        ns = Namespace(name, role)
        self.namespaces[role] = ns
        try:
            netns.create(name)
            with ns.iproute() as ipr:
                ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        except Exception as exc:
            raise NamespaceError(f"cannot create namespace {name}: {exc}") from exc
        return ns

    def link(
        self,
        a: Namespace,
        b: Namespace,
        addr_a: str | None,
        addr_b: str | None,
        *,
        mtu: int = 9001,
        master_a: str | None = None,
    ) -> tuple[str, str]:
        """Join ``a`` and ``b`` with a veth pair, address both ends and bring them up.

        Args:
            a: one end's namespace.
            b: the other end's namespace.
            addr_a: address with prefix for the end in ``a`` (``"198.18.0.1/30"``), or
                None for no address (a bridge port).
            addr_b: address with prefix for the end in ``b``, or None.
            mtu: MTU of both ends (9001, as on EC2, by default).
            master_a: a bridge in ``a`` (see :meth:`bridge`) the ``a`` end joins.

        Returns:
            The interface names in ``a`` and in ``b`` (each at most 15 characters).

        Raises:
            NamespaceError: an address is outside the lab ranges or netlink refused.
        """
        iface_a = None if addr_a is None else check_lab_address(addr_a)
        iface_b = None if addr_b is None else check_lab_address(addr_b)
        index = self._links
        self._links += 1
        name_a = f"v{index}a-{b.role}"[:IFNAME_MAX]
        name_b = f"v{index}b-{a.role}"[:IFNAME_MAX]
        try:
            with a.iproute() as ipr:
                ipr.link(
                    "add",
                    ifname=name_a,
                    kind="veth",
                    peer={"ifname": name_b, "net_ns_fd": b.name},
                )
            for ns, ifname, iface in ((a, name_a, iface_a), (b, name_b, iface_b)):
                with ns.iproute() as ipr:
                    idx = ipr.link_lookup(ifname=ifname)[0]
                    ipr.link("set", index=idx, mtu=mtu)
                    if ns is a and master_a is not None:
                        ipr.link("set", index=idx, master=ipr.link_lookup(ifname=master_a)[0])
                    if iface is not None:
                        _add_address(ipr, idx, iface)
                    ipr.link("set", index=idx, state="up")
        except NamespaceError:
            raise
        except Exception as exc:
            raise NamespaceError(f"cannot link {a.name} and {b.name}: {exc}") from exc
        return name_a, name_b

    def bridge(self, ns: Namespace, name: str, address: str | None, *, mtu: int = 9001) -> str:
        """Create bridge ``name`` in ``ns`` (up, with ``address`` if given); link ports to it
        with ``link(..., master_a=name)``.

        Raises:
            NamespaceError: the address is outside the lab ranges or netlink refused.
        """
        iface = None if address is None else check_lab_address(address)
        if len(name) > IFNAME_MAX:
            raise NamespaceError(f"interface name {name!r} is longer than {IFNAME_MAX}")
        try:
            with ns.iproute() as ipr:
                ipr.link("add", ifname=name, kind="bridge")
                idx = ipr.link_lookup(ifname=name)[0]
                ipr.link("set", index=idx, mtu=mtu)
                if iface is not None:
                    _add_address(ipr, idx, iface)
                ipr.link("set", index=idx, state="up")
        except Exception as exc:
            raise NamespaceError(f"{ns.name}: cannot create bridge {name}: {exc}") from exc
        return name

    def address(self, ns: Namespace, ifname: str, address: str) -> None:
        """Add one more ``address`` (with prefix) to interface ``ifname`` of ``ns``.

        Raises:
            NamespaceError: the address is outside the lab ranges or netlink refused.
        """
        iface = check_lab_address(address)
        try:
            with ns.iproute() as ipr:
                _add_address(ipr, ipr.link_lookup(ifname=ifname)[0], iface)
        except Exception as exc:
            raise NamespaceError(f"{ns.name}: cannot add {address} to {ifname}: {exc}") from exc

    def route(self, ns: Namespace, dst: str, via: str) -> None:
        """Add a route to ``dst`` (a prefix or ``"default"``) through gateway ``via``.

        Raises:
            NamespaceError: an address is outside the lab ranges or netlink refused.
        """
        gateway = check_lab_address(via).ip
        spec: dict[str, Any] = {
            "gateway": str(gateway),
            "family": 10 if gateway.version == 6 else 2,
        }
        if dst != "default":
            network = ipaddress.ip_network(dst, strict=False)
            check_lab_address(str(network.network_address))
            spec.update(dst=str(network.network_address), dst_len=network.prefixlen)
        try:
            with ns.iproute() as ipr:
                ipr.route("add", **spec)
        except Exception as exc:
            raise NamespaceError(f"{ns.name}: cannot add route {dst} via {via}: {exc}") from exc

    def start(self, ns: Namespace, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start ``argv`` in ``ns`` in its own process group; it is killed on :meth:`close`.

        Keyword arguments go to :class:`subprocess.Popen`.
        """
        if self._closed:
            raise NamespaceError("topology is closed")
        kwargs.setdefault("start_new_session", True)
        proc = ns.popen(argv, **kwargs)
        self._processes.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], *, grace: float = _KILL_GRACE_S) -> int | None:
        """Stop one started process: SIGTERM to its group, SIGKILL after ``grace`` seconds.

        Returns:
            The exit status (``None`` if it could not be reaped).
        """
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=wait)
        # children that outlived their group leader
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.poll()

    def close(self) -> None:
        """Kill started processes and remove the namespaces; safe to call again."""
        if self._closed:
            return
        self._closed = True
        # a second Ctrl-C (or SIGTERM, SIGHUP) during cleanup must not leave namespaces behind
        masked = threading.current_thread() is threading.main_thread()
        previous = {}
        if masked:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                previous[sig] = signal.signal(sig, signal.SIG_IGN)
        try:
            for proc in reversed(self._processes):
                self.stop(proc)
            for ns in reversed(list(self.namespaces.values())):
                remove_namespace(ns.name)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _add_address(
    ipr: Any, index: int, iface: ipaddress.IPv4Interface | ipaddress.IPv6Interface
) -> None:
    spec: dict[str, Any] = {}
    if iface.version == 6:
        spec["flags"] = _IFA_F_NODAD  # no duplicate address detection delay in a lab
    ipr.addr("add", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen, **spec)
