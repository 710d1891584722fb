"""Run the lifecycle state machine in-process: the tests' (and a developer's) Step Functions.

There is no Docker here for ``sam local``, and the waiting logic must still be tested
end to end. :class:`LocalWorkflow` interprets ``statemachine/lifecycle.asl.json`` itself
(the subset it uses: Task via ``lambda:invoke`` with ``Parameters``/``ResultSelector``/
``OutputPath``/``ResultPath``, Retry, Catch, Choice on ``IsNull``, Wait on
``SecondsPath``, Fail, End) and invokes the real ``workflow_steps`` handler for every
Task. Wait states do not sleep: they advance the runtime's clock.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

DEFINITION = Path(__file__).resolve().parent.parent / "statemachine" / "lifecycle.asl.json"
MAX_TRANSITIONS = 10_000

Invoke = Callable[[dict[str, Any]], dict[str, Any]]


class LocalContext(LambdaContext):
    """A Lambda context for local invocations."""

    def __init__(self, function_name: str = "gwlbd-local") -> None:
        """Name the pretend function."""
        self._function_name = function_name
        self._function_version = "$LATEST"
        self._invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self._memory_limit_in_mb = 256
        self._aws_request_id = str(uuid.uuid4())
        self._log_group_name = f"/aws/lambda/{function_name}"
        self._log_stream_name = "local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        """Plenty of time."""
        return 60_000


def _get(doc: Any, path: str) -> Any:
    """Resolve a simple JSONPath (``$`` or ``$.a.b``)."""
    if path == "$":
        return doc
    value = doc
    for part in path.removeprefix("$.").split("."):
        value = value[part]
    return value


def _put(doc: Any, path: str, value: Any) -> Any:
    """Place ``value`` at a simple ResultPath in a copy of ``doc``."""
    if path == "$":
        return value
    out = json.loads(json.dumps(doc))
    target = out
    parts = path.removeprefix("$.").split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value
    return out


def _render(template: Any, doc: Any) -> Any:
    """Apply ``Parameters``/``ResultSelector``: keys ending in ``.$`` are paths into ``doc``."""
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                out[key[:-2]] = _get(doc, value)
            else:
                out[key] = _render(value, doc)
        return out
    return template


def _matches(names: list[str], error: str) -> bool:
    return "States.ALL" in names or error in names or "States.TaskFailed" in names


@dataclass
class Execution:
    """The outcome of a local run."""

    status: str
    """SUCCEEDED or FAILED."""
    output: Any
    """The last state's output."""
    visited: list[str] = field(default_factory=list)
    """State names in the order they ran (retries included)."""
    waited: float = 0.0
    """Seconds the Wait states (and retry intervals) asked for."""
    error: str = ""
    """The Fail state's error, when FAILED."""


class LocalWorkflow:
    """Interpret the lifecycle state machine against a Lambda handler."""

    def __init__(
        self,
        invoke: Invoke,
        advance: Callable[[float], None],
        definition: dict[str, Any] | None = None,
    ) -> None:
        """Set up a runner.

        Args:
            invoke: runs the ``workflow_steps`` Lambda with a payload, returns its result
                (raise to fail the Task; the exception's class name is the error name).
            advance: moves the clock forward by the seconds a Wait state asks for.
            definition: the ASL document (``statemachine/lifecycle.asl.json`` when None).
        """
        self._invoke = invoke
        self._advance = advance
        self._definition = definition or json.loads(DEFINITION.read_text())

    @staticmethod
    def _retry_delay(state: dict[str, Any], error: str, attempts: dict[int, int]) -> float | None:
        """Seconds before the next attempt, or None when no retrier (or no attempt) is left.

        As in Step Functions, the first retrier whose ``ErrorEquals`` matches decides.
        """
        for index, retrier in enumerate(state.get("Retry", [])):
            if not _matches(retrier["ErrorEquals"], error):
                continue
            attempts[index] = attempts.get(index, 0) + 1
            if attempts[index] > retrier.get("MaxAttempts", 3):
                return None
            interval = float(retrier.get("IntervalSeconds", 1))
            return interval * float(retrier.get("BackoffRate", 2.0)) ** (attempts[index] - 1)
        return None

    def _task(self, state: dict[str, Any], doc: Any, run: Execution) -> Any:
        attempts: dict[int, int] = {}
        while True:
            payload = _render(state["Parameters"], doc)["Payload"]
            try:
                result: Any = {"Payload": self._invoke(payload)}
            except Exception as exc:  # a Task fails on any error, as a Lambda invocation does
                delay = self._retry_delay(state, type(exc).__name__, attempts)
                if delay is None:
                    raise
                run.waited += delay
                self._advance(delay)
                run.visited.append(state["_name"])
                continue
            if "ResultSelector" in state:
                result = _render(state["ResultSelector"], result)
            if "ResultPath" in state:
                result = _put(doc, state["ResultPath"], result)
            if "OutputPath" in state:
                result = _get(result, state["OutputPath"])
            return result

    def run(self, document: dict[str, Any]) -> Execution:
        """Run an execution with ``document`` as input, to its end."""
        states: dict[str, dict[str, Any]] = self._definition["States"]
        name: str = self._definition["StartAt"]
        doc: Any = document
        run = Execution("RUNNING", None)
        for _ in range(MAX_TRANSITIONS):
            state = {**states[name], "_name": name}
            run.visited.append(name)
            kind = state["Type"]
            if kind == "Fail":
                run.status, run.output, run.error = "FAILED", doc, state.get("Error", "")
                return run
            nxt: str | None = state.get("Next")
            ends = bool(state.get("End"))
            if kind == "Task":
                try:
                    doc = self._task(state, doc, run)
                except Exception as exc:  # the state's Catch decides
                    error = {"Error": type(exc).__name__, "Cause": str(exc)}
                    catcher = next(
                        (
                            c
                            for c in state.get("Catch", [])
                            if _matches(c["ErrorEquals"], error["Error"])
                        ),
                        None,
                    )
                    if catcher is None:
                        run.status, run.output, run.error = "FAILED", doc, error["Error"]
                        return run
                    doc = _put(doc, catcher.get("ResultPath", "$"), error)
                    nxt, ends = catcher["Next"], False
            elif kind == "Choice":
                nxt = state["Default"]
                for choice in state["Choices"]:
                    value = _get(doc, choice["Variable"]) if isinstance(doc, dict) else None
                    if "IsNull" in choice and (value is None) == choice["IsNull"]:
                        nxt = choice["Next"]
                        break
            elif kind == "Wait":
                seconds = float(state.get("Seconds", 0) or _get(doc, state["SecondsPath"]))
                run.waited += seconds
                self._advance(seconds)
            elif kind != "Pass":
                raise ValueError(f"state {name}: type {kind} is not supported locally")
            if ends or nxt is None:
                run.status, run.output = "SUCCEEDED", doc
                return run
            name = nxt
        raise RuntimeError(f"workflow did not end within {MAX_TRANSITIONS} transitions")


def handler_invoke(context: LambdaContext | None = None) -> Invoke:
    """An ``invoke`` that calls the deployed ``workflow_steps`` handler in-process."""
    from lambdas.handlers.workflow_steps import handler  # noqa: PLC0415 - keeps this light

    ctx = context or LocalContext("gwlbd-workflow-steps")

    def invoke(payload: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = handler(payload, ctx)
        return result

    return invoke
