"""EventBridge ``Parameter Store Change`` of the policy parameter -> validate and publish."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas import runtime
from lambdas.handlers.common import receive
from lambdas.models import ParameterChangeEvent
from lambdas.observability import logger, metrics, tracer
from lambdas.once import PUBLISH_POLICY, run_once
from lambdas.policy_publish import PUBLISHING_OPERATIONS, publish


@logger.inject_lambda_context(correlation_id_path="id")
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Publish the parameter's newest version if it is a valid policy (once per event)."""
    parsed = receive(ParameterChangeEvent, event, "parameter change")
    name, operation = parsed.detail.name, parsed.detail.operation
    rt = runtime.current()
    if name != rt.settings.policy_parameter or operation not in PUBLISHING_OPERATIONS:
        logger.info("parameter change ignored", extra={"parameter": name, "operation": operation})
        return {"ignored": True, "parameter": name, "operation": operation}

    def run(_: dict[str, Any]) -> dict[str, Any]:
        result = publish(rt, name)
        if result.accepted:
            metrics.add_metric(name="PolicyPublished", unit=MetricUnit.Count, value=1)
            logger.info("policy version published", extra=asdict(result))
        else:
            metrics.add_metric(name="PolicyRejected", unit=MetricUnit.Count, value=1)
            logger.error("policy version rejected", extra=asdict(result))
        return asdict(result)

    return run_once(rt.persistence, PUBLISH_POLICY, parsed.id, {"name": name}, run, context=context)
