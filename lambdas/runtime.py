"""What every handler works with: settings, AWS, the state table, idempotency, a clock.

Handlers call :func:`current`, which builds a :class:`Runtime` from the environment on
first use (once per Lambda container, so clients are reused across invocations). Tests
and local runs :func:`install` their own (a fake AWS, moto, a controllable clock).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import boto3
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

from lambdas.aws import LifecycleAws
from lambdas.boto_adapter import CLIENT_CONFIG, Boto3Aws
from lambdas.env import Settings
from lambdas.state import DynamoStateStore, StateStore


@dataclass
class Runtime:
    """The dependencies of the domain code."""

    settings: Settings
    """Configuration."""
    aws: LifecycleAws
    """AWS operations."""
    state: StateStore
    """Instance and policy records."""
    persistence: BasePersistenceLayer
    """Powertools idempotency persistence layer."""
    clock: Callable[[], float] = field(default=time.time)
    """Unix seconds now."""

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        session: boto3.session.Session | None = None,
        endpoint_url: str | None = None,
    ) -> Runtime:
        """The real thing: boto3 clients (to ``endpoint_url`` when given) and DynamoDB."""
        s = session or boto3.session.Session()
        return cls(
            settings=settings,
            aws=Boto3Aws(s, endpoint_url),
            state=DynamoStateStore(settings.state_table, s, endpoint_url),
            persistence=DynamoDBPersistenceLayer(
                table_name=settings.idempotency_table,
                boto3_client=s.client("dynamodb", endpoint_url=endpoint_url, config=CLIENT_CONFIG),
            ),
        )


_current: Runtime | None = None


def current() -> Runtime:
    """The installed runtime, built from the environment on first use."""
    global _current  # noqa: PLW0603 - one runtime per Lambda container, by design
    if _current is None:
        _current = Runtime.from_settings(Settings.from_env())
    return _current


def install(runtime: Runtime | None) -> None:
    """Use ``runtime`` from now on (None: build from the environment again on next use)."""
    global _current  # noqa: PLW0603
    _current = runtime
