"""Step Functions Task states of the lifecycle workflow: ``begin``, ``check``, ``finish``.

Input: ``{"step": <name>, "state": <workflow document>}``; ``begin`` and ``check``
return the document updated, ``finish`` completes the lifecycle action (once per
action, see :mod:`lambdas.once`) and returns what it answered.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from lambdas import runtime
from lambdas.errors import MalformedEventError
from lambdas.finish import finish
from lambdas.models import problems_of
from lambdas.observability import logger, metrics, tracer
from lambdas.once import COMPLETE_ACTION, run_once
from lambdas.runtime import Runtime
from lambdas.steps import STEPS
from lambdas.workflow import WorkflowState


def parse_state(document: Any) -> WorkflowState:
    """Validate a workflow document.

    Raises:
        MalformedEventError: naming every offending field.
    """
    try:
        return WorkflowState.model_validate(document)
    except ValidationError as exc:
        raise MalformedEventError("workflow state", problems_of(exc)) from exc


def complete_once(
    rt: Runtime, st: WorkflowState, context: LambdaContext | None = None
) -> dict[str, Any]:
    """Finish the action unless it was already finished (the result is then replayed)."""

    def complete(_: dict[str, Any]) -> dict[str, Any]:
        result = finish(rt, st)
        verb = "Launch" if st.action.is_launch else "Terminate"
        name = f"{verb}{result['result'].title()}"
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        logger.info("lifecycle action completed", extra={"result": result})
        return result

    return run_once(
        rt.persistence,
        COMPLETE_ACTION,
        st.action.key,
        st.model_dump(mode="json"),
        complete,
        context=context,
    )


def run_step(
    rt: Runtime, step: str, st: WorkflowState, context: LambdaContext | None = None
) -> dict[str, Any]:
    """Run one named step."""
    if step == "finish":
        return complete_once(rt, st, context)
    fn = STEPS.get(step)
    if fn is None:
        known = ", ".join([*STEPS, "finish"])
        raise MalformedEventError("workflow step", [f"step: unknown {step!r} (known: {known})"])
    return fn(rt, st).model_dump(mode="json")


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run the step the Task state names."""
    metrics.add_metric(name="WorkflowSteps", unit=MetricUnit.Count, value=1)
    if not isinstance(event, dict):
        raise MalformedEventError("workflow step", ["(event): expected a JSON object"])
    step = str(event.get("step", ""))
    st = parse_state(event.get("state"))
    logger.append_keys(instance_id=st.action.instance_id, step=step, plan=st.plan)
    return run_step(runtime.current(), step, st, context)
