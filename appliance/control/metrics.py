"""Prometheus metrics, derived from the ``gwlbd.status/v1`` document and nothing else.

:class:`StatusCollector` is a ``prometheus_client`` custom collector: each collection
asks for one status document and turns it into the families listed in
``docs/status-api.md``. :func:`render_metrics` renders a document in the text
exposition format through a private registry (never the process-global one).

Missing sections (a daemon still starting has no workers or tunnels yet) yield
families without samples; values that are not numbers are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import CollectorRegistry

CONTENT_TYPE: Final[str] = CONTENT_TYPE_PLAIN_0_0_4
"""Content type of :func:`render_metrics` output: text format 0.0.4 (every Prometheus reads it)."""

_RULE_KINDS: Final = ("flows", "packets", "bytes")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _records(value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _add(family: CounterMetricFamily | GaugeMetricFamily, labels: list[str], value: Any) -> None:
    number = _number(value)
    if number is not None:
        family.add_metric(labels, number)


def _gauge(name: str, doc: str, value: Any) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[])
    _add(family, [], value)
    return family


def _counter(name: str, doc: str, value: Any) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=[])
    _add(family, [], value)
    return family


def _traffic(counters: Mapping[str, Any]) -> Iterator[Metric]:
    packets = CounterMetricFamily(
        "gwlbd_packets", "Packets through the appliance.", labels=["direction"]
    )
    octets = CounterMetricFamily(
        "gwlbd_bytes", "Bytes through the appliance.", labels=["direction"]
    )
    for direction in ("in", "out"):
        _add(packets, [direction], counters.get(f"packets_{direction}"))
        _add(octets, [direction], counters.get(f"bytes_{direction}"))
    yield packets
    yield octets
    yield _gauge("gwlbd_flows_active", "Flows currently tracked.", counters.get("flows_active"))
    for what, text in (
        ("created", "Flows created."),
        ("expired", "Flows removed after their idle timeout."),
        ("evicted", "Flows evicted because the flow table was full."),
    ):
        yield _counter(f"gwlbd_flows_{what}", text, counters.get(f"flows_{what}"))
    yield _counter(
        "gwlbd_worker_restarts", "Data-plane worker restarts.", counters.get("worker_restarts")
    )


def _drops(drops: Mapping[str, Any]) -> Iterator[Metric]:
    family = CounterMetricFamily("gwlbd_drops", "Datagrams dropped, by reason.", labels=["reason"])
    for reason in sorted(drops):
        _add(family, [str(reason)], drops[reason])
    yield family


def _workers(workers: list[Mapping[str, Any]]) -> Iterator[Metric]:
    up = GaugeMetricFamily(
        "gwlbd_worker_up", "1 when the worker is alive and its loop is turning.", labels=["worker"]
    )
    age = GaugeMetricFamily(
        "gwlbd_worker_heartbeat_age_seconds",
        "Seconds since the worker last reported.",
        labels=["worker"],
    )
    for worker in workers:
        index = str(worker.get("index", "?"))
        _add(up, [index], bool(worker.get("alive")))
        _add(age, [index], worker.get("heartbeat_age_s"))
    yield up
    yield age


def _tunnels(tunnels: list[Mapping[str, Any]]) -> Iterator[Metric]:
    labels = ["endpoint", "direction"]
    packets = CounterMetricFamily(
        "gwlbd_tunnel_packets", "Packets per GWLB endpoint.", labels=labels
    )
    octets = CounterMetricFamily("gwlbd_tunnel_bytes", "Bytes per GWLB endpoint.", labels=labels)
    drops = CounterMetricFamily(
        "gwlbd_tunnel_drops", "Datagrams dropped per GWLB endpoint.", labels=["endpoint"]
    )
    flows = GaugeMetricFamily(
        "gwlbd_tunnel_flows_active",
        "Flows currently tracked per GWLB endpoint.",
        labels=["endpoint"],
    )
    # tun mode: what went through each endpoint's devices (gwi-X in, gwi-X/gwo-X out)
    tun_labels = ["endpoint", "direction"]
    tun_packets = CounterMetricFamily(
        "gwlbd_tun_packets",
        "tun mode: packets written to an endpoint's gwi device (to_kernel) and read "
        "back from its devices (from_kernel).",
        labels=tun_labels,
    )
    tun_octets = CounterMetricFamily(
        "gwlbd_tun_bytes", "tun mode: bytes of those packets.", labels=tun_labels
    )
    tun_failed = CounterMetricFamily(
        "gwlbd_tun_write_failures",
        "tun mode: packets the kernel refused on an endpoint's gwi device.",
        labels=["endpoint"],
    )
    for tunnel in tunnels:
        endpoint = str(tunnel.get("endpoint_id", ""))
        for direction in ("in", "out"):
            _add(packets, [endpoint, direction], tunnel.get(f"packets_{direction}"))
            _add(octets, [endpoint, direction], tunnel.get(f"bytes_{direction}"))
        _add(drops, [endpoint], tunnel.get("drops"))
        _add(flows, [endpoint], tunnel.get("flows_active"))
        devices = _mapping(tunnel.get("interfaces"))
        for direction, side in (("to_kernel", "in"), ("from_kernel", "out")):
            _add(tun_packets, [endpoint, direction], devices.get(f"{side}_packets"))
            _add(tun_octets, [endpoint, direction], devices.get(f"{side}_bytes"))
        _add(tun_failed, [endpoint], devices.get("write_failed"))
    yield from (packets, octets, drops, flows, tun_packets, tun_octets, tun_failed)


def _policy(policy: Mapping[str, Any]) -> Iterator[Metric]:
    hits = CounterMetricFamily(
        "gwlbd_policy_rule_hits",
        "Flows, packets and bytes decided by each rule.",
        labels=["rule", "kind"],
    )
    for rule in _records(policy.get("rules")):
        rule_id = str(rule.get("id", ""))
        for kind in _RULE_KINDS:
            _add(hits, [rule_id, kind], rule.get(kind))
    yield hits
    info = InfoMetricFamily("gwlbd_policy", "The policy in force.", labels=["version", "source"])
    if policy:
        info.add_metric([str(policy.get("version", "")), str(policy.get("source", ""))], {})
    yield info


def status_metrics(status: Mapping[str, Any]) -> Iterator[Metric]:
    """The metric families of one ``gwlbd.status/v1`` document."""
    yield from _traffic(_mapping(status.get("counters")))
    yield from _drops(_mapping(status.get("drops")))
    yield from _workers(_records(status.get("workers")))
    yield from _tunnels(_records(status.get("tunnels")))
    yield _gauge(
        "gwlbd_healthy",
        "1 when the daemon answers /healthz with 200.",
        status.get("healthy") is True,
    )
    yield _gauge(
        "gwlbd_draining", "1 while the daemon is draining.", status.get("state") == "draining"
    )
    yield _gauge(
        "gwlbd_uptime_seconds", "Seconds since the daemon started.", status.get("uptime_s")
    )
    info = InfoMetricFamily("gwlbd", "The running daemon.", labels=["version", "mode"])
    info.add_metric([str(status.get("version", "")), str(status.get("mode", ""))], {})
    yield info
    yield from _policy(_mapping(status.get("policy")))


class StatusCollector:
    """A custom collector that reads one status document per collection.

    Args:
        source: returns the current ``gwlbd.status/v1`` document
            (usually ``StatusProvider.status``).
    """

    def __init__(self, source: Callable[[], Mapping[str, Any]]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        """Yield the metric families of the current status document."""
        yield from status_metrics(self._source())


class _Fixed:
    def __init__(self, status: Mapping[str, Any]) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        yield from status_metrics(self._status)


def render_metrics(status: Mapping[str, Any]) -> bytes:
    """Render a status document in the Prometheus text exposition format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(status))
    data: bytes = generate_latest(registry)
    return data
