"""EventBridge ``Step Functions Execution Status Change`` (FAILED, TIMED_OUT, ABORTED).

A workflow that ends without reaching ``Finish`` (its Lambda kept failing, it timed out,
someone stopped it) would leave the lifecycle action to the hook's timeout; this handler
answers it now (ABANDON a launch, CONTINUE a terminate) through the same once-per-action
completion, so an action the workflow did complete is not completed again.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas import runtime
from lambdas.errors import MalformedEventError
from lambdas.handlers.common import receive
from lambdas.handlers.workflow_steps import complete_once, parse_state
from lambdas.models import ExecutionStatusEvent
from lambdas.observability import logger, metrics, tracer
from lambdas.workflow import StepError


@logger.inject_lambda_context(correlation_id_path="id")
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Complete the lifecycle action of an execution that did not finish."""
    parsed = receive(ExecutionStatusEvent, event, "execution status change")
    detail = parsed.detail
    try:
        document = json.loads(detail.input or "")
    except json.JSONDecodeError as exc:
        raise MalformedEventError("execution status change", [f"detail.input: {exc}"]) from exc
    st = parse_state(document)
    cause = detail.cause or detail.error or ""
    st = st.model_copy(update={"error": StepError(Error=f"execution {detail.status}", Cause=cause)})
    logger.append_keys(instance_id=st.action.instance_id, execution=detail.execution_arn)
    logger.warning("workflow ended without finishing", extra={"status": detail.status})
    return complete_once(runtime.current(), st, context)
