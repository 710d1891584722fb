"""EventBridge ``CloudWatch Alarm State Change`` of the UnHealthyHostCount alarm -> sweep."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas import runtime
from lambdas.handlers.common import receive
from lambdas.health import sweep
from lambdas.models import AlarmStateChangeEvent
from lambdas.observability import logger, metrics, tracer


@logger.inject_lambda_context(correlation_id_path="id")
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Look at every target now: the alarm says some went unhealthy (or recovered)."""
    parsed = receive(AlarmStateChangeEvent, event, "alarm state change")
    logger.info(
        "unhealthy-host alarm changed",
        extra={"alarm": parsed.detail.alarm_name, "state": parsed.detail.state.value},
    )
    report = sweep(runtime.current())
    metrics.add_metric(name="UnhealthyReplaced", unit=MetricUnit.Count, value=len(report.replaced))
    return asdict(report)
