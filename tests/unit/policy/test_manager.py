"""PolicyManager with a fake clock, an in-memory source and stores: refusals, back-off, restarts."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from appliance.errors import ConfigError
from appliance.policy.errors import PolicyError, PolicySourceError
from appliance.policy.manager import PolicyManager
from appliance.policy.sources import Fetched, FileSource, MemorySource, source_from_settings
from appliance.policy.store import FileStore, MemoryStore, StoredPolicy


def doc(version: str, action: str = "drop") -> str:
    return (
        f'apiVersion: gwlbd.policy/v1\nversion: "{version}"\n'
        f"rules:\n  - {{id: r1, action: {action}, match: {{dstPort: 22}}}}\n"
    )


BAD = 'apiVersion: gwlbd.policy/v1\nversion: "bad-1"\nrules:\n  - {id: r1, action: explode}\n'


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_first_poll_loads_and_persists() -> None:
    source, store = MemorySource(doc("v1")), MemoryStore()
    manager = PolicyManager(source, store, clock=Clock())
    snapshot = manager.poll(1000.0)
    assert snapshot is not None
    assert snapshot.version == "v1"
    assert manager.current() is snapshot
    assert store.stored is not None
    assert store.stored.text == doc("v1")
    assert store.stored.origin == "memory"


def test_unchanged_source_gives_nothing_new_and_polls_on_interval() -> None:
    source = MemorySource(doc("v1"))
    manager = PolicyManager(source, MemoryStore(), poll_interval=30)
    assert manager.poll(0.0) is not None
    assert manager.poll(10.0) is None
    assert source.fetches == 1  # not due yet
    assert manager.poll(30.0) is None
    assert source.fetches == 2
    source.text = doc("v2")
    assert manager.poll(45.0) is None  # not due
    new = manager.poll(60.0)
    assert new is not None
    assert new.version == "v2"


def test_invalid_version_is_refused_once_and_last_good_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = MemorySource(doc("v1"))
    manager = PolicyManager(source, MemoryStore(), poll_interval=10)
    good = manager.poll(0.0)
    source.text = BAD
    with caplog.at_level(logging.ERROR, logger="gwlbd.policy"):
        assert manager.poll(10.0) is None
        assert manager.poll(20.0) is None
        assert manager.poll(30.0) is None
    assert manager.current() is good
    assert manager.refused == 1  # the same bad revision is not parsed again
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1
    status = manager.status({})
    assert status["version"] == "v1"
    assert status["last_error"]["version"] == "bad-1"
    assert status["last_error"]["at"] == 10.0
    assert "rules[0].action (line 4)" in status["last_error"]["message"]


def test_unreachable_source_backs_off_exponentially_then_recovers() -> None:
    source = MemorySource(doc("v1"))
    manager = PolicyManager(source, MemoryStore(), poll_interval=10, max_backoff=35)
    manager.poll(0.0)
    source.error = "timeout"
    due_times = []
    for tick in range(10, 200):
        before = source.fetches
        manager.poll(float(tick))
        if source.fetches > before:
            due_times.append(float(tick))
    # waits of 10, 20, then 40 capped at 35
    assert due_times == [10.0, 20.0, 40.0, 75.0, 110.0, 145.0, 180.0]
    assert manager.current() is not None
    assert manager.status({})["last_error"]["message"] == "memory: timeout"
    source.error = None
    source.text = doc("v2")
    next_due = 215.0
    new = manager.poll(next_due)
    assert new is not None
    assert new.version == "v2"
    before = source.fetches
    manager.poll(next_due + 10.0)  # back to the normal interval
    assert source.fetches == before + 1


def test_start_with_unreachable_source_uses_stored_last_good() -> None:
    stored = StoredPolicy(doc("v7"), "ssm:/gwlbd/policy:live (version 7)", 5.0)
    source = MemorySource()
    source.error = "no route"
    manager = PolicyManager(source, MemoryStore(stored))
    snapshot = manager.poll(100.0)
    assert snapshot is not None
    assert snapshot.version == "v7"
    assert manager.status({})["source"].startswith("store (last good, from ssm:")


def test_start_with_invalid_source_document_uses_stored_last_good() -> None:
    manager = PolicyManager(MemorySource(BAD), MemoryStore(StoredPolicy(doc("v3"), "m", 1.0)))
    snapshot = manager.poll(0.0)
    assert snapshot is not None
    assert snapshot.version == "v3"
    assert manager.refused == 1


def test_nothing_anywhere_leaves_no_policy() -> None:
    source = MemorySource()
    manager = PolicyManager(source, MemoryStore())
    assert manager.poll(0.0) is None
    assert manager.current() is None
    status = manager.status({})
    assert status["version"] is None
    assert status["rules"] == []


def test_persistence_across_restart(tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(doc("v1"))
    first = PolicyManager(FileSource(policy_file), FileStore(tmp_path / "state"))
    assert first.poll(0.0) is not None
    # GIVEN the file is gone WHEN the daemon restarts THEN the stored copy is used
    policy_file.unlink()
    second = PolicyManager(FileSource(policy_file), FileStore(tmp_path / "state"))
    snapshot = second.poll(0.0)
    assert snapshot is not None
    assert snapshot.version == "v1"
    assert second.status({})["source"] == f"store (last good, from file:{policy_file})"
    assert second.status({})["last_error"]["message"].startswith(f"file:{policy_file}:")


def test_file_store_atomic_write_and_corrupt_file(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    assert store.load() is None
    store.save(StoredPolicy("text", "admin", 3.5))
    assert store.load() == StoredPolicy("text", "admin", 3.5)
    assert oct(store.path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir()] == ["last-good-policy.json"]
    store.path.write_text("{not json")
    assert store.load() is None


def test_file_store_failure_is_a_policy_source_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PolicySourceError, match="cannot save"):
        FileStore(blocker / "sub").save(StoredPolicy("t", "o", 1.0))


def test_apply_text_replaces_until_source_changes() -> None:
    clock = Clock()
    source = MemorySource(doc("v1"))
    manager = PolicyManager(source, MemoryStore(), poll_interval=10, clock=clock)
    manager.poll(0.0)
    pushed = manager.apply_text(doc("pushed", "allow"), "admin")
    assert manager.current() is pushed
    assert manager.status({})["source"] == "admin"
    assert manager.status({})["loaded_at"] == 1000.0
    assert manager.poll(10.0) is None  # unchanged source does not undo the push
    assert manager.current() is pushed
    source.text = doc("v2")
    new = manager.poll(20.0)
    assert new is not None
    assert new.version == "v2"


def test_apply_invalid_text_raises_and_keeps_last_good() -> None:
    manager = PolicyManager(None, MemoryStore(), clock=Clock())
    good = manager.apply_text(doc("v1"), "admin")
    with pytest.raises(PolicyError) as caught:
        manager.apply_text(BAD, "admin")
    assert "rules[0].action (line 4)" in caught.value.problems[0]
    assert manager.current() is good
    assert manager.refused == 1
    assert manager.status({})["last_error"]["version"] == "bad-1"


def test_reload_rereads_and_reports_errors() -> None:
    source = MemorySource(doc("v1"))
    manager = PolicyManager(source, MemoryStore(), poll_interval=1000)
    manager.poll(0.0)
    assert manager.reload(1.0) is None  # same document
    assert source.fetches == 2
    source.text = BAD
    with pytest.raises(PolicyError):
        manager.reload(2.0)
    source.text = doc("v2")
    reloaded = manager.reload(3.0)
    assert reloaded is not None
    assert reloaded.version == "v2"
    with pytest.raises(PolicySourceError):
        PolicyManager(None).reload(0.0)


def test_status_lists_rules_with_hits_and_default() -> None:
    manager = PolicyManager(MemorySource(doc("v1")), MemoryStore())
    manager.poll(0.0)
    status = manager.status({"r1": (2, 20, 2000), "default": (5, 50, 5000), "mid-flow": (1, 1, 60)})
    assert status["default_action"] == "allow"
    assert status["source"] == "memory"
    assert status["loaded_at"] == 0.0
    assert status["rules"] == [
        {"id": "r1", "action": "drop", "log": False, "flows": 2, "packets": 20, "bytes": 2000},
        {
            "id": "default",
            "action": "allow",
            "log": False,
            "flows": 5,
            "packets": 50,
            "bytes": 5000,
        },
        {"id": "mid-flow", "action": None, "log": False, "flows": 1, "packets": 1, "bytes": 60},
    ]
    assert status["last_error"] is None


def test_file_source_notices_changes_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(doc("v1"))
    source = FileSource(path)
    first = source.fetch(None)
    assert first is not None
    assert source.fetch(first.revision) is None
    path.write_text(doc("v2"))
    second = source.fetch(first.revision)
    assert second is not None
    assert second.text == doc("v2")
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(PolicySourceError, match="not UTF-8"):
        source.fetch(second.revision)
    path.unlink()
    with pytest.raises(PolicySourceError, match=r"p\.yaml"):
        source.fetch(None)


def test_source_from_settings(tmp_path: Path) -> None:
    assert source_from_settings(None, None) is None
    file_source = source_from_settings(str(tmp_path / "p.yaml"), None)
    assert file_source is not None
    assert file_source.name == f"file:{tmp_path / 'p.yaml'}"
    ssm = source_from_settings(None, "/gwlbd/policy", "live", region="us-east-1")
    assert ssm is not None
    assert ssm.name == "ssm:/gwlbd/policy:live"
    with pytest.raises(ConfigError, match="not both"):
        source_from_settings("p.yaml", "/gwlbd/policy")


def test_status_does_not_wait_for_a_slow_update() -> None:
    started, release = threading.Event(), threading.Event()

    class SlowSource(MemorySource):
        def fetch(self, known_revision: str | None) -> Fetched | None:
            started.set()
            release.wait(10)
            return super().fetch(known_revision)

    manager = PolicyManager(SlowSource(doc("v1")), MemoryStore())
    poller = threading.Thread(target=manager.poll, args=(0.0,))
    poller.start()
    try:
        assert started.wait(10)
        assert manager.status({})["version"] is None  # answered while the poll is blocked
    finally:
        release.set()
        poller.join(10)
    assert manager.status({})["version"] == "v1"
