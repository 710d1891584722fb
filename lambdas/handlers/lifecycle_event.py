"""EventBridge ``EC2 Instance-launch|terminate Lifecycle Action`` -> start the workflow.

Idempotent on the lifecycle action token: a duplicate event starts nothing.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas import runtime
from lambdas.handlers.common import receive
from lambdas.intake import action_from_event, start_workflow
from lambdas.models import LifecycleActionEvent
from lambdas.observability import logger, metrics, tracer
from lambdas.once import START_WORKFLOW, run_once


@logger.inject_lambda_context(correlation_id_path="id")
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Start the lifecycle workflow for the action the event announces."""
    parsed = receive(LifecycleActionEvent, event, "lifecycle action")
    action = action_from_event(parsed)
    logger.append_keys(
        instance_id=action.instance_id, transition=action.transition.value, plan=action.plan
    )
    rt = runtime.current()

    def start(_: dict[str, Any]) -> dict[str, Any]:
        return start_workflow(rt, action, f"{parsed.detail_type} received")

    result = run_once(
        rt.persistence,
        START_WORKFLOW,
        action.key,
        {"action": action.model_dump(mode="json")},
        start,
        context=context,
    )
    logger.info("lifecycle action taken in", extra={"result": result})
    return result
