"""Errors raised by the lab tooling (namespaces, simulator, ``gwlbd lab``).

The hierarchy, drawn once::

    ApplianceError                 appliance.errors
    └── LabError                   the lab could not build or run its topology
        ├── NamespaceError         a namespace, link, address or route could not be set up
        └── SimulatorError         the GWLB simulator could not start or was misconfigured
"""

from __future__ import annotations

from appliance.errors import ApplianceError


class LabError(ApplianceError):
    """Base class of the lab's own errors."""


class NamespaceError(LabError):
    """A network namespace, veth link, address or route could not be set up."""


class SimulatorError(LabError):
    """The GWLB simulator could not start or was given an invalid configuration."""
