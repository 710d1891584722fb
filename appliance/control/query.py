"""Flow queries: parsing ``/flows`` parameters and selecting flows from flow documents.

Pure code (no I/O). :func:`parse_flow_query` turns URL query parameters into a
:class:`~appliance.control.provider.FlowQuery`; :func:`select_flows` applies one to
flow records (the entries of ``gwlbd.flows/v1`` ``flows``) so that every
:class:`~appliance.control.provider.StatusProvider` filters and sorts the same way.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, get_args

from appliance.control.errors import ParameterError
from appliance.control.provider import FlowQuery, FlowSort

MAX_LIMIT: Final = 10_000
"""Largest ``limit`` a ``/flows`` request may ask for."""

SORTS: Final[tuple[str, ...]] = get_args(FlowSort)
"""The accepted values of ``sort``."""

LIST_PARAMETERS: Final = frozenset({"limit", "sort", "endpoint", "addr", "port"})
"""Parameters of ``GET /flows``."""

FILTER_PARAMETERS: Final = frozenset({"endpoint", "addr", "port"})
"""Parameters of ``POST /admin/flows/clear``: filters only."""

_MAX_ENDPOINT = (1 << 64) - 1


def format_endpoint_id(value: int) -> str:
    """Text form of an endpoint or attachment id: ``0x`` and 16 lowercase hex digits."""
    return f"0x{value:016x}"


def parse_endpoint_id(text: str) -> int:
    """Parse an endpoint id written as hex, with or without ``0x``.

    Raises:
        ValueError: not hex, or does not fit in 8 bytes.
    """
    digits = text.strip().lower().removeprefix("0x")
    if not digits or len(digits) > 16 or any(c not in "0123456789abcdef" for c in digits):
        raise ValueError(f"not an 8-byte hex endpoint id: {text!r}")
    return int(digits, 16)


def _parse_uint(name: str, raw: str, maximum: int) -> int:
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 12 or int(text) > maximum:
        raise ParameterError(name, f"must be an integer from 0 to {maximum}, got {raw!r}")
    return int(text)


def _single(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise ParameterError(name, "given more than once")
    return values[0]


def parse_flow_query(
    params: Mapping[str, Sequence[str]], *, allowed: frozenset[str] = LIST_PARAMETERS
) -> FlowQuery:
    """Build a :class:`FlowQuery` from URL query parameters (as ``urllib.parse.parse_qs`` gives).

    Args:
        params: parameter name to its values.
        allowed: the parameters this request accepts; any other one is an error.

    Returns:
        The query; ``addr`` is normalised to its canonical text form.

    Raises:
        ParameterError: naming the first unknown, repeated or invalid parameter.
    """
    for name in sorted(params):
        if name not in allowed:
            raise ParameterError(
                name, f"unknown parameter (accepted: {', '.join(sorted(allowed))})"
            )
    defaults = FlowQuery()
    limit = defaults.limit
    raw = _single(params, "limit")
    if raw is not None:
        limit = _parse_uint("limit", raw, MAX_LIMIT)
    sort: FlowSort = defaults.sort
    raw = _single(params, "sort")
    if raw is not None:
        if raw == "bytes":
            sort = "bytes"
        elif raw == "packets":
            sort = "packets"
        elif raw == "recent":
            sort = "recent"
        else:
            raise ParameterError("sort", f"must be one of {', '.join(SORTS)}, got {raw!r}")
    endpoint: int | None = None
    raw = _single(params, "endpoint")
    if raw is not None:
        try:
            endpoint = parse_endpoint_id(raw)
        except ValueError:
            raise ParameterError(
                "endpoint", f"must be an endpoint id like 0x0123456789abcdef, got {raw!r}"
            ) from None
    addr: str | None = None
    raw = _single(params, "addr")
    if raw is not None:
        try:
            addr = str(ipaddress.ip_address(raw.strip()))
        except ValueError:
            raise ParameterError("addr", f"must be an IPv4 or IPv6 address, got {raw!r}") from None
    port: int | None = None
    raw = _single(params, "port")
    if raw is not None:
        port = _parse_uint("port", raw, 65535)
    return FlowQuery(limit=limit, sort=sort, endpoint=endpoint, addr=addr, port=port)


def query_params(query: FlowQuery, *, filters_only: bool = False) -> dict[str, str]:
    """The URL query parameters that express ``query`` (the inverse of :func:`parse_flow_query`).

    Args:
        query: the query.
        filters_only: leave out ``limit`` and ``sort`` (for ``/admin/flows/clear``).
    """
    params: dict[str, str] = {}
    if not filters_only:
        params["limit"] = str(query.limit)
        params["sort"] = query.sort
    if query.endpoint is not None:
        params["endpoint"] = format_endpoint_id(query.endpoint)
    if query.addr is not None:
        params["addr"] = query.addr
    if query.port is not None:
        params["port"] = str(query.port)
    return params


def _same_address(text: Any, wanted: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        return ipaddress.ip_address(str(text)) == wanted
    except ValueError:
        return False


def _endpoint_of(flow: Mapping[str, Any]) -> int | None:
    try:
        return parse_endpoint_id(str(flow.get("endpoint_id", "")))
    except ValueError:
        return None


def flow_matches(flow: Mapping[str, Any], query: FlowQuery) -> bool:
    """Whether a flow record passes the filters of ``query`` (``limit`` and ``sort`` aside)."""
    if query.endpoint is not None and _endpoint_of(flow) != query.endpoint:
        return False
    if query.addr is not None:
        wanted = ipaddress.ip_address(query.addr)
        if not (_same_address(flow.get("src"), wanted) or _same_address(flow.get("dst"), wanted)):
            return False
    return query.port is None or query.port in (flow.get("sport"), flow.get("dport"))


def _sort_key(sort: FlowSort) -> str:
    return {"bytes": "bytes", "packets": "packets", "recent": "last_seen"}[sort]


def select_flows(
    flows: Iterable[Mapping[str, Any]], query: FlowQuery, *, now: float
) -> dict[str, Any]:
    """Filter, sort and cut flow records into a ``gwlbd.flows/v1`` document.

    Sorting is descending (largest or most recent first); ``total`` counts the
    matching flows before ``limit`` is applied.
    """
    key = _sort_key(query.sort)
    matching = [dict(f) for f in flows if flow_matches(f, query)]
    matching.sort(key=lambda f: f.get(key) or 0, reverse=True)
    return {
        "schema": "gwlbd.flows/v1",
        "now": now,
        "total": len(matching),
        "flows": matching[: query.limit],
    }
