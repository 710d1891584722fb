"""Publish a new policy version from SSM Parameter Store, only when it is valid.

A ``Parameter Store Change`` event names the parameter, not the value, so the newest
version is read, then checked with the daemon's own parser and compiler
(:mod:`appliance.policy`). Only a valid version gets the ``live`` label that appliances
load (``<name>:live``) and is recorded as desired; then every appliance is asked to
reload through SSM Run Command. An invalid version never gets the label: its problems
go to the alert topic, the logs and the state table's ``last_error``.

As for the daemon (``appliance.policy.sources.SsmSource``), a value ``s3://bucket/key``
points at the document in S3 (parameters hold 4-8 KB): the object is read and
validated, and the label still goes on the parameter version. Write a new object key
for every version: an object rewritten in place would reach appliances unvalidated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.policy.compiler import compile_policy
from appliance.policy.document import MAX_DOCUMENT_CHARS, parse_document
from appliance.policy.errors import PolicyError
from lambdas.env import RELOAD_COMMAND
from lambdas.errors import AwsCallError, ThrottledError
from lambdas.runtime import Runtime

MAX_DOCUMENT_BYTES = MAX_DOCUMENT_CHARS * 4
"""UTF-8 takes at most 4 bytes a character: a larger object cannot be a valid document."""

PUBLISHING_OPERATIONS = frozenset({"Create", "Update"})
"""Parameter operations that bring a new version (label moves do not: no loop)."""


@dataclass
class PublishResult:
    """What happened to one parameter version."""

    parameter: str
    """Parameter name."""
    version: int
    """SSM version number read."""
    accepted: bool
    """True when the version went live."""
    label: str = ""
    """The document's own ``version`` field (when it parsed)."""
    problems: list[str] = field(default_factory=list)
    """Why it was rejected, one problem (field and line) per entry."""
    command_id: str = ""
    """SSM Run Command id of the reload request."""


def validate(text: str, source: str) -> tuple[str, list[str]]:
    """Parse and compile a policy document as the daemon would (pure).

    Returns:
        ``(document version label, [])`` when valid, ``("", problems)`` when not.
    """
    try:
        doc = parse_document(text, source=source)
        compile_policy(doc)
    except PolicyError as exc:
        return "", list(exc.problems)
    return doc.version, []


def document_text(rt: Runtime, value: str) -> tuple[str, list[str]]:
    """The document a parameter value holds or points at (``s3://bucket/key``).

    Returns:
        ``(text, [])``, or ``("", problems)`` when a pointer is bad or its object unusable.
    """
    pointer = value.strip()
    if not pointer.startswith("s3://"):
        return value, []
    bucket, _, key = pointer.removeprefix("s3://").partition("/")
    if not bucket or not key:
        return "", [f"value: {pointer!r} is not an s3://bucket/key pointer"]
    try:
        data = rt.aws.read_object(bucket, key, MAX_DOCUMENT_BYTES)
    except ThrottledError:
        raise  # try again later, the version is not at fault
    except AwsCallError as exc:
        return "", [f"value: {pointer}: {exc}"]
    if len(data) > MAX_DOCUMENT_BYTES:
        return "", [f"value: {pointer}: object is over the document size limit"]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        return "", [f"value: {pointer}: not UTF-8 text ({exc.reason} at byte {exc.start})"]


def publish(rt: Runtime, parameter: str) -> PublishResult:
    """Validate the newest version of ``parameter`` and make it live if valid."""
    s, now = rt.settings, rt.clock()
    newest = rt.aws.get_parameter(parameter)
    text, problems = document_text(rt, newest.value)
    label = ""
    if not problems:
        label, problems = validate(text, f"ssm:{parameter}:{newest.version}")
    previous = rt.state.get_policy(parameter) or {}
    if problems:
        text = "\n".join(problems)
        rt.state.record_policy(
            parameter=parameter,
            desired_version=str(previous.get("desired_version", "")),
            desired_label=str(previous.get("desired_label", "")),
            live_version=str(previous.get("live_version", "")),
            now=now,
            last_error=f"version {newest.version} rejected: {text}",
            last_rejected_version=str(newest.version),
        )
        if s.alert_topic_arn:
            rt.aws.publish_alert(
                s.alert_topic_arn,
                f"gwlbd: policy {parameter} version {newest.version} rejected",
                f"Version {newest.version} of {parameter} is invalid and was not published. "
                f"Appliances keep version {previous.get('live_version') or '(none)'}.\n\n"
                f"{text}\n",
            )
        return PublishResult(parameter, newest.version, False, problems=problems)
    rt.aws.label_parameter_version(parameter, newest.version, s.policy_label)
    rt.state.record_policy(
        parameter=parameter,
        desired_version=str(newest.version),
        desired_label=label,
        live_version=str(newest.version),
        now=now,
        last_error=None,
    )
    command_id = rt.aws.send_command(
        s.asg_name, [RELOAD_COMMAND], f"gwlbd policy {label} ({parameter}:{newest.version})"
    )
    return PublishResult(parameter, newest.version, True, label=label, command_id=command_id)
