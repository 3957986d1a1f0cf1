from typing import List

from kfp import dsl


@dsl.component
def split(text: str) -> List[str]:
    return text.split()


@dsl.component
def length(word: str) -> int:
    return len(word)


@dsl.component
def longest(lengths: List[int]) -> int:
    return max(lengths)


@dsl.pipeline(name="kfp-loops")
def pipeline(text: str = "a quick brown fox jumps") -> int:
    words = split(text=text)
    with dsl.ParallelFor(words.output, parallelism=3) as word:
        n = length(word=word)
    return longest(lengths=dsl.Collected(n.output)).output


def expected() -> dict:
    words = split.python_func("a quick brown fox jumps")
    return {"Output": longest.python_func([length.python_func(w) for w in words])}
