"""Fixtures for the end-to-end test: moto's HTTP server and the stack's resources in it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from moto.server import ThreadedMotoServer

from lambdas import runtime
from lambdas.env import Settings
from lambdas.runtime import Runtime
from lambdas.state import DynamoStateStore

from .moto_stack import MotoGapsAws, Stack, create_stack


class Clock:
    """A clock the Wait states move forward."""

    def __init__(self, now: float = 1_764_438_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region: nothing can reach AWS."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "gwlbd-test",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def moto_server() -> Iterator[str]:
    """moto's HTTP server on 127.0.0.1, an ephemeral port; yields its URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def stack(moto_server: str) -> Stack:
    """The stack in moto."""
    return create_stack(moto_server)


@pytest.fixture
def clock() -> Clock:
    """The runtime's clock."""
    return Clock()


@pytest.fixture
def gaps(stack: Stack) -> MotoGapsAws:
    """The boto3 adapter on moto's server, plus the behaviours moto lacks."""
    return MotoGapsAws(stack.session, stack.endpoint)


@pytest.fixture
def rt(stack: Stack, gaps: MotoGapsAws, clock: Clock) -> Iterator[Runtime]:
    """The runtime the handlers use: everything through moto's server."""
    settings = Settings(
        state_table="gwlbd-state",
        idempotency_table="gwlbd-idempotency",
        target_group_arn=stack.target_group_arn,
        asg_name=stack.asg_name,
        state_machine_arn=stack.state_machine_arn,
        healthy_timeout=300,
        poll_interval=15,
        heartbeat_interval=20,
        deregistration_delay=120,
        alert_topic_arn=stack.topic_arn,
    )
    installed = Runtime(
        settings=settings,
        aws=gaps,
        state=DynamoStateStore(settings.state_table, stack.session, stack.endpoint),
        persistence=DynamoDBPersistenceLayer(
            table_name=settings.idempotency_table,
            boto3_client=stack.session.client("dynamodb", endpoint_url=stack.endpoint),
        ),
        clock=clock,
    )
    runtime.install(installed)
    yield installed
    runtime.install(None)
