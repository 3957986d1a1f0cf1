"""`to_unit` inverts `from_unit` for every parameter kind: bayesianoptimization registers saved
and pending trials through it, so a value that did not come back where it was drawn would teach
the Gaussian process the wrong point (or, on a grid, a neighbour's objective)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.katib.spec import Distribution, Parameter, ParameterType
from components.katib.suggest.space import from_unit, grid_values, is_normal, to_unit

UNITS = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


def _parameter(kind: str, **space: Any) -> Parameter:
    return Parameter.model_validate({"name": "p", "parameterType": kind, "feasibleSpace": space})


@st.composite
def choice_params(draw: st.DrawFn) -> Parameter:
    if draw(st.booleans()):
        words = draw(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=8, unique=True))
        return _parameter("categorical", list=words)
    numbers = draw(st.lists(st.integers(-1000, 1000), min_size=1, max_size=8, unique=True))
    return _parameter("discrete", list=[str(n / 4) for n in numbers])


@st.composite
def int_params(draw: st.DrawFn) -> Parameter:
    distribution = draw(st.sampled_from(list(Distribution)))
    positive = distribution in (Distribution.LOG_UNIFORM, Distribution.LOG_NORMAL)
    low = draw(st.integers(1, 500) if positive else st.integers(-500, 500))
    high = low + draw(st.integers(0, 400))
    space = {"min": str(low), "max": str(high), "distribution": distribution.value}
    if draw(st.booleans()):
        space["step"] = str(draw(st.integers(1, 9)))
    return _parameter("int", **space)


@st.composite
def stepped_doubles(draw: st.DrawFn) -> Parameter:
    # a logUniform double cannot have a step (support.check_runnable refuses it)
    distribution = draw(
        st.sampled_from([d for d in Distribution if d is not Distribution.LOG_UNIFORM])
    )
    step = draw(st.sampled_from([0.01, 0.05, 0.25, 0.5, 1.0, 3.0]))
    low = draw(st.integers(1, 400)) * step
    high = low + step * draw(st.integers(0, 60)) + draw(st.sampled_from([0.0, step / 3]))
    space = {"min": repr(low), "max": repr(high), "step": repr(step)}
    return _parameter("double", distribution=distribution.value, **space)


@st.composite
def continuous_doubles(draw: st.DrawFn) -> Parameter:
    distribution = draw(st.sampled_from(list(Distribution)))
    if distribution in (Distribution.LOG_UNIFORM, Distribution.LOG_NORMAL):
        low = draw(st.floats(1e-6, 1e3))
        high = low * draw(st.floats(1.0, 1e6))
    else:
        low = draw(st.floats(-1e4, 1e4))
        high = low + draw(st.floats(0.0, 1e4))
    return _parameter("double", min=repr(low), max=repr(high), distribution=distribution.value)


@settings(max_examples=300, deadline=None)
@given(p=st.one_of(choice_params(), int_params(), stepped_doubles()), u=UNITS)
def test_a_value_on_the_grid_comes_back_exactly(p: Parameter, u: float) -> None:
    values = grid_values(p)
    for value in (from_unit(p, u), values[0], values[-1]):
        position = to_unit(p, value)
        assert 0.0 <= position <= 1.0
        assert from_unit(p, position) == value


@settings(max_examples=50, deadline=None)
@given(p=st.one_of(choice_params(), int_params(), stepped_doubles()))
def test_every_grid_value_comes_back_exactly(p: Parameter) -> None:
    values = grid_values(p)
    assert [from_unit(p, to_unit(p, v)) for v in values] == values


@settings(max_examples=300, deadline=None)
@given(p=continuous_doubles(), u=UNITS)
def test_a_continuous_value_comes_back_up_to_rounding(p: Parameter, u: float) -> None:
    value = from_unit(p, u)
    position = to_unit(p, value)
    assert 0.0 <= position <= 1.0
    again = float(from_unit(p, position))
    assert p.low <= again <= p.high
    assert again == pytest.approx(float(value), rel=1e-6, abs=1e-9 * (p.high - p.low))
    wide = p.high - p.low > 1e-6 * max(1.0, abs(p.low), abs(p.high))  # else floats are coarse
    if not is_normal(p) and wide and 0.0 < u < 1.0:
        # a uniform/logUniform axis is the linear/log position itself, not just any inverse
        assert position == pytest.approx(u, abs=1e-6)


def test_choices_sit_in_the_middle_of_equal_cells() -> None:
    p = _parameter("categorical", list=["sgd", "adam", "rmsprop", "lamb"])
    assert [to_unit(p, c) for c in p.choices] == [0.125, 0.375, 0.625, 0.875]
    with pytest.raises(ValueError, match="'adagrad' is not one of 'p'"):
        to_unit(p, "adagrad")


def test_a_log_int_is_searched_in_log_space() -> None:
    """Like a logUniform double (and optuna's logUniform int), most of the axis goes to the
    small values: 1..10 owns the lower third of [1, 1000]."""
    p = _parameter("int", min="1", max="1000", distribution="logUniform")
    assert p.parameter_type is ParameterType.INT
    assert int(from_unit(p, 1 / 3)) == 10
    assert to_unit(p, "10") == pytest.approx(1 / 3, abs=0.001)
    assert to_unit(p, "1") < 0.05 and to_unit(p, "1000") > 0.95
