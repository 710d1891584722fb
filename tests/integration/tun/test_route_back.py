"""Recipe route-back end to end: client, GWLB, gwlbd (tun), gwi, nftables, gwo, GWLB, server."""

from __future__ import annotations

import sys

import pytest

from appliance.dataplane.tun import interface_names
from tests.integration.tun.conftest import ENDPOINT, SERVER, TunRig, wait_for

pytestmark = pytest.mark.netns


def test_route_back_forwards_through_the_kernel_firewall(route_back: TunRig) -> None:
    rig = route_back
    gwi, gwo = interface_names(ENDPOINT)
    # GIVEN the endpoint's devices exist (the first packet creates them) and the
    # CREATE hook (the recipe) has run
    first = rig.connect(SERVER, 8080, "warm-up", timeout=5)
    rig.wait_for_hook("CREATE")
    # THEN the daemon configured them itself: up, MTU 8500, rp_filter 0
    links = rig.appliance.run(["ip", "-o", "link", "show"]).stdout
    assert f"{gwi}:" in links
    assert f"{gwo}:" in links
    assert "mtu 8500" in rig.appliance.run(["ip", "-o", "link", "show", gwi]).stdout

    def rp_filter(ifname: str) -> str:
        path = f"/proc/sys/net/ipv4/conf/{ifname}/rp_filter"
        return rig.appliance.run(["cat", path]).stdout.strip()

    assert rp_filter(gwi) == "0"
    assert rp_filter(gwo) == "0"
    # all was 1 (the fixture set it): lowered to 0, while every other interface now has
    # its own 1, so its effective filter (the maximum of the two) did not change
    assert rp_filter("all") == "0"
    others = rig.appliance.run(["ls", "/proc/sys/net/ipv4/conf"]).stdout.split()
    veths = [name for name in others if name.startswith("v")]
    assert veths
    for name in [*veths, "default"]:
        assert rp_filter(name) == "1", name
    # WHEN the client talks to the server on an allowed port
    answer = rig.connect(SERVER, 8080, "ping")
    # THEN the server answers, and sees the client's own address (no NAT in route-back)
    assert answer == "hello 198.18.10.2 ping", (first, answer)
    # WHEN the client tries the port the recipe's nftables rule blocks (telnet)
    blocked = rig.connect(SERVER, 23, "nope", timeout=2)
    # THEN nothing gets through
    assert blocked.startswith("FAILED"), blocked
    nft = rig.appliance.run(["nft", "list", "table", "inet", "gwlbd_route_back"]).stdout
    assert "tcp dport 23" in nft

    # AND /status shows the tunnel's interfaces and their counters
    def counted() -> bool:
        [tunnel] = rig.status()["tunnels"]
        interfaces = tunnel["interfaces"]
        return bool(interfaces["in_packets"] >= 6 and interfaces["out_packets"] >= 6)

    wait_for(counted, what="interface counters")
    status = rig.status()
    assert status["mode"] == "tun"
    [tunnel] = status["tunnels"]
    assert tunnel["interfaces"]["in"] == gwi
    assert tunnel["interfaces"]["out"] == gwo
    assert len(status["workers"]) == 1
    assert any(e["kind"] == "tun-workers" for e in status["events"])
    assert rig.peer_counts()["bad"] == {}


def test_sigterm_runs_the_destroy_hook(route_back: TunRig) -> None:
    rig = route_back
    gwi, _ = interface_names(ENDPOINT)
    rig.connect(SERVER, 8080, "hello", timeout=5)
    rig.wait_for_hook("CREATE")
    assert f"iif {gwi}" in rig.appliance.run(["ip", "rule", "show"]).stdout
    # WHEN the daemon is told to stop
    assert rig.stop_daemon() == 0
    # THEN the DESTROY hook ran (the recipe removed its rule) and the devices are gone
    assert f"DESTROY hook for {gwi} done" in rig.log()
    assert f"iif {gwi}" not in rig.appliance.run(["ip", "rule", "show"]).stdout
    links = rig.appliance.run(["ip", "-o", "link", "show"], check=False).stdout
    assert gwi not in links


def test_a_packet_of_no_known_flow_is_dropped_and_counted(route_back: TunRig) -> None:
    rig = route_back
    gwi, _ = interface_names(ENDPOINT)
    rig.connect(SERVER, 8080, "hello", timeout=5)
    rig.wait_for_hook("CREATE")
    before = rig.status()["drops"]["no_flow"]
    # WHEN the appliance itself sends into the tunnel a flow the GWLB never sent
    code = (
        "import socket\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        f"s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b'{gwi}')\n"
        "for _ in range(3): s.sendto(b'x', ('198.18.30.2', 9))\n"
    )
    rig.appliance.run([sys.executable, "-c", code])
    # THEN it never reaches the GWLB: dropped and counted as no_flow
    wait_for(lambda: rig.status()["drops"]["no_flow"] >= before + 3, what="no_flow drops")
    assert rig.peer_counts()["bad"] == {}


def test_an_idle_endpoint_loses_its_devices_and_the_destroy_hook_runs(
    route_back_idle: TunRig,
) -> None:
    rig = route_back_idle
    gwi, _ = interface_names(ENDPOINT)
    assert rig.connect(SERVER, 8080, "hi", timeout=5).startswith(("hello", "FAILED"))
    rig.wait_for_hook("CREATE")
    # WHEN no packet crosses the endpoint for longer than --tun-idle-timeout
    rig.wait_for_hook("DESTROY")
    # THEN its devices are gone, the recipe's rule too, and /status says so
    assert gwi not in rig.appliance.run(["ip", "-o", "link", "show"]).stdout
    assert f"iif {gwi}" not in rig.appliance.run(["ip", "rule", "show"]).stdout
    wait_for(
        lambda: rig.status()["tunnels"][0]["interfaces"]["present"] is False,
        what="interfaces gone in /status",
    )
    # AND new traffic brings them back
    rig.connect(SERVER, 8080, "again", timeout=5)
    wait_for(lambda: gwi in rig.appliance.run(["ip", "-o", "link", "show"]).stdout, what="back")
