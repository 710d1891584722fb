"""Flow query parsing and selection."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.control.errors import ParameterError
from appliance.control.fake import sample_flow
from appliance.control.provider import FlowQuery
from appliance.control.query import (
    FILTER_PARAMETERS,
    MAX_LIMIT,
    format_endpoint_id,
    parse_endpoint_id,
    parse_flow_query,
    query_params,
    select_flows,
)


def test_defaults() -> None:
    assert parse_flow_query({}) == FlowQuery()


def test_every_parameter() -> None:
    query = parse_flow_query(
        {"limit": ["5"], "sort": ["recent"], "endpoint": ["0xFF"], "addr": ["2001:2:0::1"],
         "port": ["443"]}
    )  # fmt: skip
    assert query == FlowQuery(limit=5, sort="recent", endpoint=255, addr="2001:2::1", port=443)


@pytest.mark.parametrize("text", ["0x0123456789abcdef", "0123456789ABCDEF", "ff", " 0x1 "])
def test_endpoint_ids_parse(text: str) -> None:
    assert format_endpoint_id(parse_endpoint_id(text)) == "0x" + text.strip().lower().removeprefix(
        "0x"
    ).zfill(16)


@pytest.mark.parametrize("text", ["", "0x", "xyz", "0x0123456789abcdef0", "-1", "0x+1", "1_0"])
def test_bad_endpoint_ids(text: str) -> None:
    with pytest.raises(ValueError, match="endpoint id"):
        parse_endpoint_id(text)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"limit": ["\u00b2"]}, "limit"),  # a unicode digit that int() refuses
        ({"limit": ["9" * 5000]}, "limit"),
        ({"limit": [str(MAX_LIMIT + 1)]}, "limit"),
        ({"port": ["1e3"]}, "port"),
        ({"limit": ["1"], "zzz": ["1"], "aaa": ["1"]}, "aaa"),
    ],
)
def test_bad_parameters_name_themselves(params: dict[str, list[str]], name: str) -> None:
    with pytest.raises(ParameterError) as caught:
        parse_flow_query(params)
    assert caught.value.parameter == name
    assert caught.value.status == 400


def test_filters_only_refuses_limit_and_sort() -> None:
    with pytest.raises(ParameterError, match="sort: unknown parameter"):
        parse_flow_query({"sort": ["bytes"]}, allowed=FILTER_PARAMETERS)


def _outcome(params: dict[str, list[str]]) -> FlowQuery | ParameterError:
    try:
        return parse_flow_query(params)
    except ParameterError as exc:
        return exc


@given(st.dictionaries(st.text(max_size=8), st.lists(st.text(max_size=20), max_size=3), max_size=4))
def test_any_input_is_a_query_or_a_parameter_error(params: dict[str, list[str]]) -> None:
    outcome = _outcome(params)
    if isinstance(outcome, ParameterError):
        assert outcome.parameter in params
    else:
        assert 0 <= outcome.limit <= MAX_LIMIT


@given(
    st.builds(
        FlowQuery,
        limit=st.integers(0, MAX_LIMIT),
        sort=st.sampled_from(["bytes", "packets", "recent"]),
        endpoint=st.none() | st.integers(0, 2**64 - 1),
        addr=st.none() | st.ip_addresses().map(str),
        port=st.none() | st.integers(0, 65535),
    )
)
def test_query_params_round_trip(query: FlowQuery) -> None:
    params = {name: [value] for name, value in query_params(query).items()}
    assert parse_flow_query(params) == query


def _flows() -> list[dict[str, Any]]:
    return [
        sample_flow(0, octets=10, packets=3, last_seen=5.0),
        sample_flow(1, octets=30, packets=1, last_seen=4.0, dst="198.19.0.9"),
        sample_flow(2, octets=20, packets=2, last_seen=6.0, endpoint_id="0x00000000000000aa"),
        sample_flow(3, octets=0, packets=0, last_seen=1.0, src="2001:2::5", dst="2001:2::6"),
    ]


@pytest.mark.parametrize(
    ("query", "sports"),
    [
        (FlowQuery(), [40001, 40002, 40000, 40003]),
        (FlowQuery(sort="packets"), [40000, 40002, 40001, 40003]),
        (FlowQuery(sort="recent", limit=2), [40002, 40000]),
        (FlowQuery(endpoint=0xAA), [40002]),
        (FlowQuery(addr="198.19.0.9"), [40001]),
        (FlowQuery(addr="2001:2::6"), [40003]),
        (FlowQuery(port=40000), [40000]),
        (FlowQuery(port=443), [40001, 40002, 40000, 40003]),
        (FlowQuery(port=1), []),
    ],
)
def test_select_flows(query: FlowQuery, sports: list[int]) -> None:
    document = select_flows(_flows(), query, now=7.0)
    assert [f["sport"] for f in document["flows"]] == sports
    assert document["schema"] == "gwlbd.flows/v1"
    assert document["now"] == 7.0


def test_total_counts_before_the_limit() -> None:
    assert select_flows(_flows(), FlowQuery(limit=1), now=0.0)["total"] == 4


def test_records_with_bad_fields_never_match_filters() -> None:
    broken = {"endpoint_id": "nonsense", "src": "not an address", "dst": None}
    assert select_flows([broken], FlowQuery(endpoint=1), now=0.0)["total"] == 0
    assert select_flows([broken], FlowQuery(addr="198.18.0.1"), now=0.0)["total"] == 0
    assert select_flows([broken], FlowQuery(), now=0.0)["total"] == 1
