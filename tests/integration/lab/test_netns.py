"""The namespace toolkit creates real namespaces, links and processes and removes them all."""

from __future__ import annotations

import pytest
from pyroute2 import netns

from appliance.lab.errors import NamespaceError
from appliance.lab.netns import (
    OWNER_DIR,
    Topology,
    remove_stale_namespaces,
    stale_namespaces,
)

pytestmark = pytest.mark.netns

PREFIX = "gwlbd-labtest"


def test_topology_links_routes_and_removes_everything() -> None:
    # GIVEN two namespaces joined by a veth pair and a process running in one of them
    with Topology(PREFIX) as topo:
        client = topo.namespace("client")
        gwlb = topo.namespace("gwlb")
        server = topo.namespace("server")
        c_if, g_if = topo.link(client, gwlb, "198.18.0.1/30", "198.18.0.2/30")
        topo.link(gwlb, server, "198.18.0.5/30", "198.18.0.6/30", mtu=1500)
        topo.route(client, "198.18.0.4/30", "198.18.0.2")
        topo.route(server, "default", "198.18.0.5")
        gwlb.sysctl("net.ipv4.ip_forward", "1")
        sleeper = topo.start(client, ["sleep", "600"])
        names = [ns.name for ns in topo.namespaces.values()]

        # THEN the names follow the scheme, the links carry traffic through the router
        assert all(name.startswith(f"{PREFIX}-") for name in names)
        assert set(names) <= set(netns.listnetns())
        assert len(c_if) <= 15
        assert len(g_if) <= 15
        assert "mtu 9001" in client.run(["ip", "link", "show", c_if]).stdout
        assert gwlb.run(["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip() == "1"
        assert client.run(["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip() == "0"
        client.run(["ping", "-c", "1", "-W", "2", "198.18.0.6"])
        assert stale_namespaces(PREFIX) == []  # our owner is alive

    # WHEN the topology is closed THEN the process is dead and no namespace is left
    assert sleeper.poll() is not None
    assert not set(names) & set(netns.listnetns())
    topo.close()  # idempotent


def test_topology_cleans_up_after_an_exception() -> None:
    names: list[str] = []

    def build_and_fail() -> None:
        with Topology(PREFIX) as topo:
            names.append(topo.namespace("a").name)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        build_and_fail()
    assert names
    assert not set(names) & set(netns.listnetns())


def test_addresses_outside_the_lab_range_are_refused() -> None:
    with Topology(PREFIX) as topo:
        a, b = topo.namespace("a"), topo.namespace("b")
        with pytest.raises(NamespaceError, match="outside the lab range"):
            topo.link(a, b, "10.0.0.1/30", "10.0.0.2/30")
        topo.link(a, b, "198.18.0.1/30", "198.18.0.2/30")
        with pytest.raises(NamespaceError, match="outside the lab range"):
            topo.route(a, "default", "192.0.2.1")


def test_run_reports_failures() -> None:
    with Topology(PREFIX) as topo:
        ns = topo.namespace("a")
        assert ns.run(["false"], check=False).returncode == 1
        with pytest.raises(NamespaceError, match="exited 1"):
            ns.run(["false"])
        with pytest.raises(NamespaceError, match="sysctl"):
            ns.sysctl("net.ipv4.no_such_key", "1")


def test_leftovers_of_a_dead_owner_are_found_and_removed() -> None:
    # GIVEN a namespace whose owner record names a process that no longer exists
    name = f"{PREFIX}-stale-000000"
    OWNER_DIR.mkdir(parents=True, exist_ok=True)
    (OWNER_DIR / name).write_text("999999999 1\n")
    netns.create(name)
    try:
        # WHEN stale namespaces are looked up and removed
        assert name in stale_namespaces(PREFIX)
        assert name in remove_stale_namespaces(PREFIX)
        # THEN it is gone, and so is its owner record
        assert name not in netns.listnetns()
        assert not (OWNER_DIR / name).exists()
    finally:
        if name in netns.listnetns():
            netns.remove(name)
