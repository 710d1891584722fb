"""The HTTP probe's command line (its HTTP use runs in the namespace tests)."""

from __future__ import annotations

import pytest

from appliance.bench import probe


@pytest.mark.parametrize("argv", [[], ["wait"], ["wait", "u"], ["get"], ["fetch", "u"]])
def test_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert probe.main(argv) == 2
    assert "usage" in capsys.readouterr().err
