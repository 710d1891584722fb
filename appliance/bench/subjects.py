"""What the benchmark measures: subjects, and how each is started (pure).

A subject is something that answers GENEVE on UDP 6081 of the subject namespace:
the C reflector baseline, gwlbd with a number of workers and extra arguments (a
policy, ``--mode tun``...), or any command. Every run measures the baseline, so the
other subjects are always compared with it under the same conditions.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from appliance.bench.errors import BenchError

SubjectKind = Literal["baseline", "gwlbd", "command"]
BASELINE = "baseline"
"""Name of the C reflector subject; reserved."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,31}$")


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where a subject listens and what it is told about the GWLB."""

    listen: str
    """The subject's address; it must answer GENEVE on UDP 6081 there."""
    gwlb_cidr: str
    """The generator's address as a CIDR: the only GWLB source to accept."""
    health_port: int
    """gwlbd's health/status port in the subject namespace."""
    admin_socket: str
    """gwlbd's admin unix socket (a temporary path)."""


@dataclass(frozen=True, slots=True)
class Subject:
    """One thing to measure.

    Attributes:
        name: unique label in reports (``baseline``, ``gwlbd-w1``, ...).
        kind: ``baseline`` (the C reflector), ``gwlbd`` or ``command``.
        workers: gwlbd's ``--workers`` (0 for other kinds).
        args: extra gwlbd arguments, or the argv of a ``command`` subject, in which
            ``{listen}`` and ``{gwlb_cidr}`` are replaced.
    """

    name: str
    kind: SubjectKind
    workers: int = 0
    args: tuple[str, ...] = field(default_factory=tuple)

    def argv(self, endpoints: Endpoints, reflector: str) -> list[str]:
        """The command line that starts this subject.

        Args:
            endpoints: addresses, ports and paths of this run.
            reflector: path of the compiled C reflector.
        """
        if self.kind == "baseline":
            return [reflector, "--listen", endpoints.listen]
        if self.kind == "gwlbd":
            return [
                sys.executable,
                "-m",
                "appliance.cli",
                "run",
                "--listen",
                endpoints.listen,
                "--gwlb-cidr",
                endpoints.gwlb_cidr,
                "--health-port",
                str(endpoints.health_port),
                "--admin-socket",
                endpoints.admin_socket,
                "--workers",
                str(self.workers),
                *self.args,
            ]
        return [
            arg.replace("{listen}", endpoints.listen).replace("{gwlb_cidr}", endpoints.gwlb_cidr)
            for arg in self.args
        ]

    def describe(self) -> dict[str, object]:
        """A JSON-ready description for reports."""
        return {
            "name": self.name,
            "kind": self.kind,
            "workers": self.workers,
            "args": list(self.args),
        }


def baseline() -> Subject:
    """The C reflector every run is compared against."""
    return Subject(BASELINE, "baseline")


def default_gwlbd() -> list[Subject]:
    """gwlbd with one worker and with two workers."""
    return [Subject("gwlbd-w1", "gwlbd", 1), Subject("gwlbd-w2", "gwlbd", 2)]


def _check_name(name: str, spec: str) -> str:
    if not _NAME.match(name) or name == BASELINE:
        raise BenchError(
            f"subject name {name!r} in {spec!r}: use letters, digits, _ . + - "
            f"(at most 32, not {BASELINE!r})"
        )
    return name


def parse_gwlbd_spec(spec: str, daemon_args: Sequence[str] = ()) -> Subject:
    """Parse ``NAME:WORKERS[:EXTRA ARGS]`` (``big-policy:2:--policy /tmp/p.yaml``).

    Args:
        spec: the ``--gwlbd`` value.
        daemon_args: arguments given to every gwlbd subject, before the extra ones.

    Raises:
        BenchError: malformed name, worker count or arguments.
    """
    parts = spec.split(":", 2)
    if len(parts) < 2:
        raise BenchError(f"--gwlbd {spec!r}: expected NAME:WORKERS[:EXTRA ARGS]")
    name = _check_name(parts[0], spec)
    try:
        workers = int(parts[1])
    except ValueError as exc:
        raise BenchError(f"--gwlbd {spec!r}: workers must be an integer") from exc
    if not 1 <= workers <= 256:
        raise BenchError(f"--gwlbd {spec!r}: workers must be between 1 and 256")
    try:
        extra = shlex.split(parts[2]) if len(parts) == 3 else []
    except ValueError as exc:
        raise BenchError(f"--gwlbd {spec!r}: {exc}") from exc
    return Subject(name, "gwlbd", workers, (*daemon_args, *extra))


def parse_command_spec(spec: str) -> Subject:
    """Parse ``NAME:COMMAND`` (``pyrefl:python3 reflect.py --listen {listen}``).

    Raises:
        BenchError: malformed name or an empty command.
    """
    name, sep, command = spec.partition(":")
    if not sep:
        raise BenchError(f"--command {spec!r}: expected NAME:COMMAND")
    _check_name(name, spec)
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise BenchError(f"--command {spec!r}: {exc}") from exc
    if not argv:
        raise BenchError(f"--command {spec!r}: the command is empty")
    return Subject(name, "command", 0, tuple(argv))


def subject_set(
    gwlbd_specs: Sequence[str] = (),
    command_specs: Sequence[str] = (),
    daemon_args: Sequence[str] = (),
    *,
    default_daemons: bool = True,
) -> list[Subject]:
    """The baseline plus the requested subjects (the default gwlbd pair when none is given).

    Raises:
        BenchError: a malformed spec or a duplicate name.
    """
    others = [parse_gwlbd_spec(spec, daemon_args) for spec in gwlbd_specs]
    others += [parse_command_spec(spec) for spec in command_specs]
    if not others and default_daemons:
        others = [Subject(s.name, s.kind, s.workers, tuple(daemon_args)) for s in default_gwlbd()]
    subjects = [baseline(), *others]
    names = [s.name for s in subjects]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise BenchError(f"duplicate subject names: {', '.join(duplicates)}")
    return subjects
