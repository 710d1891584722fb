"""What every handler does first: count the event and parse it, logging a refusal."""

from __future__ import annotations

from typing import Any, TypeVar

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel

from lambdas.errors import MalformedEventError
from lambdas.models import parse_event
from lambdas.observability import logger, metrics

M = TypeVar("M", bound=BaseModel)


def receive(model: type[M], event: Any, kind: str) -> M:
    """Count the event and parse it.

    A malformed event is counted (``MalformedEvents``), logged with every problem, and
    re-raised: the invocation fails before any side effect, Lambda's asynchronous retries
    fail the same way, and the event ends in the function's dead-letter queue.

    Raises:
        MalformedEventError: the event does not match ``model``.
    """
    metrics.add_metric(name="EventsReceived", unit=MetricUnit.Count, value=1)
    try:
        return parse_event(model, event, kind)
    except MalformedEventError as exc:
        metrics.add_metric(name="MalformedEvents", unit=MetricUnit.Count, value=1)
        logger.error("malformed event refused", extra={"kind": kind, "problems": exc.problems})
        raise
