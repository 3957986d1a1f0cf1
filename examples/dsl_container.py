"""A container component: a given image and command, with input and OutputPath placeholders.

Run it: kubepipe run examples/dsl_container.py -p text=hi
"""

import dsl
from dsl import ContainerSpec, OutputPath


@dsl.container_component
def shout(text: str, loud: OutputPath(str)):
    return ContainerSpec(
        image="busybox",
        command=["sh", "-c", 'printf "%s!" "$0" | tr a-z A-Z > "$1"'],
        args=[text, loud],
    )


@dsl.component
def count_chars(text: str) -> int:
    return len(text)


@dsl.pipeline(name="container")
def container(text: str = "hello") -> int:
    loud = shout(text=text)
    return count_chars(text=loud.outputs["loud"]).output
