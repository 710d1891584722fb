"""Subjects: spec parsing and the command lines that start them."""

from __future__ import annotations

import sys

import pytest

from appliance.bench.errors import BenchError
from appliance.bench.subjects import (
    Endpoints,
    Subject,
    parse_command_spec,
    parse_gwlbd_spec,
    subject_set,
)

ENDPOINTS = Endpoints("198.18.0.2", "198.18.0.1/32", 9080, "/tmp/x/admin.sock")


def test_default_set_is_baseline_and_two_gwlbd() -> None:
    subjects = subject_set()
    assert [(s.name, s.kind, s.workers) for s in subjects] == [
        ("baseline", "baseline", 0),
        ("gwlbd-w1", "gwlbd", 1),
        ("gwlbd-w2", "gwlbd", 2),
    ]


def test_baseline_only() -> None:
    assert [s.name for s in subject_set(default_daemons=False)] == ["baseline"]


def test_gwlbd_argv_is_exactly_the_run_contract() -> None:
    subject = parse_gwlbd_spec("big:2:--policy '/tmp/my policy.yaml'", ["--log-level", "warning"])
    assert subject.argv(ENDPOINTS, "/bin/reflector") == [
        sys.executable, "-m", "appliance.cli", "run",
        "--listen", "198.18.0.2",
        "--gwlb-cidr", "198.18.0.1/32",
        "--health-port", "9080",
        "--admin-socket", "/tmp/x/admin.sock",
        "--workers", "2",
        "--log-level", "warning", "--policy", "/tmp/my policy.yaml",
    ]  # fmt: skip


def test_daemon_args_go_to_default_subjects_too() -> None:
    subjects = subject_set(daemon_args=["--mode", "tun"])
    assert all(s.args == ("--mode", "tun") for s in subjects if s.kind == "gwlbd")


def test_given_gwlbd_subjects_replace_the_defaults() -> None:
    names = [s.name for s in subject_set(["allow-all:2", "big:2:--policy p.yaml"])]
    assert names == ["baseline", "allow-all", "big"]


def test_baseline_and_command_argv() -> None:
    assert Subject("baseline", "baseline").argv(ENDPOINTS, "/c/reflector") == [
        "/c/reflector",
        "--listen",
        "198.18.0.2",
    ]
    cmd = parse_command_spec("pyrefl:python3 -m appliance.lab.reflector --address {listen}")
    assert cmd.argv(ENDPOINTS, "/c/reflector") == [
        "python3", "-m", "appliance.lab.reflector", "--address", "198.18.0.2",
    ]  # fmt: skip
    assert cmd.describe()["kind"] == "command"


@pytest.mark.parametrize(
    "spec",
    ["nocolon", "x:two", "x:0", "x:1000", "baseline:1", "bad name:1", ":1", "x:1:'unclosed"],
)
def test_bad_gwlbd_specs(spec: str) -> None:
    with pytest.raises(BenchError):
        parse_gwlbd_spec(spec)


@pytest.mark.parametrize("spec", ["nocolon", "x:", "x:   ", "baseline:cmd", "x:'unclosed"])
def test_bad_command_specs(spec: str) -> None:
    with pytest.raises(BenchError):
        parse_command_spec(spec)


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(BenchError, match="duplicate subject names: a"):
        subject_set(["a:1"], ["a:true"])
