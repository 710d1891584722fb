"""Configuration: flag > environment > file > default, and errors that name the field."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from appliance import config
from appliance.commands import run as run_command
from appliance.errors import ConfigError

BASE = {"gwlb_cidrs": ["198.18.0.0/24"]}


def test_defaults() -> None:
    c = config.load(BASE, environ={})
    assert c.port == 6081
    assert c.health_port == 80
    assert c.tcp_timeout == 350.0
    assert c.other_timeout == 120.0
    assert c.workers >= 1
    assert c.gwlb_cidrs == ("198.18.0.0/24",)


def test_precedence_flag_over_env_over_file(tmp_path: Path) -> None:
    path = tmp_path / "gwlbd.toml"
    path.write_text(
        'health_port = 8000\nworkers = 3\nlog_level = "debug"\ngwlb_cidrs = ["198.18.5.0/24"]\n'
    )
    env = {"GWLBD_HEALTH_PORT": "8001", "GWLBD_WORKERS": "2"}
    c = config.load({"health_port": "8002"}, environ=env, config_file=str(path))
    assert c.health_port == 8002  # flag
    assert c.workers == 2  # environment
    assert c.log_level == "debug"  # file
    assert c.gwlb_cidrs == ("198.18.5.0/24",)
    assert c.config_file == str(path)


def test_environment_lists_are_comma_separated() -> None:
    c = config.load({}, environ={"GWLBD_GWLB_CIDRS": "198.18.0.0/24, 198.18.1.0/24"})
    assert c.gwlb_cidrs == ("198.18.0.0/24", "198.18.1.0/24")


@pytest.mark.parametrize(
    ("flags", "field", "words"),
    [
        ({"health_port": "70000"}, "health_port", "between 1 and 65535"),
        ({"workers": "many"}, "workers", "whole number"),
        ({"gwlb_cidrs": ["198.18.0.0/24", "10.0.0.0/33"]}, "gwlb_cidrs", "[1]"),
        ({"gwlb_cidrs": ["2001:2::/48"]}, "gwlb_cidrs", "not an IPv4 network"),
        ({"tcp_timeout": "10"}, "tcp_timeout", "between 60 and 6000"),
        ({"admin_listen": "198.18.0.1:8081"}, "admin_listen", "loopback"),
        ({"io": "dpdk"}, "io", "one of"),
    ],
)
def test_bad_values_name_the_field(flags: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        config.load({**BASE, **flags}, environ={})
    assert err.value.field == field
    assert words in str(err.value)
    assert "command line" in str(err.value)


def test_gwlb_sources_are_required() -> None:
    with pytest.raises(ConfigError) as err:
        config.load({}, environ={})
    assert err.value.field == "gwlb_cidrs"


def test_file_errors_name_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "gwlbd.toml"
    path.write_text("helth_port = 80\n")
    with pytest.raises(ConfigError) as err:
        config.load(BASE, environ={}, config_file=str(path))
    assert err.value.field == "helth_port"
    path.write_text("health_port = \n")
    with pytest.raises(ConfigError, match=r"gwlbd\.toml"):
        config.load(BASE, environ={}, config_file=str(path))
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(BASE, environ={}, config_file=str(tmp_path / "missing.toml"))


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    run_command.register(sub)
    return parser.parse_args(["run", *argv])


def test_print_config_shows_the_effective_values(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(
        ["--gwlb-cidr", "198.18.0.0/24", "--gwlb-cidr", "198.18.9.0/24", "--print-config"]
    )
    assert run_command.run(args) == 0
    out = capsys.readouterr().out
    assert '"gwlb_cidrs": [\n    "198.18.0.0/24",\n    "198.18.9.0/24"\n  ]' in out


def test_bad_configuration_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(["--gwlb-cidr", "not-a-cidr", "--print-config"])
    assert run_command.run(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("gwlbd: configuration error: gwlb_cidrs:")
