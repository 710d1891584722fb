"""Where the lifecycle service keeps its records: the DynamoDB state table.

:class:`StateStore` is the interface; :class:`DynamoStateStore` implements it on a boto3
DynamoDB table (moto in tests). Writes of instance items are optimistic: each carries a
``revision`` and a write that lost a race is retried on the fresh item, so the bounded
history never loses an entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from lambdas.boto_adapter import CLIENT_CONFIG, translate
from lambdas.records import (
    INSTANCE_PREFIX,
    InstanceRecord,
    InstanceState,
    instance_pk,
    next_instance_item,
    policy_item,
    policy_pk,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

_RACE_RETRIES = 5


class StateStore(Protocol):
    """Instance and policy records."""

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        """The instance's record, or None."""
        ...

    def record_instance(
        self,
        instance_id: str,
        *,
        asg_name: str,
        state: InstanceState,
        reason: str,
        last_action: str,
        now: float,
        token: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> InstanceRecord:
        """Move the instance to ``state``, appending to its history; returns the new record."""
        ...

    def set_instance_fields(self, instance_id: str, fields: dict[str, Any]) -> None:
        """Set (or with None, remove) bookkeeping attributes without a state change."""
        ...

    def instances(self) -> list[InstanceRecord]:
        """Every instance record."""
        ...

    def get_policy(self, parameter: str) -> dict[str, Any] | None:
        """The policy item of ``parameter``, or None."""
        ...

    def record_policy(
        self,
        *,
        parameter: str,
        desired_version: str,
        desired_label: str,
        live_version: str,
        now: float,
        last_error: str | None,
        last_rejected_version: str | None = None,
    ) -> None:
        """Write the policy item."""
        ...


class DynamoStateStore:
    """:class:`StateStore` on a DynamoDB table."""

    def __init__(
        self,
        table_name: str,
        session: boto3.session.Session | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        """Bind to ``table_name``.

        Args:
            table_name: the state table.
            session: boto3 session (a default one when None).
            endpoint_url: send calls there (moto's server in tests).
        """
        s = session or boto3.session.Session()
        resource = s.resource("dynamodb", endpoint_url=endpoint_url, config=CLIENT_CONFIG)
        self._table: Table = resource.Table(table_name)

    def _get(self, pk: str) -> dict[str, Any] | None:
        try:
            reply = self._table.get_item(Key={"pk": pk}, ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise translate("GetItem", exc) from exc
        item = reply.get("Item")
        return dict(item) if item else None

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        """See :meth:`StateStore.get_instance`."""
        item = self._get(instance_pk(instance_id))
        return InstanceRecord.from_item(item) if item else None

    def _put_guarded(self, item: dict[str, Any], old_revision: int | None) -> bool:
        """Put ``item`` if nobody wrote since ``old_revision``; False when we lost a race."""
        try:
            if old_revision is None:
                self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
            else:
                self._table.put_item(
                    Item=item,
                    ConditionExpression="revision = :r",
                    ExpressionAttributeValues={":r": old_revision},
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise translate("PutItem", exc) from exc
        except BotoCoreError as exc:
            raise translate("PutItem", exc) from exc
        return True

    def _update_instance(
        self, instance_id: str, build: Callable[[InstanceRecord | None], dict[str, Any]]
    ) -> InstanceRecord:
        for _ in range(_RACE_RETRIES):
            old = self.get_instance(instance_id)
            item = build(old)
            if self._put_guarded(item, old.revision if old else None):
                return InstanceRecord.from_item(item)
        raise translate(
            "PutItem",
            ClientError(
                {"Error": {"Code": "ConditionalCheckFailedException", "Message": instance_id}},
                "PutItem",
            ),
        )

    def record_instance(
        self,
        instance_id: str,
        *,
        asg_name: str,
        state: InstanceState,
        reason: str,
        last_action: str,
        now: float,
        token: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> InstanceRecord:
        """See :meth:`StateStore.record_instance`."""
        return self._update_instance(
            instance_id,
            lambda old: next_instance_item(
                old,
                instance_id=instance_id,
                asg_name=asg_name,
                state=state,
                reason=reason,
                last_action=last_action,
                now=now,
                token=token,
                extra=extra,
            ),
        )

    def set_instance_fields(self, instance_id: str, fields: dict[str, Any]) -> None:
        """See :meth:`StateStore.set_instance_fields`."""
        sets = {k: v for k, v in fields.items() if v is not None}
        removes = [k for k, v in fields.items() if v is None]
        names = {f"#a{i}": k for i, k in enumerate(fields)}
        by_name = {k: n for n, k in names.items()}
        parts = []
        if sets:
            parts.append("SET " + ", ".join(f"{by_name[k]} = :v{by_name[k][2:]}" for k in sets))
        if removes:
            parts.append("REMOVE " + ", ".join(by_name[k] for k in removes))
        if not parts:
            return
        values = {f":v{by_name[k][2:]}": v for k, v in sets.items()}
        kwargs: dict[str, Any] = {
            "Key": {"pk": instance_pk(instance_id)},
            "UpdateExpression": " ".join(parts),
            "ExpressionAttributeNames": names,
        }
        if values:
            kwargs["ExpressionAttributeValues"] = values
        try:
            self._table.update_item(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise translate("UpdateItem", exc) from exc

    def instances(self) -> list[InstanceRecord]:
        """See :meth:`StateStore.instances`."""
        found: list[InstanceRecord] = []
        kwargs: dict[str, Any] = {}
        while True:
            try:
                reply = self._table.scan(ConsistentRead=True, **kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise translate("Scan", exc) from exc
            for item in reply.get("Items", []):
                if str(item.get("pk", "")).startswith(INSTANCE_PREFIX):
                    found.append(InstanceRecord.from_item(dict(item)))
            last = reply.get("LastEvaluatedKey")
            if not last:
                return found
            kwargs["ExclusiveStartKey"] = last

    def get_policy(self, parameter: str) -> dict[str, Any] | None:
        """See :meth:`StateStore.get_policy`."""
        return self._get(policy_pk(parameter))

    def record_policy(
        self,
        *,
        parameter: str,
        desired_version: str,
        desired_label: str,
        live_version: str,
        now: float,
        last_error: str | None,
        last_rejected_version: str | None = None,
    ) -> None:
        """See :meth:`StateStore.record_policy`."""
        item = policy_item(
            parameter=parameter,
            desired_version=desired_version,
            desired_label=desired_label,
            live_version=live_version,
            now=now,
            last_error=last_error,
            last_rejected_version=last_rejected_version,
        )
        try:
            self._table.put_item(Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise translate("PutItem", exc) from exc
