"""Fixtures: moto DynamoDB for the state and idempotency tables, the in-memory AWS fake,
a controllable clock, the installed runtime, and the sample events from ``events/``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from moto import mock_aws

from lambdas import runtime
from lambdas.env import Settings
from lambdas.fake_aws import FakeAws
from lambdas.local_workflow import LocalContext, LocalWorkflow, handler_invoke
from lambdas.runtime import Runtime
from lambdas.state import DynamoStateStore

EVENTS = Path(__file__).resolve().parents[3] / "events"
TG_ARN = (
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/gwlbd-geneve/0123456789abcdef"
)
SM_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:gwlbd-lifecycle"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:gwlbd-alerts"
ASG = "gwlbd-appliances"


class Clock:
    """A clock the tests move by hand (Wait states advance it)."""

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
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "gwlbd-test",
    }.items():
        monkeypatch.setenv(name, value)


def create_tables(session: boto3.session.Session, endpoint_url: str | None = None) -> None:
    """The two tables of the stack, with the template's key schemas."""
    ddb = session.client("dynamodb", endpoint_url=endpoint_url)
    for name, key in (("gwlbd-state", "pk"), ("gwlbd-idempotency", "id")):
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )


@pytest.fixture
def settings() -> Settings:
    """Settings as the template sets them, with short waits."""
    return Settings(
        state_table="gwlbd-state",
        idempotency_table="gwlbd-idempotency",
        target_group_arn=TG_ARN,
        asg_name=ASG,
        state_machine_arn=SM_ARN,
        healthy_timeout=300,
        poll_interval=15,
        heartbeat_interval=60,
        deregistration_delay=120,
        unhealthy_grace=90,
        missed_event_grace=60,
        alert_topic_arn=TOPIC_ARN,
    )


@pytest.fixture
def clock() -> Clock:
    """The runtime's clock."""
    return Clock()


@pytest.fixture
def fake() -> FakeAws:
    """In-memory AWS."""
    return FakeAws()


@pytest.fixture
def rt(settings: Settings, fake: FakeAws, clock: Clock) -> Iterator[Runtime]:
    """The installed runtime: fake AWS, moto DynamoDB."""
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        create_tables(session)
        installed = Runtime(
            settings=settings,
            aws=fake,
            state=DynamoStateStore(settings.state_table, session),
            persistence=DynamoDBPersistenceLayer(
                table_name=settings.idempotency_table, boto3_client=session.client("dynamodb")
            ),
            clock=clock,
        )
        runtime.install(installed)
        yield installed
        runtime.install(None)


@pytest.fixture
def context() -> LocalContext:
    """A Lambda context."""
    return LocalContext()


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    """Read a sample event from ``events/``."""

    def load(name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
        return loaded

    return load


@pytest.fixture
def table_items(rt: Runtime) -> Callable[[str], list[dict[str, Any]]]:
    """Every item of a table (moto)."""

    def scan(table: str) -> list[dict[str, Any]]:
        session = boto3.session.Session(region_name="us-east-1")
        return list(session.resource("dynamodb").Table(table).scan()["Items"])

    return scan


@pytest.fixture
def workflow(rt: Runtime, clock: Clock, context: LocalContext) -> LocalWorkflow:
    """The state machine, run locally against the real workflow_steps handler."""
    return LocalWorkflow(handler_invoke(context), clock.advance)
