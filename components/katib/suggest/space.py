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
        count = int(math.floor((high - low) / step + 1e-9))
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
        return str(int(round(float(value))))
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
        return str(int(low) + width * int(u * count))
    if step is not None:
        count = int(math.floor((high - low) / step + 1e-9)) + 1
        return format_value(p, low + step * int(u * count))
    if is_log(p):
        return format_value(p, math.exp(math.log(low) + u * (math.log(high) - math.log(low))))
    return format_value(p, low + u * (high - low))


def grid_values(p: Parameter) -> list[str]:
    """Every value a grid search tries for `p` (doubles need a step; validated earlier)."""
    if p.parameter_type in (ParameterType.DISCRETE, ParameterType.CATEGORICAL):
        return p.choices
    low, high = p.low, p.high
    if p.parameter_type is ParameterType.INT:
        return [str(v) for v in range(int(low), int(high) + 1, int(p.step or 1))]
    step = p.step
    assert step is not None, "grid doubles have a step (checked in settings)"
    count = int(math.floor((high - low) / step + 1e-9)) + 1
    return [format_value(p, low + i * step) for i in range(count)]
