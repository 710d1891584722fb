"""gwlbd install-service: what it writes, idempotence, kept edits, dry runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance import config
from appliance.cli import main


def install(root: Path, *extra: str) -> int:
    return main(
        [
            "install-service",
            "--root",
            str(root),
            "--mode",
            "tun",
            "--tun-recipe",
            "nat-egress",
            "--gwlb-cidr",
            "10.0.0.0/16",
            "--gwlbd",
            "/usr/local/bin/gwlbd",
            *extra,
        ]
    )


def test_dry_run_prints_and_touches_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert install(tmp_path, "--dry-run", "--print", "--enable") == 0
    out = capsys.readouterr().out
    assert "would write" in out
    assert "would run systemctl enable --now gwlbd" in out
    assert "Restart=always" in out
    assert list(tmp_path.iterdir()) == []


def test_writes_a_service_with_only_the_needed_capabilities(tmp_path: Path) -> None:
    assert install(tmp_path) == 0
    unit = (tmp_path / "etc/systemd/system/gwlbd.service").read_text()
    assert "Restart=always" in unit
    assert "ExecStart=/usr/local/bin/gwlbd run --config /etc/gwlbd/gwlbd.toml" in unit
    assert "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE\n" in unit
    assert "ExecReload=/bin/kill -HUP $MAINPID" in unit
    sysctl = (tmp_path / "etc/sysctl.d/90-gwlbd.conf").read_text()
    assert "net.ipv4.ip_forward = 1" in sysctl
    script = tmp_path / "etc/gwlbd/recipes/nat-egress.sh"
    assert script.stat().st_mode & 0o111
    # the config file is valid, commented, and names the installed recipe as hooks
    path = tmp_path / "etc/gwlbd/gwlbd.toml"
    text = path.read_text()
    assert "# TCP flow idle timeout, seconds" in text
    loaded = config.load({}, environ={}, config_file=str(path))
    assert loaded.mode == "tun"
    assert loaded.gwlb_cidrs == ("10.0.0.0/16",)
    assert loaded.tun_create_hook == "/etc/gwlbd/recipes/nat-egress.sh"
    assert loaded.log_format == "json"


def test_a_second_run_changes_nothing_and_edits_are_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    install(tmp_path)
    edited = tmp_path / "etc/gwlbd/gwlbd.toml"
    edited.write_text(edited.read_text() + '\nlog_level = "debug"\n')
    capsys.readouterr()
    assert install(tmp_path) == 0
    out = capsys.readouterr().out.splitlines()
    assert all(line.startswith(("unchanged", "kept")) for line in out), out
    assert any(line.startswith("kept") and "gwlbd.toml" in line for line in out)
    assert 'log_level = "debug"' in edited.read_text()
