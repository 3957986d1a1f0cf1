"""hyperband: Katib's bracket schedule, in integer arithmetic, that a failed trial cannot stall.

s_max is the largest s with eta**s <= r_l (Katib's float log undercounts, e.g. r_l=243, eta=3).
Brackets run s = s_max..0; bracket s starts with n = ceil((s_max+1) * eta**s / (s+1)) random
configurations at resource r = r_l / eta**s, and rung i+1 re-runs the best ceil(n_i / eta) of
rung i at resource r * eta**(i+1). A rung is promoted once every one of its trials has ended,
whatever its state: the best are chosen among those that reported an objective, and a rung with
none moves on to the next bracket instead of waiting forever (katib#709, #1168, #1366).

Each assignment is labelled with its bracket and rung, so the rung's trials are found in the
trial list; the state saves the rung being handed out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from components.katib.settings import HyperbandSettings
from components.katib.spec import ExperimentSpec, ObjectiveType, ParameterType
from components.katib.suggest.base import Assignment, Reply, TrialView, call_seed
from components.katib.suggest.space import format_value, from_unit

__all__ = ["BRACKET_LABEL", "RUNG_LABEL", "hyperband_suggest", "s_max_of", "schedule"]

BRACKET_LABEL = "hyperband.katib.kubepipe.io/bracket"
RUNG_LABEL = "hyperband.katib.kubepipe.io/rung"


def s_max_of(r_l: int, eta: int) -> int:
    """The largest s with eta**s <= r_l, without floating-point logarithms."""
    s = 0
    while eta ** (s + 1) <= r_l:
        s += 1
    return s


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def schedule(r_l: int, eta: int) -> list[list[tuple[int, Fraction]]]:
    """Every bracket's rungs as (configurations, resource): r_l=9, eta=3 gives 9x1 3x3 1x9 | ..."""
    s_max = s_max_of(r_l, eta)
    brackets = []
    for s in range(s_max, -1, -1):
        n = _ceil_div((s_max + 1) * eta**s, s + 1)
        r = Fraction(r_l, eta**s)
        rungs = [(n, r)]
        for i in range(1, s + 1):
            n = _ceil_div(n, eta)
            rungs.append((n, r * eta**i))
        brackets.append(rungs)
    return brackets


def _resource_text(spec: ExperimentSpec, settings: HyperbandSettings, r: Fraction) -> str:
    p = spec.parameter(settings.resource_name)
    if p.parameter_type is ParameterType.INT:
        return str(max(1, math.floor(r)))
    return format_value(p, float(r))


def _start_bracket(
    spec: ExperimentSpec, settings: HyperbandSettings, s: int, s_max: int, seed: int
) -> dict[str, Any]:
    n = _ceil_div((s_max + 1) * settings.eta**s, s + 1)
    r = Fraction(settings.r_l, settings.eta**s)
    rng = np.random.default_rng(call_seed(seed, "bracket", s))
    configs = []
    for _ in range(n):
        config = {
            p.name: from_unit(p, float(rng.random()))
            for p in spec.parameters
            if p.name != settings.resource_name
        }
        config[settings.resource_name] = _resource_text(spec, settings, r)
        configs.append(config)
    return {"bracket": s, "rung": 0, "resource": str(r), "configs": configs, "issued": 0}


def hyperband_suggest(
    spec: ExperimentSpec,
    trials: Sequence[TrialView],
    count: int,
    state: Mapping[str, Any],
    settings: HyperbandSettings,
    seed: int,
) -> Reply:
    s_max = s_max_of(settings.r_l, settings.eta)
    current: dict[str, Any] = dict(state.get("hyperband") or {})
    if not current:
        current = _start_bracket(spec, settings, s_max, s_max, seed)
    new: list[Assignment] = []
    while len(new) < count and not current.get("done"):
        configs, issued = current["configs"], current["issued"]
        if issued < len(configs):
            take = configs[issued : issued + count - len(new)]
            labels = {BRACKET_LABEL: str(current["bracket"]), RUNG_LABEL: str(current["rung"])}
            new += [Assignment(dict(c), dict(labels)) for c in take]
            current["issued"] = issued + len(take)
            continue
        rung = [
            t
            for t in trials
            if t.labels.get(BRACKET_LABEL) == str(current["bracket"])
            and t.labels.get(RUNG_LABEL) == str(current["rung"])
        ]
        if len(rung) < len(configs) or any(not t.condition.is_completed for t in rung):
            break  # the rung is still running (or just handed out): wait for all of it
        current = _next_rung(spec, settings, current, rung, s_max, seed)
    exhausted = bool(current.get("done"))
    return Reply(new, {**state, "hyperband": current}, exhausted=exhausted)


def _next_rung(
    spec: ExperimentSpec,
    settings: HyperbandSettings,
    current: dict[str, Any],
    rung: Sequence[TrialView],
    s_max: int,
    seed: int,
) -> dict[str, Any]:
    s, i = current["bracket"], current["rung"]
    scored = [t for t in rung if t.condition.has_observation and t.objective is not None]
    if i < s and scored:
        keep = _ceil_div(len(current["configs"]), settings.eta)
        reverse = spec.objective.type is ObjectiveType.MAXIMIZE
        best = sorted(scored, key=lambda t: float(t.objective or 0.0), reverse=reverse)[:keep]
        r = Fraction(current["resource"]) * settings.eta
        configs = []
        for t in best:
            config = dict(t.parameters)
            config[settings.resource_name] = _resource_text(spec, settings, r)
            configs.append(config)
        return {"bracket": s, "rung": i + 1, "resource": str(r), "configs": configs, "issued": 0}
    if s == 0:
        return {**current, "done": True}
    return _start_bracket(spec, settings, s - 1, s_max, seed)
