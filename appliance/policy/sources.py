"""Where policy documents come from: a local file, an SSM parameter (maybe pointing at S3), memory.

A source answers :meth:`PolicySource.fetch` with the document text and a
*revision* that identifies its content, or None when the revision is the one the
caller already has (so an unchanged SSM parameter costs one small API call and no
parse). Unreachable sources raise :class:`PolicySourceError`; the manager counts
that, backs off and keeps the policy it has.

boto3 is imported lazily, inside :class:`SsmSource`, and nowhere else in
``appliance.policy``: the Lambda validator and the data plane never pay for it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from appliance.errors import ConfigError
from appliance.policy.document import MAX_DOCUMENT_CHARS
from appliance.policy.errors import PolicySourceError

_MAX_BYTES = MAX_DOCUMENT_CHARS * 4
"""UTF-8 needs at most 4 bytes a character: a larger object cannot be a valid document."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """A document read from a source."""

    text: str
    revision: str
    """Identifies the content: a hash, or the SSM parameter version (and S3 ETag)."""
    origin: str
    """Human-readable origin for status and logs (``ssm:/gwlbd/policy:live (version 7)``)."""


class PolicySource(Protocol):
    """Something the manager polls for a policy document."""

    @property
    def name(self) -> str:
        """Description for status (``file:/etc/gwlbd/policy.yaml``, ``ssm:/gwlbd/policy:live``)."""
        ...

    def fetch(self, known_revision: str | None) -> Fetched | None:
        """The document, or None if its revision is ``known_revision``.

        Raises:
            PolicySourceError: the source could not be read.
        """
        ...


def _decode(data: bytes, where: str) -> str:
    if len(data) > _MAX_BYTES:
        raise PolicySourceError(f"{where}: {len(data)} bytes is over the document size limit")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicySourceError(
            f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from exc


class FileSource:
    """A local policy file; changes are noticed by mtime/size first, then by content hash."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._stat: tuple[int, int, int] | None = None
        self._revision: str | None = None

    @property
    def name(self) -> str:
        """``file:<path>``."""
        return f"file:{self.path}"

    def fetch(self, known_revision: str | None) -> Fetched | None:
        """Read the file unless its stat and the known revision say it has not changed."""
        try:
            info = self.path.stat()
            stat = (info.st_mtime_ns, info.st_size, info.st_ino)
            if (
                known_revision is not None
                and stat == self._stat
                and known_revision == self._revision
            ):
                return None
            if info.st_size > _MAX_BYTES:
                raise PolicySourceError(f"{self.name}: {info.st_size} bytes is over the size limit")
            data = self.path.read_bytes()
        except OSError as exc:
            raise PolicySourceError(f"{self.name}: {exc.strerror or exc}") from exc
        revision = "sha256:" + hashlib.sha256(data).hexdigest()
        self._stat, self._revision = stat, revision
        if revision == known_revision:
            return None
        return Fetched(_decode(data, self.name), revision, self.name)


class MemorySource:
    """An in-memory source for tests: set ``text`` (or ``error``) and poll."""

    def __init__(self, text: str | None = None, name: str = "memory") -> None:
        self.text = text
        self.error: str | None = None
        """When set, :meth:`fetch` raises :class:`PolicySourceError` with it."""
        self.fetches = 0
        self._name = name

    @property
    def name(self) -> str:
        """The name given."""
        return self._name

    def fetch(self, known_revision: str | None) -> Fetched | None:
        """The current text, or None if unchanged."""
        self.fetches += 1
        if self.error is not None:
            raise PolicySourceError(f"{self._name}: {self.error}")
        if self.text is None:
            raise PolicySourceError(f"{self._name}: no document")
        revision = "sha256:" + hashlib.sha256(self.text.encode()).hexdigest()
        if revision == known_revision:
            return None
        return Fetched(self.text, revision, self._name)


ClientFactory = Callable[[str], Any]
"""``service name -> boto3 client`` (``ssm``, ``s3``)."""


def _boto3_clients(region: str | None) -> ClientFactory:
    import boto3  # noqa: PLC0415 - boto3 only when an SSM source is actually used

    session = boto3.session.Session(region_name=region)

    def make(service: str) -> Any:
        if service == "ssm":
            return session.client("ssm")
        if service == "s3":
            return session.client("s3")
        raise ValueError(f"no client for {service!r}")

    return make


class SsmSource:
    """An SSM parameter selected by label or version; its value may be ``s3://bucket/key``.

    Standard parameters hold 4 KB and advanced ones 8 KB: larger documents live in
    S3 and the parameter holds the pointer (the parameter's version still says which
    document is live; the object's ETag is part of the revision so a rewrite of the
    object under the same key is noticed too).
    """

    def __init__(
        self,
        parameter: str,
        selector: str | None = None,
        *,
        region: str | None = None,
        clients: ClientFactory | None = None,
    ) -> None:
        """Create the source.

        Args:
            parameter: parameter name (``/gwlbd/policy``).
            selector: a label (``live``) or a version number (``7``); None for the latest.
            region: AWS region (default: boto3's).
            clients: factory for boto3 clients; the default builds them lazily.
        """
        self.parameter = parameter
        self.selector = selector
        self._region = region
        self._factory = clients
        self._clients: dict[str, Any] = {}

    @property
    def name(self) -> str:
        """``ssm:<parameter>[:<label or version>]``."""
        return f"ssm:{self._qualified()}"

    def _qualified(self) -> str:
        return f"{self.parameter}:{self.selector}" if self.selector else self.parameter

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            if self._factory is None:
                self._factory = _boto3_clients(self._region)
            self._clients[service] = self._factory(service)
        return self._clients[service]

    def fetch(self, known_revision: str | None) -> Fetched | None:
        """Read the parameter (decrypted when SecureString) and, if it points there, S3."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 - lazy

        try:
            answer = self._client("ssm").get_parameter(Name=self._qualified(), WithDecryption=True)
            parameter = answer["Parameter"]
            value = str(parameter["Value"])
            version = int(parameter["Version"])
            origin = f"{self.name} (version {version})"
            if not value.strip().startswith("s3://"):
                revision = f"ssm:{version}"
                if revision == known_revision:
                    return None
                return Fetched(value, revision, origin)
            bucket, key = _s3_pointer(value.strip(), self.name)
            s3 = self._client("s3")
            head = s3.head_object(Bucket=bucket, Key=key)
            revision = f"ssm:{version}:s3:{head.get('ETag', '')}"
            if revision == known_revision:
                return None
            if int(head.get("ContentLength", 0)) > _MAX_BYTES:
                raise PolicySourceError(f"{value.strip()}: object is over the document size limit")
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read(_MAX_BYTES + 1)
            text = _decode(body, value.strip())
            return Fetched(text, revision, f"{origin} -> {value.strip()}")
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = error.get("Code", "error"), error.get("Message", str(exc))
            raise PolicySourceError(f"{self.name}: {code}: {message}") from exc
        except BotoCoreError as exc:
            raise PolicySourceError(f"{self.name}: {exc}") from exc


def _s3_pointer(value: str, where: str) -> tuple[str, str]:
    bucket, _, key = value[len("s3://") :].partition("/")
    if not bucket or not key:
        raise PolicySourceError(f"{where}: {value!r} is not an s3://bucket/key pointer")
    return bucket, key


def source_from_settings(
    policy_file: str | None,
    ssm_parameter: str | None,
    ssm_selector: str | None = None,
    *,
    region: str | None = None,
) -> PolicySource | None:
    """The source the daemon settings name (``policy_file`` or ``policy_ssm_parameter``).

    Returns None when neither is set (admin pushes and the stored policy only).

    Raises:
        ConfigError: both are set.
    """
    if policy_file and ssm_parameter:
        raise ConfigError(
            "policy_ssm_parameter", "set either policy_file or policy_ssm_parameter, not both"
        )
    if policy_file:
        return FileSource(policy_file)
    if ssm_parameter:
        return SsmSource(ssm_parameter, ssm_selector or None, region=region)
    return None
