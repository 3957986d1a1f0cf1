"""mypy snippets: typical DSL code type-checks, and obvious misuse is flagged.

One mypy run checks every snippet (each its own module), so the test stays fast; the cache
lives in pytest's temporary directory, never in the repository.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api", reason="mypy is not installed")

ROOT = Path(__file__).resolve().parents[2]

GOOD = {
    "direct_calls": """
        import dsl

        @dsl.component
        def add(a: int, b: int = 1) -> int:
            return a + b

        total: int = add.python_func(1, b=2)
        again: int = add.fn(3)
        reveal_type(add.python_func)
    """,
    "pipeline_body": """
        from typing import List, NamedTuple
        import dsl
        from dsl import Dataset, Input, Output

        @dsl.component(base_image="python:3.12", packages_to_install=["pandas"])
        def make(rows: int, out: Output[Dataset]) -> None:
            open(out.path, "w").write("x" * rows)

        @dsl.component
        def size(data: Input[Dataset]) -> int:
            return len(open(data.path).read())

        @dsl.pipeline(name="typed", description="mypy likes it")
        def typed(rows: int = 3) -> int:
            made = make(rows=rows).set_retry(2, backoff_duration="1s").set_cpu_limit("1")
            with dsl.ParallelFor([1, 2], parallelism=1) as item:
                size(data=made.outputs["out"]).after(made).set_display_name("n")
            return size(data=made.outputs["out"]).output

        dsl.compile(typed, "typed.yaml")
    """,
}

BAD = {
    "wrong_argument_type": (
        """
        import dsl

        @dsl.component
        def add(a: int, b: int = 1) -> int:
            return a + b

        add.python_func("one")
        """,
        'Argument 1 has incompatible type "str"; expected "int"',
    ),
    "packages_as_a_string": (
        """
        import dsl

        @dsl.component(packages_to_install="numpy")
        def f() -> None:
            return None
        """,
        'No overload variant of "component" matches argument type "str"',
    ),
    "retry_count_as_a_string": (
        """
        import dsl

        def configure(task: dsl.PipelineTask) -> None:
            task.set_retry("three")
        """,
        'Argument 1 to "set_retry" of "PipelineTask" has incompatible type "str"',
    ),
}


def test_snippets(tmp_path: Path) -> None:
    for name, text in GOOD.items():
        (tmp_path / f"good_{name}.py").write_text(textwrap.dedent(text))
    for name, (text, _) in BAD.items():
        (tmp_path / f"bad_{name}.py").write_text(textwrap.dedent(text))
    stdout, stderr, _ = api.run(
        [
            "--cache-dir", str(tmp_path / ".mypy_cache"),
            "--follow-imports", "silent",
            "--no-error-summary", "--hide-error-context", "--show-absolute-path",
            *sorted(str(p) for p in tmp_path.glob("*.py")),
        ]
    )  # fmt: skip
    assert not stderr, stderr
    lines = stdout.splitlines()
    for name in GOOD:
        errors = [ln for ln in lines if f"good_{name}.py" in ln and ": error:" in ln]
        assert not errors, "\n".join(errors)
    revealed = [ln for ln in lines if "good_direct_calls.py" in ln and "Revealed type" in ln]
    assert revealed and "def (a: int, b: int =) -> int" in revealed[0]
    for name, (_, expected) in BAD.items():
        errors = [ln for ln in lines if f"bad_{name}.py" in ln and ": error:" in ln]
        assert any(expected in ln for ln in errors), (name, errors)
