"""Shipped tun-mode recipes: hook scripts (gwlbtun's arguments) and nftables files.

Each recipe is a POSIX shell script called as a create/destroy hook
(``<script> CREATE|DESTROY gwi-X gwo-X <endpoint id hex>``), so it works unchanged
with ``gwlbtun -c/-r`` as well. ``gwlbd run --mode tun --tun-recipe NAME`` uses the
script of NAME as both hooks unless ``--tun-create-hook``/``--tun-destroy-hook`` are
given; ``gwlbd install-service`` copies them to ``/etc/gwlbd/recipes`` for editing.

- ``route-back``: everything entering ``gwi-X`` leaves through ``gwo-X`` (policy
  routing), with the kernel firewall in between (``route-back.nft``, loaded on CREATE).
- ``nat-egress``: two-arm NAT; traffic from ``gwi-X`` leaves the uplink masqueraded,
  replies are marked by conntrack and routed back out of ``gwo-X``.
- ``suricata``: route-back plus a Suricata process watching ``gwi-X``.
"""

from __future__ import annotations

import shlex
from pathlib import Path

RECIPES = ("route-back", "nat-egress", "suricata")
"""Recipe names, as ``--tun-recipe`` takes them."""
HERE = Path(__file__).resolve().parent
FILES = ("route-back.sh", "route-back.nft", "nat-egress.sh", "suricata.sh", "suricata.rules")
"""Every shipped file (what ``install-service`` copies)."""


def script_path(recipe: str) -> Path:
    """The hook script of ``recipe``.

    Raises:
        ValueError: unknown recipe.
    """
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r} (known: {', '.join(RECIPES)})")
    return HERE / f"{recipe}.sh"


def hook_commands(
    recipe: str, create: str | None, destroy: str | None
) -> tuple[str | None, str | None]:
    """The create and destroy hook commands: explicit ones win over the recipe's script."""
    if recipe in ("", "none"):
        return create, destroy
    script = shlex.quote(str(script_path(recipe)))
    return create or script, destroy or script


def shipped_files() -> dict[str, bytes]:
    """File name -> content of every shipped recipe file."""
    return {name: (HERE / name).read_bytes() for name in FILES}
