"""Run the compiled load generator (``gwlbgen.c``) in the generator namespace.

The generator plays the GWLB from 198.18.0.1 towards the subject at 198.18.0.2; see
the C source for what it sends and how it checks every reply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from appliance.bench.errors import GeneratorError
from appliance.bench.results import GeneratorResult, parse_generator_output
from appliance.lab.errors import NamespaceError
from appliance.lab.netns import Namespace

GENERATOR_ADDR = "198.18.0.1"
"""The generator's (the simulated GWLB node's) address."""
SUBJECT_ADDR = "198.18.0.2"
"""The subject's address: it answers GENEVE on UDP 6081 here."""


class GeneratorSettings(Protocol):
    """What the generator needs from the benchmark configuration."""

    @property
    def flows(self) -> int: ...
    @property
    def inner_size(self) -> int: ...
    @property
    def batch(self) -> int: ...
    @property
    def drain_s(self) -> float: ...
    @property
    def quiet_s(self) -> float: ...
    @property
    def nice(self) -> int: ...


def nice_prefix(nice: int) -> list[str]:
    """``nice -n N`` to put in front of a command (nothing for 0)."""
    return ["nice", "-n", str(nice)] if nice else []


class Generator:
    """The compiled generator, run in the generator namespace."""

    def __init__(self, binary: Path, ns: Namespace, config: GeneratorSettings) -> None:
        self.binary = binary
        self.ns = ns
        self.config = config

    def _base(self, flows: int | None = None) -> list[str]:
        c = self.config
        return [
            *nice_prefix(c.nice),
            str(self.binary),
            "--src", GENERATOR_ADDR,
            "--dst", SUBJECT_ADDR,
            "--flows", str(flows or c.flows),
            "--inner-size", str(c.inner_size),
            "--batch", str(c.batch),
        ]  # fmt: skip

    def probe(self, timeout_s: float) -> bool:
        """Send a packet every 20 ms until one comes back verified."""
        argv = [*self._base(), "--probe", str(timeout_s)]
        done = self.ns.run(argv, check=False, timeout=timeout_s + 10)
        if done.returncode not in (0, 1):
            raise GeneratorError(f"generator probe failed: {done.stderr.strip()[-500:]}")
        return done.returncode == 0

    def run(self, rate_pps: float, duration_s: float, flows: int | None = None) -> GeneratorResult:
        """One paced (or, with rate 0, maximum-rate) run, on ``flows`` flows if given."""
        argv = [
            *self._base(flows),
            "--rate", f"{rate_pps:.0f}",
            "--duration", str(duration_s),
            "--drain", str(self.config.drain_s),
            "--quiet", str(self.config.quiet_s),
        ]  # fmt: skip
        try:
            done = self.ns.run(argv, check=False, timeout=duration_s + self.config.drain_s + 30)
        except NamespaceError as exc:
            raise GeneratorError(str(exc)) from exc
        if done.returncode != 0:
            raise GeneratorError(
                f"generator exited {done.returncode}: {done.stderr.strip()[-500:]}"
            )
        return parse_generator_output(done.stdout)
