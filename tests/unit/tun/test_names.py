"""gwlbtun-compatible names and hook arguments."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.dataplane.hooks import hook_argv
from appliance.dataplane.tun import BASE60, base60, endpoint_hex, interface_names
from appliance.recipes import RECIPES, hook_commands, script_path, shipped_files


def _from_base60(text: str) -> int:
    value = 0
    for char in text:
        value = value * 60 + BASE60.index(char)
    return value


def test_base60_matches_gwlbtun_digits() -> None:
    assert base60(0) == "0"
    assert base60(59) == "X"
    assert base60(60) == "10"
    assert base60(10) == "a"
    assert base60(36) == "A"
    # gwlbtun's comment: the largest 64-bit value is "uur953OEv0f"
    assert base60(2**64 - 1) == "uur953OEv0f"


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_base60_round_trips_and_names_fit_linux(value: int) -> None:
    assert _from_base60(base60(value)) == value
    gwi, gwo = interface_names(value)
    assert gwi.startswith("gwi-")
    assert gwo == "gwo-" + gwi[4:]
    assert len(gwi) <= 15


def test_base60_refuses_out_of_range() -> None:
    with pytest.raises(ValueError, match="out of range"):
        base60(-1)
    with pytest.raises(ValueError, match="out of range"):
        base60(2**64)


def test_hook_arguments_are_gwlbtuns() -> None:
    eid = 0x2B8EE1D4DB0C51C4
    assert endpoint_hex(eid) == "02b8ee1d4db0c51c4"  # 17 digits, as MakeENIStr prints
    gwi, gwo = interface_names(eid)
    argv = hook_argv("/usr/local/bin/hook --verbose", "CREATE", gwi, gwo, eid)
    assert argv == ["/usr/local/bin/hook", "--verbose", "CREATE", gwi, gwo, "02b8ee1d4db0c51c4"]


def test_recipes_resolve_to_shipped_scripts_unless_hooks_are_given() -> None:
    for recipe in RECIPES:
        assert script_path(recipe).is_file()
    create, destroy = hook_commands("route-back", None, None)
    assert create == destroy == str(script_path("route-back"))
    assert hook_commands("route-back", "/x CREATEONLY", None) == (
        "/x CREATEONLY",
        str(script_path("route-back")),
    )
    assert hook_commands("none", None, "/y") == (None, "/y")
    with pytest.raises(ValueError, match="unknown recipe"):
        script_path("bridge")
    files = shipped_files()
    assert files["route-back.sh"].startswith(b"#!/bin/sh")
    assert b"tcp dport 23" in files["route-back.nft"]
