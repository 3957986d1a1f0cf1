"""Katib parameters as numbers an algorithm can search, and back to Katib's string values."""

from __future__ import annotations

import math
from typing import Any

from components.katib.spec import Distribution, Parameter, ParameterType

__all__ = ["format_value", "from_unit", "grid_values", "is_log", "typed_value"]


def is_log(p: Parameter) -> bool:
    return p.distribution is Distribution.LOG_UNIFORM


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
    """The value at position `u` in [0, 1) of the parameter's space (log-scaled if logUniform)."""
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
