"""dsl.ParallelFor over a list produced upstream, then dsl.Collected to fan the results in.

Run it: kubepipe run examples/dsl_parallel_for.py -p count=5
"""

from typing import List

import dsl


@dsl.component
def numbers(count: int) -> List[int]:
    return list(range(1, count + 1))


@dsl.component
def square(n: int) -> int:
    return n * n


@dsl.component
def total(values: List[int]) -> int:
    return sum(values)


@dsl.component
def tag(word: str, index: int) -> str:
    return f"{index}:{word}"


@dsl.pipeline(name="parallel-for")
def parallel_for(count: int = 4) -> int:
    nums = numbers(count=count)
    with dsl.ParallelFor(nums.output, parallelism=2) as n:
        sq = square(n=n)
    with dsl.ParallelFor([{"word": "a", "index": 1}, {"word": "b", "index": 2}]) as item:
        tag(word=item.word, index=item.index)
    return total(values=dsl.Collected(sq.output)).output
