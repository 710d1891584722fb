"""Run a side effect once per key, with Powertools Idempotency on the DynamoDB table.

Both the lifecycle event handler and the workflow's finish step (and the handler that
rescues failed executions) go through :func:`run_once`, so a duplicate EventBridge event,
a Step Functions retry or a rescue after a failure produce one side effect: one workflow
started per lifecycle action token, one ``CompleteLifecycleAction`` per action.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext

START_WORKFLOW = "start-lifecycle-workflow"
COMPLETE_ACTION = "complete-lifecycle-action"
PUBLISH_POLICY = "publish-policy"

RECORD_TTL_SECONDS = 2 * 24 * 3600
"""Idempotency records outlive the longest hook timeout (2 h) and event redelivery by far."""


KEY_PATH = "key"
"""Where the key sits in the payload. Powertools configures a persistence layer once, on
first use, so every caller must use the same path: the payload is always ``{key, data}``."""


def run_once(
    persistence: BasePersistenceLayer,
    key_prefix: str,
    key: str,
    data: dict[str, Any],
    fn: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    context: LambdaContext | None = None,
) -> dict[str, Any]:
    """Call ``fn(data)`` unless a call with the same key already succeeded.

    Args:
        persistence: the idempotency persistence layer.
        key_prefix: names the side effect; callers sharing it share their keys.
        key: the idempotency key (a lifecycle action token, an event id).
        data: what ``fn`` receives; must be JSON-serialisable.
        fn: the side effect; its JSON-serialisable result is stored and replayed.
        context: the Lambda context, so that a record left "in progress" by an invocation
            that timed out expires with that invocation.

    Returns:
        ``fn``'s result, fresh or replayed.

    Raises:
        IdempotencyAlreadyInProgressError: a call with that key is running right now.
        IdempotencyKeyError: ``key`` is empty.
    """
    config = IdempotencyConfig(
        event_key_jmespath=KEY_PATH,
        raise_on_no_idempotency_key=True,
        expires_after_seconds=RECORD_TTL_SECONDS,
    )
    if context is not None:
        config.register_lambda_context(context)

    def side_effect(payload: dict[str, Any]) -> dict[str, Any]:
        return fn(payload["data"])

    guarded = idempotent_function(
        side_effect,
        data_keyword_argument="payload",
        persistence_store=persistence,
        config=config,
        key_prefix=key_prefix,
    )
    result: dict[str, Any] = guarded(payload={KEY_PATH: key or None, "data": data})
    return result
