"""SsmSource against moto: labels, versions, SecureString, S3 pointers, errors, and the manager."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from appliance.policy.errors import PolicySourceError
from appliance.policy.manager import PolicyManager
from appliance.policy.sources import SsmSource
from appliance.policy.store import MemoryStore

REGION = "us-east-1"
NAME = "/gwlbd/policy"


def doc(version: str) -> str:
    return f'apiVersion: gwlbd.policy/v1\nversion: "{version}"\nrules: []\n'


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield {
            "ssm": boto3.client("ssm", region_name=REGION),
            "s3": boto3.client("s3", region_name=REGION),
        }


def test_latest_version_without_selector(aws: dict[str, Any]) -> None:
    aws["ssm"].put_parameter(Name=NAME, Value=doc("a"), Type="String")
    aws["ssm"].put_parameter(Name=NAME, Value=doc("b"), Type="String", Overwrite=True)
    fetched = SsmSource(NAME, region=REGION).fetch(None)
    assert fetched is not None
    assert fetched.text == doc("b")
    assert fetched.revision == "ssm:2"
    assert fetched.origin == "ssm:/gwlbd/policy (version 2)"


def test_label_and_version_select_the_value(aws: dict[str, Any]) -> None:
    ssm = aws["ssm"]
    ssm.put_parameter(Name=NAME, Value=doc("one"), Type="String")
    ssm.put_parameter(Name=NAME, Value=doc("two"), Type="String", Overwrite=True)
    ssm.label_parameter_version(Name=NAME, ParameterVersion=1, Labels=["live"])
    live = SsmSource(NAME, "live", region=REGION)
    fetched = live.fetch(None)
    assert fetched is not None
    assert fetched.text == doc("one")
    assert live.name == "ssm:/gwlbd/policy:live"
    assert live.fetch(fetched.revision) is None  # unchanged
    pinned = SsmSource(NAME, "2", region=REGION).fetch(None)
    assert pinned is not None
    assert pinned.text == doc("two")
    # moving the label is a change
    ssm.label_parameter_version(Name=NAME, ParameterVersion=2, Labels=["live"])
    moved = live.fetch(fetched.revision)
    assert moved is not None
    assert moved.text == doc("two")


def test_secure_string_is_decrypted(aws: dict[str, Any]) -> None:
    aws["ssm"].put_parameter(Name=NAME, Value=doc("secret"), Type="SecureString")
    fetched = SsmSource(NAME, region=REGION).fetch(None)
    assert fetched is not None
    assert fetched.text == doc("secret")


def test_s3_pointer_for_large_documents(aws: dict[str, Any]) -> None:
    aws["s3"].create_bucket(Bucket="policies")
    big = doc("big") + "# " + "x" * 10_000 + "\n"
    aws["s3"].put_object(Bucket="policies", Key="gwlbd/policy.yaml", Body=big.encode())
    aws["ssm"].put_parameter(Name=NAME, Value="s3://policies/gwlbd/policy.yaml", Type="String")
    source = SsmSource(NAME, region=REGION)
    fetched = source.fetch(None)
    assert fetched is not None
    assert fetched.text == big
    assert fetched.origin.endswith("-> s3://policies/gwlbd/policy.yaml")
    assert source.fetch(fetched.revision) is None
    # the object rewritten under the same key is a new revision
    aws["s3"].put_object(Bucket="policies", Key="gwlbd/policy.yaml", Body=doc("big2").encode())
    again = source.fetch(fetched.revision)
    assert again is not None
    assert again.text == doc("big2")


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("s3://policies/missing.yaml", "s3://policies/missing.yaml|404|NoSuchKey|Not Found"),
        ("s3://nobucket", "is not an s3://bucket/key pointer"),
    ],
)
def test_bad_s3_pointer(aws: dict[str, Any], value: str, match: str) -> None:
    aws["s3"].create_bucket(Bucket="policies")
    aws["ssm"].put_parameter(Name=NAME, Value=value, Type="String")
    with pytest.raises(PolicySourceError, match=match):
        SsmSource(NAME, region=REGION).fetch(None)


def test_missing_parameter_and_label(aws: dict[str, Any]) -> None:
    with pytest.raises(PolicySourceError, match="ParameterNotFound"):
        SsmSource("/nope", region=REGION).fetch(None)
    aws["ssm"].put_parameter(Name=NAME, Value=doc("a"), Type="String")
    with pytest.raises(PolicySourceError, match="ssm:/gwlbd/policy:nolabel"):
        SsmSource(NAME, "nolabel", region=REGION).fetch(None)


def test_manager_picks_up_a_new_labelled_version(aws: dict[str, Any]) -> None:
    ssm = aws["ssm"]
    ssm.put_parameter(Name=NAME, Value=doc("v1"), Type="String")
    ssm.label_parameter_version(Name=NAME, ParameterVersion=1, Labels=["live"])
    manager = PolicyManager(SsmSource(NAME, "live", region=REGION), MemoryStore(), poll_interval=30)
    first = manager.poll(0.0)
    assert first is not None
    assert first.version == "v1"
    ssm.put_parameter(Name=NAME, Value=doc("v2"), Type="String", Overwrite=True)
    assert manager.poll(30.0) is None  # v2 exists but is not labelled live yet
    ssm.label_parameter_version(Name=NAME, ParameterVersion=2, Labels=["live"])
    second = manager.poll(60.0)
    assert second is not None
    assert second.version == "v2"
    assert manager.status({})["source"] == "ssm:/gwlbd/policy:live (version 2)"
