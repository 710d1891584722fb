"""Compiling the shipped C programs into the cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from appliance.bench import build
from appliance.bench.errors import BuildError

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")


def test_sources_ship_with_the_package() -> None:
    for program in build.PROGRAMS:
        assert b"int main(" in build.source_text(program)
    with pytest.raises(BuildError, match="unknown"):
        build.source_text("rm")


def test_binary_name_follows_source_and_compiler() -> None:
    a = build.binary_name("gwlbgen", b"int main(void){return 0;}", "gcc")
    assert a.startswith("gwlbgen-")
    assert a == build.binary_name("gwlbgen", b"int main(void){return 0;}", "gcc")
    assert a != build.binary_name("gwlbgen", b"int main(void){return 1;}", "gcc")
    assert a != build.binary_name("gwlbgen", b"int main(void){return 0;}", "clang")


def test_cache_dir_honours_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert build.cache_dir() == tmp_path / "gwlbd" / "bench"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert build.cache_dir().name.startswith("gwlbd-bench-")


@needs_gcc
@pytest.mark.parametrize("program", build.PROGRAMS)
def test_build_compiles_once_then_reuses(program: str, tmp_path: Path) -> None:
    first = build.build(program, directory=tmp_path)
    assert first.is_file()
    mtime = first.stat().st_mtime_ns
    again = build.build(program, directory=tmp_path)
    assert again == first
    assert again.stat().st_mtime_ns == mtime


def test_failing_compiler_raises_build_error(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"compiling reflector\.c failed"):
        build.build("reflector", directory=tmp_path, compiler="false")
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_missing_compiler_raises_build_error(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="not found"):
        build.build("reflector", directory=tmp_path, compiler="no-such-cc-gwlbd")


def test_a_cache_directory_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(BuildError, match="not private"):
        build.build("reflector", directory=shared)
