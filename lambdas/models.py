"""Event models for every event source (Powertools Parser, pydantic).

Each model names the EventBridge ``source`` and ``detail-type`` it accepts, so an event
routed to the wrong function is refused as malformed rather than half-handled.
:func:`parse_event` turns validation failures into :class:`MalformedEventError` with one
problem per offending field, before any side effect.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lambdas.errors import MalformedEventError


class LifecycleActionDetail(BaseModel):
    """``detail`` of ``EC2 Instance-launch|terminate Lifecycle Action``."""

    model_config = ConfigDict(extra="ignore")

    LifecycleActionToken: str = Field(min_length=1)
    AutoScalingGroupName: str = Field(min_length=1)
    LifecycleHookName: str = Field(min_length=1)
    EC2InstanceId: str = Field(pattern=r"^i-[0-9a-f]{8,17}$")
    LifecycleTransition: Literal[
        "autoscaling:EC2_INSTANCE_LAUNCHING", "autoscaling:EC2_INSTANCE_TERMINATING"
    ]
    NotificationMetadata: str | None = None
    Origin: Literal["EC2", "AutoScalingGroup", "WarmPool"] = "EC2"
    Destination: Literal["EC2", "AutoScalingGroup", "WarmPool"] = "AutoScalingGroup"


class LifecycleActionEvent(EventBridgeModel):
    """An Auto Scaling lifecycle action event."""

    source: Literal["aws.autoscaling"]
    detail_type: Literal[
        "EC2 Instance-launch Lifecycle Action", "EC2 Instance-terminate Lifecycle Action"
    ] = Field(alias="detail-type")
    detail: LifecycleActionDetail


class ParameterChangeDetail(BaseModel):
    """``detail`` of ``Parameter Store Change``."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    type: str = ""
    operation: str = Field(min_length=1)
    description: str | None = None


class ParameterChangeEvent(EventBridgeModel):
    """An SSM Parameter Store change event (carries the name, not the value)."""

    source: Literal["aws.ssm"]
    detail_type: Literal["Parameter Store Change"] = Field(alias="detail-type")
    detail: ParameterChangeDetail


class AlarmState(BaseModel):
    """One side of an alarm state change."""

    model_config = ConfigDict(extra="ignore")

    value: Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
    reason: str = ""


class AlarmDetail(BaseModel):
    """``detail`` of ``CloudWatch Alarm State Change``."""

    model_config = ConfigDict(extra="ignore")

    alarm_name: str = Field(min_length=1, alias="alarmName")
    state: AlarmState
    previous_state: AlarmState | None = Field(default=None, alias="previousState")


class AlarmStateChangeEvent(EventBridgeModel):
    """A CloudWatch alarm state change (the UnHealthyHostCount alarm)."""

    source: Literal["aws.cloudwatch"]
    detail_type: Literal["CloudWatch Alarm State Change"] = Field(alias="detail-type")
    detail: AlarmDetail


class ScheduledEvent(EventBridgeModel):
    """An EventBridge schedule tick."""

    source: Literal["aws.events", "aws.scheduler"]
    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")
    detail: dict[str, Any] = Field(default_factory=dict)


class ExecutionStatusDetail(BaseModel):
    """``detail`` of ``Step Functions Execution Status Change``."""

    model_config = ConfigDict(extra="ignore")

    execution_arn: str = Field(min_length=1, alias="executionArn")
    state_machine_arn: str = Field(min_length=1, alias="stateMachineArn")
    name: str = ""
    status: Literal["FAILED", "TIMED_OUT", "ABORTED"]
    input: str | None = None
    error: str | None = None
    cause: str | None = None


class ExecutionStatusEvent(EventBridgeModel):
    """A lifecycle workflow execution that ended without reaching ``Finish``."""

    source: Literal["aws.states"]
    detail_type: Literal["Step Functions Execution Status Change"] = Field(alias="detail-type")
    detail: ExecutionStatusDetail


M = TypeVar("M", bound=BaseModel)


def problems_of(exc: ValidationError) -> list[str]:
    """One ``field.path: message`` line per validation error."""
    out = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "(event)"
        out.append(f"{where}: {err.get('msg', 'invalid')}")
    return out


def parse_event(model: type[M], event: Any, kind: str) -> M:
    """Validate ``event`` against ``model``.

    Raises:
        MalformedEventError: naming every offending field.
    """
    if not isinstance(event, dict):
        raise MalformedEventError(kind, [f"(event): expected a JSON object, got {type(event)}"])
    try:
        return parse(event=event, model=model)
    except ValidationError as exc:
        raise MalformedEventError(kind, problems_of(exc)) from exc
    except (ValueError, TypeError) as exc:  # Powertools wraps some failures
        cause = exc.__cause__
        if isinstance(cause, ValidationError):
            raise MalformedEventError(kind, problems_of(cause)) from exc
        raise MalformedEventError(kind, [str(exc)]) from exc
