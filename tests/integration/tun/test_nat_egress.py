"""Recipe nat-egress end to end: a client behind the GWLB reaches the "internet" only via NAT.

The internet namespace has no route back to the client's network, so an answer can
only arrive if the appliance masqueraded the connection out of its uplink and sent the
de-NATed replies back through the tunnel (gwo-X, then GENEVE to the GWLB).
"""

from __future__ import annotations

import pytest

from appliance.dataplane.tun import interface_names
from tests.integration.tun.conftest import ENDPOINT, INTERNET, UPLINK, TunRig, wait_for

pytestmark = pytest.mark.netns


def test_client_reaches_the_internet_only_through_the_appliance_nat(nat_egress: TunRig) -> None:
    rig = nat_egress
    _, gwo = interface_names(ENDPOINT)
    # GIVEN the tunnel exists and the nat-egress hook has run
    rig.connect(INTERNET, 8080, "warm-up", timeout=5)
    rig.wait_for_hook("CREATE")
    # WHEN the client connects to a server on the internet
    answer = rig.connect(INTERNET, 8080, "ping")
    # THEN it gets an answer, and the server saw the appliance's uplink address (NAT)
    assert answer == f"hello {UPLINK} ping"

    # AND the replies went back through the tunnel: read from gwo, returned to the GWLB
    # with the flow's GENEVE header (the peer checks it and counts nothing bad)
    def returned() -> bool:
        [tunnel] = rig.status()["tunnels"]
        return bool(tunnel["interfaces"]["out_packets"] >= 3)

    wait_for(returned, what="replies out of the tunnel")
    assert rig.peer_counts()["bad"] == {}
    assert rig.peer_counts()["delivered"] >= 3
    routes = rig.appliance.run(["ip", "route", "show", "table", "all"]).stdout
    assert f"default dev {gwo}" in routes
    # AND without the appliance's NAT there is no way back: the internet has no route
    # to the client's network
    assert "198.18.10." not in rig.others["internet"].run(["ip", "route"]).stdout


def test_denied_traffic_never_reaches_the_kernel(nat_egress: TunRig) -> None:
    rig = nat_egress
    rig.connect(INTERNET, 8080, "warm-up", timeout=5)
    rig.wait_for_hook("CREATE")
    in_before = rig.settled(lambda s: int(s["tunnels"][0]["interfaces"]["in_packets"]))
    # WHEN the client tries a network the daemon's deny list (--deny-cidr) refuses
    answer = rig.connect("198.18.21.1", 8080, "x", timeout=2)
    assert answer.startswith("FAILED")
    # THEN the drops are counted by the policy and nothing of it was written to gwi
    wait_for(lambda: rig.status()["drops"]["policy"] >= 1, what="policy drops")
    assert rig.settled(lambda s: int(s["tunnels"][0]["interfaces"]["in_packets"])) == in_before
