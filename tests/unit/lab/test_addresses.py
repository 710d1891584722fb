"""Lab addresses are confined to the benchmarking ranges."""

from __future__ import annotations

import pytest

from appliance.lab.errors import NamespaceError
from appliance.lab.netns import check_lab_address


@pytest.mark.parametrize(
    "text", ["198.18.0.1/30", "198.19.255.254", "2001:2::1/64", "2001:2:0:ffff::1"]
)
def test_lab_ranges_are_accepted(text: str) -> None:
    assert str(check_lab_address(text).ip) == text.split("/", maxsplit=1)[0]


@pytest.mark.parametrize(
    "text", ["198.17.255.255/24", "198.20.0.1", "10.0.0.1/8", "2001:3::1", "::1", "nonsense"]
)
def test_everything_else_is_refused(text: str) -> None:
    with pytest.raises(NamespaceError):
        check_lab_address(text)
