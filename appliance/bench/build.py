"""Compile the benchmark's C programs at benchmark time, cached by source hash.

The sources ship inside the package (``appliance/bench/*.c``). Each is compiled with
``gcc -O2`` into a cache directory (``$XDG_CACHE_HOME/gwlbd/bench``, else
``/tmp/gwlbd-bench-<uid>``); the binary's name carries a hash of the source and the
compiler flags, so a changed source is rebuilt and an unchanged one is reused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from appliance.bench.errors import BuildError

PROGRAMS = ("gwlbgen", "reflector")
"""The C programs shipped with the benchmark."""
CFLAGS = ("-O2", "-Wall", "-Wextra", "-std=gnu11")
"""Flags every program is compiled with."""


def cache_dir() -> Path:
    """Where compiled programs are kept (created on first use by :func:`build`)."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg) / "gwlbd" / "bench"
    return Path(f"/tmp/gwlbd-bench-{os.getuid()}")  # noqa: S108 (per-user, mode 0700)


def source_text(program: str) -> bytes:
    """The C source of ``program`` as shipped in the package.

    Raises:
        BuildError: ``program`` is not one of :data:`PROGRAMS`.
    """
    if program not in PROGRAMS:
        raise BuildError(f"unknown benchmark program {program!r}")
    return resources.files("appliance.bench").joinpath(f"{program}.c").read_bytes()


def binary_name(program: str, source: bytes, compiler: str) -> str:
    """Cache file name for ``program``: changes whenever the source or the flags change."""
    digest = hashlib.sha256()
    for part in (source, compiler.encode(), " ".join(CFLAGS).encode()):
        digest.update(part)
        digest.update(b"\0")
    return f"{program}-{digest.hexdigest()[:16]}"


def _private_dir(path: Path) -> None:
    """Create ``path`` (mode 0700) if needed; refuse it if others could write to it.

    The binaries kept there are run as root, so a directory another user can write to
    (say, a ``/tmp`` name created in advance) must not be trusted.
    """
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.stat()
    except OSError as exc:
        raise BuildError(f"cannot create cache directory {path}: {exc}") from exc
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise BuildError(f"cache directory {path} is not private to this user")


def build(program: str, *, directory: Path | None = None, compiler: str = "gcc") -> Path:
    """Compile ``program`` unless an up-to-date binary is cached; return its path.

    Args:
        program: one of :data:`PROGRAMS`.
        directory: cache directory (default :func:`cache_dir`).
        compiler: the C compiler to run.

    Raises:
        BuildError: the cache directory is not private, there is no compiler, or the
            compiler failed (its messages are included).
    """
    source = source_text(program)
    target_dir = directory or cache_dir()
    _private_dir(target_dir)
    target = target_dir / binary_name(program, source, compiler)
    if target.is_file() and os.access(target, os.X_OK):
        return target
    if shutil.which(compiler) is None:
        raise BuildError(f"{compiler} not found: the benchmark compiles its C programs at run time")
    src_path = target_dir / f"{target.name}.c"
    tmp_path = target_dir / f".{target.name}.{os.getpid()}.tmp"
    src_path.write_bytes(source)
    result = subprocess.run(
        [compiler, *CFLAGS, "-o", str(tmp_path), str(src_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        tmp_path.unlink(missing_ok=True)
        raise BuildError(f"compiling {program}.c failed:\n{result.stderr.strip()}")
    os.replace(tmp_path, target)  # atomic: a concurrent run sees the old or the new binary
    return target
