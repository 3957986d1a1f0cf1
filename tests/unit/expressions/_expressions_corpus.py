"""Read the Argo example corpus (../shared/corpus/argo-examples) for expression tests.

The corpus lives next to the repository clone, not inside it, so tests skip with a reason
when it is absent instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpus" / "argo-examples"


def corpus_dir() -> Path:
    """The corpus folder, or a pytest skip when this clone has no sibling `shared/`."""
    if not CORPUS.is_dir():
        pytest.skip(f"Argo example corpus not found at {CORPUS}")
    return CORPUS


@lru_cache(maxsize=1)
def _documents() -> tuple[tuple[str, Any], ...]:
    docs = []
    for path in sorted(corpus_dir().glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return tuple(docs)


def _walk(node: Any, path: str) -> Iterator[tuple[str, str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, str(key), value
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield path, f"[{index}]", value
            yield from _walk(value, f"{path}[{index}]")


def field_values(field: str) -> list[tuple[str, str]]:
    """(file:path, value) for every string value of `field` anywhere in the corpus."""
    found = []
    for name, doc in _documents():
        for path, key, value in _walk(doc, ""):
            if key == field and isinstance(value, str):
                found.append((f"{name}:{path}.{key}", value))
    return found


def strings_containing(marker: str) -> list[tuple[str, str]]:
    """(file:path, text) for every string anywhere in the corpus that contains `marker`."""
    found = []
    for name, doc in _documents():
        for path, key, value in _walk(doc, ""):
            if isinstance(value, str) and marker in value:
                found.append((f"{name}:{path}.{key}", value))
    return found


def dependency_lists() -> list[tuple[str, list[str]]]:
    """(file:path, names) for every legacy `dependencies:` list."""
    found = []
    for name, doc in _documents():
        for path, key, value in _walk(doc, ""):
            if key == "dependencies" and isinstance(value, list):
                found.append((f"{name}:{path}", [str(v) for v in value]))
    return found
