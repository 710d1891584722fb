"""gwlbd: the appliance daemon behind an AWS Gateway Load Balancer."""

from __future__ import annotations

__version__ = "0.1.0"
