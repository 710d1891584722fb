"""Errors raised by the lifecycle service.

The hierarchy, drawn once::

    LifecycleError                 base of everything the lifecycle service raises on purpose
    ├── ConfigurationError         an environment variable is missing or invalid; names it
    ├── MalformedEventError        an event does not match its model; never retried usefully,
    │                              it ends in the dead-letter queue with no side effect done
    └── AwsCallError               an AWS API call failed; names the operation and error code
        ├── ThrottledError         the API throttled us after the SDK's own retries: retry later
        ├── InstanceGoneError      the instance no longer exists (terminated, not found)
        └── ActionGoneError        no active lifecycle action to heartbeat or complete
                                   (already completed, or the hook timed out)

Step Functions matches ``ThrottledError`` and ``AwsCallError`` by class name in its
Retry/Catch clauses (``statemachine/lifecycle.asl.json``): keep the names stable.
"""

from __future__ import annotations


class LifecycleError(Exception):
    """Base class of the lifecycle service's own errors."""


class ConfigurationError(LifecycleError):
    """An environment variable or explicit setting is invalid.

    Attributes:
        name: the environment variable (or argument) at fault.
    """

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


class MalformedEventError(LifecycleError):
    """An event could not be parsed; ``problems`` lists each offending field."""

    def __init__(self, kind: str, problems: list[str]) -> None:
        super().__init__(f"malformed {kind} event: " + "; ".join(problems))
        self.kind = kind
        self.problems = problems


class AwsCallError(LifecycleError):
    """An AWS API call failed.

    Attributes:
        operation: the API operation, e.g. ``RegisterTargets``.
        code: the AWS error code, e.g. ``ValidationError``.
    """

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{operation} failed: {code}: {message}")
        self.operation = operation
        self.code = code


class ThrottledError(AwsCallError):
    """The API kept throttling after the SDK's retries; the caller should retry later."""


class InstanceGoneError(AwsCallError):
    """The instance does not exist any more."""


class ActionGoneError(AwsCallError):
    """There is no active lifecycle action for this token or instance."""
