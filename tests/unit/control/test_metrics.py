"""Metric families derived from status documents (no server)."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from appliance.control.fake import FakeStatusProvider
from appliance.control.metrics import StatusCollector, render_metrics, status_metrics


def _values(status: dict[str, Any]) -> dict[str, float]:
    text = render_metrics(status).decode()
    return {
        sample.name + str(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_empty_document_renders_families_without_samples() -> None:
    families = {f.name: f.samples for f in status_metrics({})}
    assert families["gwlbd_packets"] == []
    assert families["gwlbd_worker_up"] == []
    assert [s.value for s in families["gwlbd_healthy"]] == [0.0]
    assert render_metrics({}).startswith(b"# HELP")


def test_values_that_are_not_numbers_are_skipped() -> None:
    status = FakeStatusProvider().status()
    status["counters"]["packets_in"] = "many"
    status["drops"]["policy"] = None
    status["tunnels"].append("not a tunnel")
    status["workers"][0]["heartbeat_age_s"] = None
    values = _values(status)
    assert "gwlbd_packets_total[('direction', 'in')]" not in values
    assert values["gwlbd_packets_total[('direction', 'out')]"] == 1980
    assert "gwlbd_drops_total[('reason', 'policy')]" not in values
    assert "gwlbd_worker_heartbeat_age_seconds[('worker', '0')]" not in values
    assert values["gwlbd_worker_heartbeat_age_seconds[('worker', '1')]"] == 0.05


def test_label_values_are_escaped() -> None:
    status = FakeStatusProvider().status()
    status["policy"]["rules"][0]["id"] = 'odd "rule"\nname'
    values = _values(status)
    assert (
        values["gwlbd_policy_rule_hits_total[('kind', 'flows'), ('rule', 'odd \"rule\"\\nname')]"]
        == 2
    )


def test_collector_reads_a_fresh_document_on_every_collection() -> None:
    provider = FakeStatusProvider()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatusCollector(provider.status))
    assert registry.get_sample_value("gwlbd_draining") == 0
    provider.drain()
    assert registry.get_sample_value("gwlbd_draining") == 1
    assert registry.get_sample_value("gwlbd_healthy") == 0
