"""Katib parameters as numbers an algorithm can search, and back to Katib's string values."""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

from components.katib.spec import Distribution, Parameter, ParameterType

__all__ = [
    "format_value",
    "from_quantile",
    "from_unit",
    "grid_values",
    "is_log",
    "is_normal",
    "normal_params",
    "to_quantile",
    "to_unit",
    "typed_value",
]

_STANDARD = NormalDist()
# inv_cdf is undefined at 0 and 1; samplers may hand out either end of their unit interval.
_EDGE = 1e-12


def is_log(p: Parameter) -> bool:
    return p.distribution is Distribution.LOG_UNIFORM


def is_normal(p: Parameter) -> bool:
    """Whether `p` is drawn from a (log-)normal, i.e. samplers search its quantile, not its value."""
    return p.distribution in (Distribution.NORMAL, Distribution.LOG_NORMAL)


def normal_params(p: Parameter) -> tuple[float, float]:
    """Katib's (mu, sigma) for a normal/logNormal parameter (its hyperopt service): the middle of
    [min, max] and a sixth of its width, so min and max sit at -3 and +3 sigma; logNormal takes
    both in log space."""
    low, high = p.low, p.high
    if p.distribution is Distribution.LOG_NORMAL:
        low, high = math.log(low), math.log(high)
    return (low + high) / 2, (high - low) / 6


def _on_grid(p: Parameter, value: float) -> str:
    """`value` clipped to [min, max] and snapped to the parameter's step (ints: the nearest
    integer), as Katib's assignments are: the samplers never see values outside the space."""
    low, high = p.low, p.high
    value = min(max(value, low), high)
    step = p.step
    if p.parameter_type is ParameterType.INT:
        width = int(step or 1)
        count = (int(high) - int(low)) // width
        return str(int(low) + width * min(max(round((value - low) / width), 0), count))
    if step is not None:
        count = math.floor((high - low) / step + 1e-9)
        return format_value(p, low + step * min(max(round((value - low) / step), 0), count))
    return format_value(p, value)


def from_quantile(p: Parameter, u: float) -> str:
    """The value of a normal/logNormal parameter at quantile `u` of Katib's distribution.

    Every sampler draws `u` uniformly (or models it, as TPE does) and this one function turns it
    into a value, so all backends share Katib's mu/sigma. Katib's hyperopt service leaves the
    tails unbounded; here they are clipped to [min, max] (0.27% of draws), since a trial outside
    the declared feasible space would be outside what the user asked for.
    """
    mu, sigma = normal_params(p)
    z = _STANDARD.inv_cdf(min(max(u, _EDGE), 1.0 - _EDGE))
    value = mu + sigma * z
    if p.distribution is Distribution.LOG_NORMAL:
        value = math.exp(value)
    return _on_grid(p, value)


def to_quantile(p: Parameter, text: str) -> float:
    """The quantile of a recorded normal/logNormal value: the inverse of `from_quantile`, so a
    sampler rebuilt from saved trials sees them where it (up to rounding) drew them."""
    mu, sigma = normal_params(p)
    value = float(text)
    if p.distribution is Distribution.LOG_NORMAL:
        value = math.log(value)
    if sigma == 0:
        return 0.5
    return _STANDARD.cdf((value - mu) / sigma)


def format_value(p: Parameter, value: Any) -> str:
    """A value as Katib writes it into parameterAssignments."""
    if p.parameter_type is ParameterType.INT:
        return str(round(float(value)))
    if p.parameter_type is ParameterType.DOUBLE:
        number = float(value)
        step = p.step
        if step is not None:
            decimals = max(0, -math.floor(math.log10(step)) + 6)
            number = round(number, decimals)
        return repr(number)
    return str(value)


def typed_value(p: Parameter, text: str) -> Any:
    """A parameterAssignments string as the number/choice it stands for."""
    if p.parameter_type is ParameterType.INT:
        return int(text)
    if p.parameter_type is ParameterType.DOUBLE:
        return float(text)
    return text


def from_unit(p: Parameter, u: float) -> str:
    """The value at position `u` in [0, 1) of the parameter's space (log-scaled if logUniform,
    the `u` quantile if normal/logNormal)."""
    if is_normal(p):
        return from_quantile(p, u)
    u = min(max(u, 0.0), math.nextafter(1.0, 0.0))
    if p.parameter_type in (ParameterType.DISCRETE, ParameterType.CATEGORICAL):
        choices = p.choices
        return choices[int(u * len(choices))]
    low, high = p.low, p.high
    step = p.step
    if p.parameter_type is ParameterType.INT:
        width = int(step or 1)
        count = (int(high) - int(low)) // width + 1
        if is_log(p) and count > 1:
            # log-uniform, then the nearest value on the step, as the optuna samplers draw a
            # logUniform int: small values get the wider share of `u`, as for doubles
            value = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
            return str(int(low) + width * min(round((value - low) / width), count - 1))
        return str(int(low) + width * int(u * count))
    if step is not None:
        count = math.floor((high - low) / step + 1e-9) + 1
        return format_value(p, low + step * int(u * count))
    if is_log(p):
        # exp(log(x)) can miss x by an ulp, which would put min or max just outside the space
        value = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
        return format_value(p, min(max(value, low), high))
    return format_value(p, min(low + u * (high - low), high))


def _cell(index: int, count: int) -> float:
    """The middle of cell `index` of `count`: `from_unit` maps it back to that cell even after a
    sampler nudges it by less than half a cell, and no float rounding lands it in a neighbour."""
    return (min(max(index, 0), count - 1) + 0.5) / count


def to_unit(p: Parameter, text: str) -> float:
    """The position in [0, 1] of a recorded value: the inverse of `from_unit`, so a model that
    searches the unit box (bayesianoptimization) sees saved and pending trials where `from_unit`
    would put them, whatever the parameter's type or distribution."""
    if is_normal(p):
        return to_quantile(p, text)
    if p.parameter_type in (ParameterType.DISCRETE, ParameterType.CATEGORICAL):
        choices = p.choices
        if text not in choices:
            raise ValueError(f"{text!r} is not one of {p.name!r}'s choices {choices}")
        return _cell(choices.index(text), len(choices))
    low, high = p.low, p.high
    value = float(text)
    step = p.step
    if p.parameter_type is ParameterType.INT:
        width = int(step or 1)
        count = (int(high) - int(low)) // width + 1
        index = min(max(round((value - low) / width), 0), count - 1)
        if is_log(p) and count > 1:
            # the middle, in log space, of the values `from_unit` rounds to this one
            on_grid = low + width * index
            below = max(on_grid - width / 2, low)
            above = high if index == count - 1 else on_grid + width / 2
            middle = (math.log(below) + math.log(above)) / 2
            return (middle - math.log(low)) / (math.log(high) - math.log(low))
        return _cell(index, count)
    if step is not None:
        count = math.floor((high - low) / step + 1e-9) + 1
        return _cell(round((value - low) / step), count)
    if is_log(p):
        value, low, high = math.log(value), math.log(low), math.log(high)
    if high == low:  # a single value: any position draws it
        return 0.5
    return min(max((value - low) / (high - low), 0.0), 1.0)


def grid_values(p: Parameter) -> list[str]:
    """Every value a grid search tries for `p` (doubles need a step; validated earlier)."""
    if p.parameter_type in (ParameterType.DISCRETE, ParameterType.CATEGORICAL):
        return p.choices
    low, high = p.low, p.high
    if p.parameter_type is ParameterType.INT:
        return [str(v) for v in range(int(low), int(high) + 1, int(p.step or 1))]
    step = p.step
    assert step is not None, "grid doubles have a step (checked in settings)"
    count = math.floor((high - low) / step + 1e-9) + 1
    return [format_value(p, low + i * step) for i in range(count)]
