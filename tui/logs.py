"""gwlbtop logs to a file (JSON lines), never to the terminal it draws on."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

ENV_LOG_FILE = "GWLBTOP_LOG_FILE"
"""Environment variable naming the log file (``--log-file`` wins)."""

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "at": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        doc.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def default_log_file() -> Path:
    """``$GWLBTOP_LOG_FILE``, else ``$XDG_STATE_HOME/gwlbtop/gwlbtop.log``."""
    if os.environ.get(ENV_LOG_FILE):
        return Path(os.environ[ENV_LOG_FILE])
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "gwlbtop" / "gwlbtop.log"


def configure_logging(path: Path | None, level: int = logging.INFO) -> Path:
    """Send every log record to ``path`` (created if needed) and nowhere else.

    Returns:
        The log file used.
    """
    target = path or default_log_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(target, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    return target
