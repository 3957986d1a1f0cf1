"""Authoring mistakes fail at decoration time with a message naming function, parameter and fix."""

from __future__ import annotations

import pytest

import dsl
from dsl import Dataset, DefinitionError, Input, Output, TracingError


@dsl.component
def make(out: Output[Dataset]) -> None:
    open(out.path, "w").write("x")


@dsl.component
def use_int(n: int) -> int:
    return n


@dsl.component
def numbers() -> list[int]:
    return [1, 2]


@dsl.component
def two() -> None:
    return None


# -- decoration time ---------------------------------------------------------------------------


def test_missing_annotation() -> None:
    with pytest.raises(
        DefinitionError, match=r"component 'f', parameter 'x': missing type annotation.*`x: int`"
    ):

        @dsl.component
        def f(x) -> int:  # type: ignore[no-untyped-def]
            return 1


def test_unsupported_type() -> None:
    with pytest.raises(
        DefinitionError, match=r"component 'f', parameter 'x': unsupported type set"
    ):

        @dsl.component
        def f(x: set) -> None:
            pass


def test_unsupported_return_type() -> None:
    with pytest.raises(
        DefinitionError, match=r"component 'f', return value: unsupported type bytes"
    ):

        @dsl.component
        def f() -> bytes:
            return b""


def test_optional_without_default() -> None:
    with pytest.raises(DefinitionError, match=r"parameter 'x': Optional\[int\] needs a default"):

        @dsl.component
        def f(x: int | None) -> None:
            pass


def test_default_of_the_wrong_type() -> None:
    with pytest.raises(DefinitionError, match=r"parameter 'x': default 'a' is not a int"):

        @dsl.component
        def f(x: int = "a") -> None:  # type: ignore[assignment]
            pass


def test_artifact_without_direction() -> None:
    with pytest.raises(
        DefinitionError, match=r"write `d: Input\[Dataset\]` or `d: Output\[Dataset\]`"
    ):

        @dsl.component
        def f(d: Dataset) -> None:
            pass


def test_output_of_a_non_artifact() -> None:
    with pytest.raises(
        DefinitionError, match=r"parameter 'x': Output\[int\] needs an artifact class"
    ):

        @dsl.component
        def f(x: Output[int]) -> None:
            pass


def test_var_args() -> None:
    with pytest.raises(DefinitionError, match=r"parameter 'rest': \*args/\*\*kwargs"):

        @dsl.component
        def f(*rest: int) -> None:
            pass


def test_pipeline_artifact_parameter() -> None:
    with pytest.raises(
        DefinitionError, match=r"pipeline 'p', parameter 'd': pipeline inputs are parameters"
    ):

        @dsl.pipeline
        def p(d: Input[Dataset]) -> None:
            pass


# -- tracing time --------------------------------------------------------------------------------


def test_dataset_where_an_int_is_expected() -> None:
    with pytest.raises(
        TracingError,
        match=r"call of 'use-int' at .*test_dsl_errors.py:\d+, argument 'n': passing a Dataset artifact .* where a int is expected",
    ):

        @dsl.pipeline
        def p() -> None:
            use_int(n=make().outputs["out"])


def test_constant_of_the_wrong_type() -> None:
    with pytest.raises(
        TracingError, match=r"argument 'n': passing str 'three' where a int is expected"
    ):

        @dsl.pipeline
        def p() -> None:
            use_int(n="three")


def test_unknown_and_missing_arguments() -> None:
    with pytest.raises(TracingError, match=r"'m' is not a parameter \(inputs: n\)"):

        @dsl.pipeline
        def p() -> None:
            use_int(m=1)

    with pytest.raises(TracingError, match=r"missing argument 'n'"):

        @dsl.pipeline
        def q() -> None:
            use_int()


def test_output_used_outside_its_parallel_for() -> None:
    with pytest.raises(
        TracingError,
        match=r"produced inside dsl.ParallelFor 'for-loop-1' and used outside it; wrap it as dsl.Collected",
    ):

        @dsl.pipeline
        def p() -> None:
            with dsl.ParallelFor([1, 2]) as n:
                inner = use_int(n=n)
            use_int(n=inner.output)


def test_output_used_outside_its_condition() -> None:
    with pytest.raises(
        TracingError, match=r"produced inside the condition 'condition-1' and used outside"
    ):

        @dsl.pipeline
        def p(x: int = 1) -> None:
            with dsl.If(x > 0):
                inner = use_int(n=x)
            use_int(n=inner.output)


def test_cycle_made_with_after() -> None:
    with pytest.raises(
        TracingError,
        match=r"\.after\(\) makes a cycle: .*use-int .*test_dsl_errors.py:\d+.* -> use-int-2",
    ):

        @dsl.pipeline
        def p() -> None:
            a = use_int(n=1)
            b = use_int(n=a.output)
            a.after(b)


def test_python_if_on_an_output() -> None:
    with pytest.raises(TracingError, match=r"use `with dsl.If\(task.output == \.\.\.\)`"):

        @dsl.pipeline
        def p() -> None:
            if use_int(n=1).output == 3:
                pass


def test_output_of_a_task_without_one_output() -> None:
    with pytest.raises(
        TracingError, match=r"task 'two' .*\.output needs exactly one output, 'two' has none"
    ):

        @dsl.pipeline
        def p() -> None:
            use_int(n=two().output)


def test_unknown_output_name() -> None:
    with pytest.raises(
        TracingError, match=r"task 'use-int' has no output 'nope' \(its outputs: 'Output'\)"
    ):

        @dsl.pipeline
        def p() -> None:
            use_int(n=1).outputs["nope"]


def test_elif_without_if() -> None:
    with pytest.raises(TracingError, match=r"dsl.Elif at .* must directly follow a dsl.If"):

        @dsl.pipeline
        def p(x: int = 1) -> None:
            with dsl.Elif(x > 1):
                use_int(n=x)


def test_parallel_for_over_a_non_list() -> None:
    with pytest.raises(TracingError, match=r"it is a int, not a list"):

        @dsl.pipeline
        def p() -> None:
            with dsl.ParallelFor(use_int(n=1).output):
                pass


def test_collected_inside_its_loop() -> None:
    with pytest.raises(
        TracingError, match=r"dsl.Collected\(.*\) is used inside its own dsl.ParallelFor"
    ):

        @dsl.pipeline
        def p() -> None:
            with dsl.ParallelFor([1, 2]) as n:
                inner = use_int(n=n)
                sum_up = dsl.component(lambda_free_sum)
                sum_up(values=dsl.Collected(inner.output))


def lambda_free_sum(values: list[int]) -> int:
    return sum(values)


def test_pipeline_outside_a_pipeline_and_component_directly() -> None:
    assert use_int(5) == 5
    assert use_int.python_func(6) == 6

    @dsl.pipeline
    def p() -> None:
        use_int(n=1)

    with pytest.raises(
        TracingError, match=r"cannot be called outside another pipeline; compile it"
    ):
        p()


def test_returning_from_inside_a_loop() -> None:
    with pytest.raises(TracingError, match=r"pipeline outputs must come from top-level tasks"):

        @dsl.pipeline
        def p() -> int:
            with dsl.ParallelFor([1]) as n:
                t = use_int(n=n)
            return t.output


def test_packages_to_install_as_a_string() -> None:
    with pytest.raises(
        DefinitionError,
        match=r"component 'f' \(.*test_dsl_errors.py:\d+\), packages_to_install: must be a list "
        r"of strings, got 'numpy'; write packages_to_install=\['numpy'\]",
    ):

        @dsl.component(packages_to_install="numpy")  # type: ignore[arg-type]
        def f() -> None:
            return None


def test_one_of_without_an_else() -> None:
    with pytest.raises(
        TracingError,
        match=r"dsl.OneOf at .*test_dsl_errors.py:\d+: give one output from every branch .* "
        r"must end with dsl.Else.*\(missing: a dsl.Else branch\)",
    ):

        @dsl.pipeline
        def p(x: int = 1) -> int:
            with dsl.If(x > 1):
                a = use_int(n=x)
            with dsl.Elif(x > 0):
                b = use_int(n=x)
            return dsl.OneOf(a.output, b.output)


def test_one_of_used_inside_its_branch() -> None:
    with pytest.raises(
        TracingError,
        match=r"call of 'use-int' at .*test_dsl_errors.py:\d+, argument 'n': dsl.OneOf\(.*\) is "
        r"used inside a branch it picks from",
    ):

        @dsl.pipeline
        def p(x: int = 1) -> None:
            with dsl.If(x > 1):
                a = use_int(n=x)
            with dsl.Else():
                b = use_int(n=x)
                use_int(n=dsl.OneOf(a.output, b.output))
