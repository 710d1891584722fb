"""The last good policy, kept on disk so a restart works while the source is unreachable.

One JSON file (``last-good-policy.json``) holds the document text, where it came
from and when it was saved. It is written atomically: a temporary file in the
same directory, flushed and fsynced, then renamed over the old one, so a crash
leaves either the old or the new file, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from appliance.policy.errors import PolicySourceError

STORE_FILE = "last-good-policy.json"


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    """A policy document as it was last accepted."""

    text: str
    origin: str
    """Where it came from when it was accepted (``file:...``, ``ssm:...``, ``admin``)."""
    saved_at: float


class PolicyStore(Protocol):
    """Where the manager keeps the last good policy."""

    def save(self, stored: StoredPolicy) -> None:
        """Replace the stored policy; raises :class:`PolicySourceError` on failure."""
        ...

    def load(self) -> StoredPolicy | None:
        """The stored policy, or None when there is none (or it is unreadable)."""
        ...


class FileStore:
    """:class:`PolicyStore` in a directory (``state_dir``, e.g. ``/var/lib/gwlbd``)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory) / STORE_FILE

    def save(self, stored: StoredPolicy) -> None:
        """Write atomically (temporary file, fsync, rename, fsync of the directory)."""
        body = json.dumps(
            {"origin": stored.origin, "saved_at": stored.saved_at, "text": stored.text}
        )
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".policy-", dir=directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(body)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(temporary, 0o600)
                os.replace(temporary, self.path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise PolicySourceError(
                f"cannot save the last good policy to {self.path}: {exc}"
            ) from exc

    def load(self) -> StoredPolicy | None:
        """Read the stored policy; a missing or corrupt file counts as none."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return StoredPolicy(str(data["text"]), str(data["origin"]), float(data["saved_at"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None


class MemoryStore:
    """:class:`PolicyStore` in memory, for tests and for running without a state directory."""

    def __init__(self, stored: StoredPolicy | None = None) -> None:
        self.stored = stored
        self.saves = 0

    def save(self, stored: StoredPolicy) -> None:
        """Keep ``stored``."""
        self.stored = stored
        self.saves += 1

    def load(self) -> StoredPolicy | None:
        """The kept policy."""
        return self.stored
