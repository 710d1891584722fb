"""The README's configuration table lists every setting the daemon has, with its flag."""

from __future__ import annotations

import re
from pathlib import Path

from appliance.config import FIELDS

README = Path(__file__).resolve().parents[3] / "README.md"


def _table() -> dict[str, str]:
    text = README.read_text()
    block = text.split("<!-- config-table:start -->")[1].split("<!-- config-table:end -->")[0]
    rows = {}
    for line in block.splitlines():
        match = re.match(r"\| `(\w+)` \((.*?)\) \|", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def test_every_setting_is_documented_with_its_flag() -> None:
    rows = _table()
    assert set(rows) == {f.name for f in FIELDS}
    for field in FIELDS:
        flag = {"gwlb_cidrs": "--gwlb-cidr", "deny_cidrs": "--deny-cidr"}.get(
            field.name, "--" + field.name.replace("_", "-")
        )
        assert f"`{flag}`" in rows[field.name], field.name
