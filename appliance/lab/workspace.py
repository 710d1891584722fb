"""What every lab owns and always removes: a work directory, a topology, logged processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from appliance.lab.netns import Namespace, Topology


class Workspace:
    """A temporary directory, the namespaces of ``prefix`` and the processes started in them.

    Use as a context manager: :meth:`close` stops every process, deletes every
    namespace and the work directory, also after an exception or Ctrl-C.
    """

    def __init__(self, prefix: str, workdir_prefix: str) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=workdir_prefix))
        self.topology = Topology(prefix)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop every process, delete the namespaces and the work directory."""
        try:
            self.topology.close()
        finally:
            for log in self._logs:
                log.close()
            shutil.rmtree(self.workdir, ignore_errors=True)

    def start_logged(
        self, name: str, ns: Namespace, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in ``ns`` as ``name``, its output in ``<workdir>/<name>.log``."""
        log = (self.workdir / f"{name}.log").open("wb")
        self._logs.append(log)
        full_env = None if env is None else {**os.environ, **env}
        proc = self.topology.start(
            ns, argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=full_env
        )
        self.procs[name] = proc
        return proc

    def finish(self, name: str, timeout: float = 20.0) -> None:
        """Ask the process started as ``name`` to finish (SIGTERM to it alone, so it can
        complete what it is doing and write its last report), wait up to ``timeout``
        seconds, then stop whatever is left of it."""
        proc = self.procs.get(name)
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
        self.topology.stop(proc)
