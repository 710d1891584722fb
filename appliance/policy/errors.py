"""Errors raised by the policy engine.

The hierarchy, drawn once::

    ApplianceError                 appliance.errors
    └── PolicyError                a policy document that cannot be used; ``problems`` lists why
        └── PolicySourceError      the policy source (file, SSM, S3, store) could not be read

A :class:`PolicyError` carries every problem found, one string each, naming the
field path and, when the document was text, its line::

    rules[3].match.dstPort[0] (line 14): 70000 is not a port (0-65535)
"""

from __future__ import annotations

from collections.abc import Iterable

from appliance.errors import ApplianceError


class PolicyError(ApplianceError):
    """A policy document is invalid or could not be obtained.

    Attributes:
        problems: one message per problem, each naming the field path (and line).
    """

    def __init__(self, problems: Iterable[str] | str) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        if not self.problems:
            self.problems = ["invalid policy"]
        first = self.problems[0]
        more = len(self.problems) - 1
        super().__init__(first if not more else f"{first} (and {more} more problems)")

    def __reduce__(self) -> tuple[type[PolicyError], tuple[list[str]]]:
        return (type(self), (self.problems,))


class PolicySourceError(PolicyError):
    """The policy source could not be read (file missing, SSM or S3 unreachable)."""
