"""State table items: bounded history, token and bookkeeping handling."""

from __future__ import annotations

from lambdas.records import (
    HISTORY_LIMIT,
    InstanceRecord,
    InstanceState,
    from_iso,
    iso,
    next_instance_item,
    policy_item,
)

NOW = 1_764_438_000.0


def step(old: InstanceRecord | None, n: int, **kw: object) -> InstanceRecord:
    item = next_instance_item(
        old,
        instance_id="i-0123456789abcdef0",
        asg_name="g",
        state=InstanceState.WAITING_HEALTHY,
        reason=f"check {n}",
        last_action="check",
        now=NOW + n,
        **kw,  # type: ignore[arg-type]
    )
    return InstanceRecord.from_item(item)


def test_history_keeps_the_last_twenty() -> None:
    record = None
    for n in range(HISTORY_LIMIT + 5):
        record = step(record, n)
    assert record is not None
    assert len(record.history) == HISTORY_LIMIT
    assert record.history[0] == {
        "at": iso(NOW + 5),
        "state": "waiting-healthy",
        "reason": "check 5",
    }
    assert record.history[-1]["reason"] == f"check {HISTORY_LIMIT + 4}"
    assert record.revision == HISTORY_LIMIT + 5
    assert record.updated_at == iso(NOW + HISTORY_LIMIT + 4)


def test_token_is_kept_until_replaced_and_extras_can_be_removed() -> None:
    first = step(None, 0, token="tok-1", extra={"unhealthy_since": iso(NOW)})
    second = step(first, 1)
    assert second.lifecycle_token == "tok-1"
    assert second.extra == {"unhealthy_since": iso(NOW)}
    third = step(second, 2, token="tok-2", extra={"unhealthy_since": None})
    assert third.lifecycle_token == "tok-2"
    assert third.extra == {}


def test_items_have_the_layout_the_tui_reads() -> None:
    item = next_instance_item(
        None,
        instance_id="i-0123456789abcdef0",
        asg_name="g",
        state=InstanceState.IN_SERVICE,
        reason="ok",
        last_action="CONTINUE",
        now=NOW,
    )
    assert item["pk"] == "INSTANCE#i-0123456789abcdef0"
    assert {
        "instance_id",
        "asg_name",
        "state",
        "last_action",
        "reason",
        "updated_at",
        "history",
    } <= set(item)
    assert item["updated_at"] == "2025-11-29T17:40:00Z"
    policy = policy_item(
        parameter="/gwlbd/policy",
        desired_version="3",
        desired_label="2026-11-29.1",
        live_version="3",
        now=NOW,
        last_error=None,
    )
    assert policy["pk"] == "POLICY#/gwlbd/policy"
    assert "last_error" not in policy


def test_iso_round_trip() -> None:
    assert from_iso(iso(NOW)) == NOW
