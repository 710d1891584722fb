"""Policy text as plain data: YAML/JSON loading with duplicate-key checks, and line numbers.

Loading uses libyaml's safe loader when available (plain ``json.loads`` for JSON);
line numbers are looked up only when validation found problems, by composing the
text again with YAML's node API (JSON is YAML too), which maps every field path
(``rules[3].match.dstPort[0]``) to its line.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from appliance.policy.errors import PolicyError

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc]
    """The safe loader (libyaml when available), refusing duplicate keys.

    YAML and JSON parsers keep the last of two equal keys; in a policy that hides
    mistakes (a second ``match:`` replacing the first), so it is an error here.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key_node.value!r}", key_node.start_mark
                    )
                seen.add(key_node.value)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


class _DuplicateKeyError(ValueError):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateKeyError
    return result


def load_text(text: str, source: str) -> object:
    """Load YAML or JSON text (JSON when it starts with ``{``) into plain data.

    Raises:
        PolicyError: a syntax error or a duplicate key, with its line.
    """
    kind = "YAML"
    if text.lstrip().startswith("{"):
        kind = "JSON"
        try:
            return json.loads(text, object_pairs_hook=_unique_pairs)
        except json.JSONDecodeError as exc:
            raise PolicyError(f"{source} (line {exc.lineno}): invalid JSON: {exc.msg}") from exc
        except _DuplicateKeyError:
            pass  # JSON is YAML: the YAML loader below names the key and its line
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - CSafeLoader or SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise PolicyError(f"{source}{where}: invalid {kind}: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: invalid {kind}: {exc}") from exc


def with_line(path: str, message: str, lines: dict[str, int]) -> str:
    """``path (line N): message``, using the line of ``path`` or of its nearest parent."""
    if not path:
        return message
    probe = path
    while probe:
        if probe in lines:
            return f"{path} (line {lines[probe]}): {message}"
        cut = max(probe.rfind("."), probe.rfind("["))
        probe = probe[:cut] if cut > 0 else ""
    return f"{path}: {message}"


def line_map(text: str) -> dict[str, int]:
    """Map each field path to its 1-based line, using YAML's node tree (works for JSON too)."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return {}
    lines: dict[str, int] = {}
    stack: list[tuple[str, yaml.Node]] = [("", root)] if root is not None else []
    while stack:
        path, node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = f"{path}.{key.value}" if path else str(key.value)
                lines[sub] = key.start_mark.line + 1
                stack.append((sub, value))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                sub = f"{path}[{index}]"
                lines[sub] = item.start_mark.line + 1
                stack.append((sub, item))
    return lines
