"""A workflow's namespace is a DNS label and its name at most 253 characters, as Kubernetes
requires: past them PostgreSQL could not index the run's row (a database error, not a message)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.loader import load_manifest
from engine.spec import Workflow
from engine.validate import MAX_NAME_LENGTH, validate_workflow

HELLO = (Path(__file__).resolve().parents[3] / "examples" / "hello-world.yaml").read_text()


def _problems(metadata: str) -> list[str]:
    text = HELLO.replace("  generateName: hello-world-\n", metadata)
    manifest, _, _ = load_manifest(text)
    assert isinstance(manifest, Workflow)
    return [p.path for p in validate_workflow(manifest)]


@pytest.mark.parametrize(
    ("metadata", "paths"),
    [
        ("  generateName: hello-\n  namespace: team-a\n", []),
        (f"  name: {'n' * MAX_NAME_LENGTH}\n", []),
        (f"  name: {'n' * (MAX_NAME_LENGTH + 1)}\n", ["metadata.name"]),
        (f"  generateName: {'g' * 5000}\n", ["metadata.generateName"]),
        ("  generateName: x-\n  namespace: Team_A\n", ["metadata.namespace"]),
        (f"  generateName: x-\n  namespace: {'a' * 64}\n", ["metadata.namespace"]),
    ],
)
def test_names_and_namespaces_within_kubernetes_limits(metadata: str, paths: list[str]) -> None:
    assert _problems(metadata) == paths
