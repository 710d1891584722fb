"""EventBridge schedule -> reconcile drift, then sweep target health."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas import runtime
from lambdas.handlers.common import receive
from lambdas.health import sweep
from lambdas.models import ScheduledEvent
from lambdas.observability import logger, metrics, tracer
from lambdas.reconcile import reconcile


@logger.inject_lambda_context(correlation_id_path="id")
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One reconciliation pass and one health sweep; reports every repair."""
    receive(ScheduledEvent, event, "schedule")
    rt = runtime.current()
    repairs = reconcile(rt)
    for repair in repairs:
        logger.warning("drift repaired", extra=asdict(repair))
        metrics.add_metric(name=f"Repair-{repair.kind}", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="DriftRepairs", unit=MetricUnit.Count, value=len(repairs))
    if repairs and rt.settings.alert_topic_arn:
        rt.aws.publish_alert(
            rt.settings.alert_topic_arn,
            f"gwlbd: reconciler repaired {len(repairs)} drift(s)",
            json.dumps([asdict(r) for r in repairs], indent=2),
        )
    report = sweep(rt)
    metrics.add_metric(name="UnhealthyReplaced", unit=MetricUnit.Count, value=len(report.replaced))
    return {"repairs": [asdict(r) for r in repairs], "health": asdict(report)}
