"""Every complete policy in docs/policy.md is valid: the reference never shows a broken example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from appliance.policy.compiler import compile_policy
from appliance.policy.document import parse_document

DOCS = Path(__file__).resolve().parents[3] / "docs" / "policy.md"
EXAMPLES = [
    body
    for body in re.findall(r"```(?:yaml|json)\n(.*?)```", DOCS.read_text(), re.S)
    if "apiVersion" in body
]


def test_the_reference_has_examples() -> None:
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("text", EXAMPLES)
def test_example_is_a_valid_policy(text: str) -> None:
    compiled = compile_policy(parse_document(text, source="docs/policy.md"))
    assert compiled.rules
