"""set_retry: a step that keeps failing is retried, then the run fails; set_timeout bounds a step.

Run it: kubepipe run examples/dsl_retries.py   (fails after 1 + 2 attempts)
"""

import dsl


@dsl.component
def flaky(message: str):
    raise SystemExit(f"not today: {message}")


@dsl.component
def quick() -> str:
    return "ok"


@dsl.pipeline(name="retries")
def retries():
    quick().set_timeout(60).set_cpu_limit("500m").set_memory_limit("256Mi").set_env_variable("MODE", "demo")
    flaky(message="try again").set_retry(num_retries=2, backoff_duration="0s")
