from kfp import dsl
from kfp.dsl import PipelineTaskFinalStatus


@dsl.component
def inc(x: int) -> int:
    return x + 1


@dsl.component
def report(status: PipelineTaskFinalStatus) -> str:
    return status.state


@dsl.pipeline(name="inner")
def inner(x: int = 0) -> int:
    return inc(x=inc(x=x).output).output


@dsl.pipeline(name="kfp-nested-exit")
def pipeline(x: int = 5) -> int:
    done = report()
    with dsl.ExitHandler(done):
        nested = inner(x=x)
        inc(x=nested.output).set_retry(num_retries=1)
    return nested.output


def expected() -> dict:
    return {"Output": inc.python_func(inc.python_func(5))}
