"""The one suggestion signature every algorithm implements, and the records it works on.

`suggest(spec, trials, count, state) -> Reply` is pure: given the Experiment, every trial so far
(in creation order, with its condition and objective value), how many new assignments are wanted
and the state saved after the previous call, it returns at most `count` assignments and the new
state. The controller saves that state in the experiment node together with the trials it
creates, in one commit, so a restarted engine calls it again from exactly where it stopped; this
is Katib's `GetSuggestions` with the algorithm's state carried in the reply, as its hyperband
service carries it in `algorithmSettings`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.katib.conditions import TrialCondition
from components.katib.spec import ExperimentSpec

__all__ = ["Assignment", "Reply", "SuggestFn", "TrialView", "call_seed"]


@dataclass(frozen=True)
class TrialView:
    """What an algorithm may know about one trial."""

    name: str
    parameters: Mapping[str, str]
    labels: Mapping[str, str]
    condition: TrialCondition
    objective: float | None  # the objective metric's value (its strategy applied), if reported


@dataclass(frozen=True)
class Assignment:
    """One new trial: its parameter values (strings, as Katib keeps them) and labels."""

    parameters: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """New assignments, the state to save, and whether the algorithm will never give more."""

    assignments: list[Assignment]
    state: dict[str, Any]
    exhausted: bool = False


SuggestFn = Callable[[ExperimentSpec, Sequence[TrialView], int, Mapping[str, Any]], Reply]


def call_seed(seed: int, *parts: object) -> int:
    """A 32-bit seed for one call: the same history gives the same seed, a longer one another."""
    digest = hashlib.sha256(repr((seed, *parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big")
