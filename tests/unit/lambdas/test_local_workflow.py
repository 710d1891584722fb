"""The local state machine runner follows Step Functions' Retry, Catch, Choice and Wait rules."""

from __future__ import annotations

from typing import Any

import pytest

from lambdas.errors import AwsCallError, ThrottledError
from lambdas.local_workflow import LocalWorkflow


class Script:
    """A pretend workflow_steps Lambda that answers from a script."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.steps: list[str] = []

    def __call__(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.steps.append(payload["step"])
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        result: dict[str, Any] = answer(payload["state"])
        return result


def waiting(state: dict[str, Any]) -> dict[str, Any]:
    return {**state, "outcome": None, "wait_seconds": 15}


def decided(state: dict[str, Any]) -> dict[str, Any]:
    return {**state, "outcome": "CONTINUE"}


def finished(state: dict[str, Any]) -> dict[str, Any]:
    return {"result": state.get("outcome"), "error": state.get("error")}


def run(answers: list[Any]) -> tuple[Any, Script, list[float]]:
    script, waits = Script(answers), list[float]()
    execution = LocalWorkflow(script, waits.append).run({"outcome": None})
    return execution, script, waits


def test_waits_between_checks_until_decided() -> None:
    execution, script, waits = run([waiting, waiting, waiting, decided, finished])
    assert script.steps == ["begin", "check", "check", "check", "finish"]
    assert waits == [15, 15, 15]
    assert execution.status == "SUCCEEDED"
    assert execution.output["finished"]["completed"] == {"result": "CONTINUE", "error": None}


def test_throttling_is_retried_with_backoff() -> None:
    throttled = ThrottledError("RegisterTargets", "Throttling", "slow down")
    execution, script, waits = run([throttled, throttled, decided, finished])
    assert execution.status == "SUCCEEDED"
    assert script.steps == ["begin", "begin", "begin", "finish"]
    assert waits == [2, 4]


def test_other_aws_errors_retry_twice_then_go_to_finish_with_the_error() -> None:
    boom = AwsCallError("RegisterTargets", "ValidationError", "bad")
    execution, script, _ = run([boom, boom, boom, finished])
    assert script.steps == ["begin", "begin", "begin", "finish"]
    error = execution.output["finished"]["completed"]["error"]
    assert error["Error"] == "AwsCallError"
    assert "RegisterTargets failed" in error["Cause"]


def test_unexpected_errors_are_caught_without_retry() -> None:
    execution, script, _ = run([KeyError("x"), finished])
    assert script.steps == ["begin", "finish"]
    assert execution.output["finished"]["completed"]["error"]["Error"] == "KeyError"


def test_finish_failing_every_attempt_ends_in_the_fail_state() -> None:
    boom = ThrottledError("CompleteLifecycleAction", "Throttling", "slow down")
    execution, script, _ = run([decided, *[boom] * 9])
    assert script.steps == ["begin", *["finish"] * 9]
    assert (execution.status, execution.error) == ("FAILED", "CouldNotComplete")


def test_a_definition_using_unsupported_states_is_refused() -> None:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True}}}
    with pytest.raises(ValueError, match="Parallel"):
        LocalWorkflow(Script([]), lambda _: None, definition).run({})
