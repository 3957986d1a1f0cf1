"""dsl.ExitHandler: the exit task runs after the block even when a step in it fails.

Run it: kubepipe run examples/dsl_exit_handler.py   (the run Fails; `cleanup` still runs)
"""

import dsl
from dsl import PipelineTaskFinalStatus


@dsl.component
def cleanup(status: PipelineTaskFinalStatus) -> str:
    print("group finished with", status.state)
    return status.state


@dsl.component
def work(x: int) -> int:
    return x + 1


@dsl.component
def fail(reason: str):
    raise SystemExit(f"failing on purpose: {reason}")


@dsl.pipeline(name="exit-handler")
def exit_handler(x: int = 1):
    done = cleanup()
    with dsl.ExitHandler(done):
        first = work(x=x)
        fail(reason="demo").after(first)
