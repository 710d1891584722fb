"""Recipe suricata end to end: Suricata watches gwi-X and alerts on lab traffic in eve.json.

Suricata comes from the distribution's packages. On Debian 12 it is not in the
default sources (bookworm main/updates/security have no ``suricata`` package; it is
in bookworm-backports), so there the test skips, saying so.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.dataplane.tun import interface_names
from tests.integration.tun.conftest import ENDPOINT, SERVER, TunRig, build_rig, need_nft, wait_for

pytestmark = pytest.mark.netns

NO_SURICATA = (
    "suricata is not installed: Debian 12's default sources (bookworm main, updates, "
    "security) have no suricata package (`apt-cache policy suricata`: Candidate none); "
    "install it from bookworm-backports or on Ubuntu/Amazon Linux to run this test"
)
RULES = (
    'alert tcp any any -> any 8080 (msg:"gwlbd lab marker"; '
    'content:"gwlbd-suricata-probe"; sid:9000002; rev:1;)\n'
)


@pytest.fixture
def suricata_rig(tmp_path: Path) -> Iterator[TunRig]:
    if shutil.which("suricata") is None:
        pytest.skip(NO_SURICATA)
    need_nft()
    (tmp_path / "lab.rules").write_text(RULES)
    env = {
        "GWLBD_SURICATA_RULES": str(tmp_path / "lab.rules"),
        "GWLBD_SURICATA_LOG_DIR": str(tmp_path / "suricata"),
        "GWLBD_RUN_DIR": str(tmp_path / "run"),
    }
    yield from build_rig(tmp_path, "suricata", with_server=True, with_internet=False, env=env)


def _alerts(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [e for e in events if e.get("event_type") == "alert"]


def test_suricata_alerts_on_lab_traffic_through_the_tunnel(suricata_rig: TunRig) -> None:
    rig = suricata_rig
    gwi, _ = interface_names(ENDPOINT)
    eve = rig.tmp / "suricata" / "eve.json"
    # GIVEN the tunnel and Suricata on gwi-X (the CREATE hook started it)
    rig.connect(SERVER, 8080, "warm-up", timeout=5)
    rig.wait_for_hook("CREATE")
    wait_for((rig.tmp / "run" / f"suricata-{gwi}.pid").exists, what="suricata pid")
    wait_for(eve.exists, timeout=60, what="suricata eve.json")
    # WHEN lab traffic carrying the marker crosses the appliance (Suricata may still be
    # loading: send until it alerts)
    answers = []

    def alerted() -> bool:
        answers.append(rig.connect(SERVER, 8080, "gwlbd-suricata-probe"))
        return any(a.get("alert", {}).get("signature_id") == 9000002 for a in _alerts(eve))

    wait_for(alerted, timeout=60, what="suricata alert")
    # THEN the traffic still flowed (Suricata only watches) and eve.json has the alert
    assert "hello 198.18.10.2 gwlbd-suricata-probe" in answers
    [alert, *_] = [a for a in _alerts(eve) if a.get("dest_port") == 8080]
    assert alert["src_ip"] == "198.18.10.2"
    assert alert["dest_ip"] == SERVER
