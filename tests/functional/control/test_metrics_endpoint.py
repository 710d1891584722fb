"""GET /metrics, parsed back with prometheus_client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from appliance.control.client import AdminClient
from appliance.control.fake import FakeStatusProvider
from appliance.wire.drops import DropReason

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _scrape(client: AdminClient) -> tuple[dict[str, str], Samples]:
    status, content_type, body = client.request("GET", "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    types: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return types, samples


def _key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def test_every_documented_family_is_exposed_with_its_type(tcp: AdminClient) -> None:
    types, _ = _scrape(tcp)
    expected = {
        "gwlbd_packets": "counter",
        "gwlbd_bytes": "counter",
        "gwlbd_drops": "counter",
        "gwlbd_flows_active": "gauge",
        "gwlbd_flows_created": "counter",
        "gwlbd_flows_expired": "counter",
        "gwlbd_flows_evicted": "counter",
        "gwlbd_worker_up": "gauge",
        "gwlbd_worker_restarts": "counter",
        "gwlbd_tunnel_packets": "counter",
        "gwlbd_tunnel_bytes": "counter",
        "gwlbd_healthy": "gauge",
        "gwlbd_draining": "gauge",
        "gwlbd_info": "gauge",  # info families are gauges in the 0.0.4 text format
        "gwlbd_policy_rule_hits": "counter",
        "gwlbd_policy_info": "gauge",
    }
    assert {name: types.get(name) for name in expected} == expected


def test_values_come_from_the_status_document(
    tcp: AdminClient, provider: FakeStatusProvider
) -> None:
    provider.counters["packets_in"] = 12345
    provider.drops["policy"] = 7
    provider.workers[1]["alive"] = False
    provider.counters["worker_restarts"] = 3
    _, samples = _scrape(tcp)
    assert samples[_key("gwlbd_packets_total", direction="in")] == 12345
    assert samples[_key("gwlbd_packets_total", direction="out")] == 1980
    assert samples[_key("gwlbd_bytes_total", direction="in")] == 300000
    assert samples[_key("gwlbd_drops_total", reason="policy")] == 7
    assert samples[_key("gwlbd_drops_total", reason="too_short")] == 0
    assert samples[_key("gwlbd_flows_active")] == 24
    assert samples[_key("gwlbd_flows_created_total")] == 40
    assert samples[_key("gwlbd_flows_expired_total")] == 16
    assert samples[_key("gwlbd_flows_evicted_total")] == 0
    assert samples[_key("gwlbd_worker_up", worker="0")] == 1
    assert samples[_key("gwlbd_worker_up", worker="1")] == 0
    assert samples[_key("gwlbd_worker_restarts_total")] == 3
    assert samples[_key("gwlbd_healthy")] == 0
    assert samples[_key("gwlbd_draining")] == 0
    assert samples[_key("gwlbd_info", version="0.1.0", mode="inline")] == 1
    endpoint = "0x0123456789abcdef"
    assert samples[_key("gwlbd_tunnel_packets_total", endpoint=endpoint, direction="in")] == 1000
    assert samples[_key("gwlbd_tunnel_bytes_total", endpoint=endpoint, direction="out")] == 148500
    assert samples[_key("gwlbd_tunnel_drops_total", endpoint=endpoint)] == 10
    assert samples[_key("gwlbd_policy_rule_hits_total", rule="static-deny", kind="packets")] == 20
    assert samples[_key("gwlbd_policy_info", version="static", source="builtin")] == 1
    assert samples[_key("gwlbd_uptime_seconds")] == provider.status()["uptime_s"]


def test_every_drop_reason_has_a_sample(tcp: AdminClient) -> None:
    _, samples = _scrape(tcp)
    reasons = {dict(labels)["reason"] for name, labels in samples if name == "gwlbd_drops_total"}
    assert reasons == {reason.value for reason in DropReason}


def test_draining_shows_in_metrics(admin: AdminClient, tcp: AdminClient) -> None:
    admin.post("/admin/drain")
    _, samples = _scrape(tcp)
    assert samples[_key("gwlbd_draining")] == 1
    assert samples[_key("gwlbd_healthy")] == 0


def test_a_starting_daemon_without_workers_or_tunnels_still_renders(
    tcp: AdminClient, provider: FakeStatusProvider
) -> None:
    provider.state = "starting"
    provider.workers = []
    provider.tunnels = []
    types, samples = _scrape(tcp)
    assert types["gwlbd_worker_up"] == "gauge"
    assert not [key for key in samples if key[0] == "gwlbd_worker_up"]
    assert samples[_key("gwlbd_healthy")] == 0


def test_tun_devices_counters_per_endpoint(tcp: AdminClient, provider: FakeStatusProvider) -> None:
    endpoint = "0x0123456789abcdef"
    _, samples = _scrape(tcp)
    assert not [name for name, _ in samples if name.startswith("gwlbd_tun_")]  # inline mode
    provider.tunnels[0]["interfaces"] = {
        "in": "gwi-x",
        "out": "gwo-x",
        "present": True,
        "in_packets": 990,
        "out_packets": 985,
        "in_bytes": 99000,
        "out_bytes": 98500,
        "write_failed": 2,
    }
    _, samples = _scrape(tcp)
    assert samples[_key("gwlbd_tun_packets_total", endpoint=endpoint, direction="to_kernel")] == 990
    assert samples[_key("gwlbd_tun_packets_total", endpoint=endpoint, direction="from_kernel")] == (
        985
    )
    assert samples[_key("gwlbd_tun_bytes_total", endpoint=endpoint, direction="to_kernel")] == 99000
    assert samples[_key("gwlbd_tun_write_failures_total", endpoint=endpoint)] == 2
