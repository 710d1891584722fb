"""The tun-mode benchmark subject: gwlbd ``--mode tun`` with the route-back recipe.

``gwlbd bench`` measures it as a gwlbd subject with extra arguments::

    gwlbd bench --gwlbd inline:1 --gwlbd "$(python -m appliance.bench.tun_subject --spec)"

The subject's create/destroy hook is this module run as a script: it calls the
shipped ``route-back.sh`` (gwi-X -> gwo-X by policy routing, kernel firewall in
between) with an nftables file that, besides the recipe's example rule, sets the
forwarded packets' TTL back to the generator's 64. The kernel decrements TTL when it
forwards, and the generator checks every returned inner header byte for byte; with
the TTL restored (nftables fixes the checksum) each packet verifies, at the cost of
one more nftables rule per packet, so the figure is, if anything, pessimistic.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from appliance.recipes import script_path

SUBJECT_NAME = "tun-w1"
GENERATOR_TTL = 64
"""TTL of the generator's inner packets (gwlbgen.c)."""
BENCH_NFT = f"""\
table inet gwlbd_route_back
delete table inet gwlbd_route_back

table inet gwlbd_route_back {{
    chain forward {{
        type filter hook forward priority filter; policy accept;
        iifname "gwi-*" tcp dport 23 counter drop comment "the recipe's example rule"
        oifname "gwo-*" ip ttl set {GENERATOR_TTL}
    }}
}}
"""


def hook_command() -> str:
    """This module as a hook command line."""
    return f"{shlex.quote(sys.executable)} -m appliance.bench.tun_subject"


def daemon_args() -> list[str]:
    """Extra ``gwlbd run`` arguments of the tun subject."""
    hook = hook_command()
    return ["--mode", "tun", "--tun-create-hook", hook, "--tun-destroy-hook", hook]


def spec(workers: int = 1) -> str:
    """The ``--gwlbd NAME:WORKERS:ARGS`` value of the tun subject."""
    return f"{SUBJECT_NAME}:{workers}:{shlex.join(daemon_args())}"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the subject spec (``--spec``), or run as the hook (gwlbtun's four arguments)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--spec"]:
        print(spec())
        return 0
    parser = argparse.ArgumentParser(prog="python -m appliance.bench.tun_subject")
    parser.add_argument("action", choices=("CREATE", "DESTROY"))
    parser.add_argument("gwi")
    parser.add_argument("gwo")
    parser.add_argument("endpoint")
    parsed = parser.parse_args(args)
    with tempfile.TemporaryDirectory(prefix="gwlbd-bench-") as tmp:
        nft = Path(tmp) / "route-back-bench.nft"
        nft.write_text(BENCH_NFT)
        env = {**os.environ, "GWLBD_RECIPE_NFT": str(nft)}
        argv_ = [str(script_path("route-back")), *args]
        done = subprocess.run(argv_, env=env, check=False)
    if done.returncode != 0:
        print(f"route-back {parsed.action} exited {done.returncode}", file=sys.stderr)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
