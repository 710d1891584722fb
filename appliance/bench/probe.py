"""Talk HTTP to a subject from inside the generator namespace (run by the runner).

``python -m appliance.bench.probe wait URL TIMEOUT_S`` exits 0 once ``URL`` answers
200, 1 when ``TIMEOUT_S`` passes first (printing the last status or error).
``python -m appliance.bench.probe get URL`` prints the body of a 200 answer, else
exits 1.
"""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request


def get(url: str, timeout_s: float = 2.0) -> tuple[int, bytes]:
    """(status, body) of ``GET url``; raises ``OSError`` when there is no answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (our URL)
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_ok(url: str, timeout_s: float, interval_s: float = 0.1) -> tuple[bool, str]:
    """Poll ``url`` until it answers 200 or ``timeout_s`` passes.

    Returns:
        (answered 200, last status or error seen).
    """
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while True:
        try:
            status, body = get(url, timeout_s=1.0)
            if status == 200:
                return True, "200"
            last = f"{status} {body[:80].decode(errors='replace').strip()}"
        except OSError as exc:
            last = str(exc)
        if time.monotonic() >= deadline:
            return False, last
        time.sleep(interval_s)


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``wait URL TIMEOUT_S`` or ``get URL``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 3 and args[0] == "wait":
        ok, last = wait_ok(args[1], float(args[2]))
        if not ok:
            sys.stderr.write(f"{args[1]}: not ready: {last}\n")
        return 0 if ok else 1
    if len(args) == 2 and args[0] == "get":
        try:
            status, body = get(args[1])
        except OSError as exc:
            sys.stderr.write(f"{args[1]}: {exc}\n")
            return 1
        if status != 200:
            sys.stderr.write(f"{args[1]}: {status}\n")
            return 1
        sys.stdout.buffer.write(body)
        return 0
    sys.stderr.write("usage: python -m appliance.bench.probe wait URL TIMEOUT_S | get URL\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
