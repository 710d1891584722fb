"""Wait until an HTTP URL answers 200; run inside a namespace by the benchmark runner.

``python -m appliance.bench.probe URL TIMEOUT_S`` exits 0 once ``URL`` answers 200,
1 when ``TIMEOUT_S`` passes first (printing the last status or error).
"""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request


def wait_ok(url: str, timeout_s: float, interval_s: float = 0.1) -> tuple[bool, str]:
    """Poll ``url`` until it answers 200 or ``timeout_s`` passes.

    Returns:
        (answered 200, last status or error seen).
    """
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310 (http URL we built)
                if response.status == 200:
                    return True, "200"
                last = str(response.status)
        except urllib.error.HTTPError as exc:
            last = f"{exc.code} {exc.read()[:80].decode(errors='replace').strip()}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        if time.monotonic() >= deadline:
            return False, last
        time.sleep(interval_s)


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``URL TIMEOUT_S``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.stderr.write("usage: python -m appliance.bench.probe URL TIMEOUT_S\n")
        return 2
    ok, last = wait_ok(args[0], float(args[1]))
    if not ok:
        sys.stderr.write(f"{args[0]}: not ready: {last}\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
