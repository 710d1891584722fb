"""Errors raised by the benchmark (``gwlbd bench``).

The hierarchy, drawn once::

    ApplianceError                 appliance.errors
    └── BenchError                 the benchmark could not run or produced no usable result
        ├── BuildError             a C program could not be compiled
        ├── GeneratorError         the load generator failed or printed something unreadable
        └── SubjectError           a subject (baseline, gwlbd, ...) did not start or become ready
"""

from __future__ import annotations

from appliance.errors import ApplianceError


class BenchError(ApplianceError):
    """Base class of the benchmark's own errors."""


class BuildError(BenchError):
    """A C source shipped with the benchmark could not be compiled."""


class GeneratorError(BenchError):
    """The load generator failed, or its output could not be read."""


class SubjectError(BenchError):
    """A subject did not start, died, or never became ready."""
