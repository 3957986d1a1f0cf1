"""The compiled Workflow as readable, deterministic YAML (block style, literal multi-line strings)."""

from __future__ import annotations

from typing import Any

import yaml  # type: ignore[import-untyped]

from engine import spec as s


def to_yaml(workflow: s.Workflow) -> str:
    """Readable, deterministic YAML: block style, literal blocks for multi-line strings."""
    return yaml.dump(
        prune(workflow.dump()), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10**6
    )


_MEANINGFUL_EMPTY = ("none",)  # `archive: {none: {}}` is how Argo says "do not archive"


def prune(value: Any) -> Any:
    """Drop empty lists and maps (`artifacts: []`, `labels: {}`): they say nothing in Argo."""
    if isinstance(value, dict):
        pruned = {k: prune(v) for k, v in value.items()}
        return {
            k: v
            for k, v in pruned.items()
            if v not in ([], {}) or (v == {} and k in _MEANINGFUL_EMPTY)
        }
    if isinstance(value, list):
        return [prune(v) for v in value]
    return value


class _Dumper(yaml.SafeDumper):
    """SafeDumper with multi-line strings as `|` blocks, so embedded sources stay readable."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)
