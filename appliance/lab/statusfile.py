"""The lab's status files: JSON documents one process replaces and others read.

The simulator, the traffic and app clients and the cloud stand-in each publish their
state this way; the lab and its tests read it. A write replaces the file atomically,
so a reader sees the previous document or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_status(path: Path, document: dict[str, Any]) -> None:
    """Replace ``path`` with ``document`` atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(document, indent=1, sort_keys=True))
    os.replace(tmp, path)


def read_status(path: Path) -> dict[str, Any] | None:
    """The last document written to ``path``, or None if there is none (yet)."""
    try:
        document: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return document
