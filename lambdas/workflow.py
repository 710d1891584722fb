"""The lifecycle workflow's state, passed between Step Functions states (pure).

``statemachine/lifecycle.asl.json`` runs: ``Begin`` -> (``Wait`` -> ``Check``)* ->
``Finish``. Each Task state calls the ``workflow_steps`` Lambda with this document plus
``step``; a step returns the document updated. The loop ends once ``outcome`` is set.
Errors caught by Step Functions arrive at ``Finish`` in ``error``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from lambdas.actions import LifecycleAction, Plan, Result


class StepError(BaseModel):
    """What Step Functions puts in ``ResultPath`` when a Catch fires."""

    model_config = ConfigDict(extra="ignore")

    Error: str
    """The error name (for Lambda errors, the exception class name)."""
    Cause: str = ""
    """The error's cause (for Lambda errors, a JSON document with the message)."""


class WorkflowState(BaseModel):
    """The document the workflow carries from state to state."""

    model_config = ConfigDict(extra="ignore")

    action: LifecycleAction
    """The lifecycle action being handled."""
    plan: Plan
    """What to do with it."""
    outcome: Result | None = None
    """Set once the answer is known; the workflow then goes to ``Finish``."""
    reason: str = ""
    """Why (recorded in the state table and the logs)."""
    deadline: float = 0.0
    """Unix seconds after which waiting stops (health timeout or deregistration delay)."""
    next_heartbeat: float = 0.0
    """Unix seconds after which the next check heartbeats the hook."""
    wait_seconds: int = 15
    """How long the ``Wait`` state waits before the next check."""
    checks: int = 0
    """Checks done so far."""
    last_target_state: str = ""
    """Target health state seen by the last check."""
    error: StepError | None = None
    """Set by Step Functions' Catch before ``Finish``."""

    @classmethod
    def start(cls, action: LifecycleAction) -> WorkflowState:
        """The document a new execution starts with."""
        return cls(action=action, plan=action.plan)

    def done(self, outcome: Result, reason: str) -> WorkflowState:
        """This state with the answer set."""
        return self.model_copy(update={"outcome": outcome, "reason": reason})
