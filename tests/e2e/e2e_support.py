"""Helpers for the end-to-end tests (a module of its own: `conftest` names clash across folders)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def by_name(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["displayName"]: n for n in run["nodes"]}
