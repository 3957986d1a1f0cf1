"""What a container runs when its template gives no `command`: the image's ENTRYPOINT and CMD.

Images are not pulled locally, so the local runner cannot read their config; this module knows
the handful of images Argo and KFP examples use, and follows Docker/Kubernetes rules for them:

* `command` given: run `command + args` (the image's ENTRYPOINT and CMD are ignored);
* otherwise: run `ENTRYPOINT + args`, or `ENTRYPOINT + CMD` when `args` is empty.

`argoproj/argosay` (any tag) runs `engine/runners/argosay.py` with this interpreter; a template
that names the image's binary itself (`command: [/argosay]`) gets the same shim, since that path
exists only inside the image.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ImageConfig", "image_config", "repository_of", "resolve_argv"]

_ARGOSAY = "argoproj/argosay"
_ARGOSAY_BINARIES = frozenset({"/argosay", "argosay"})


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an image's config that decide what runs."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()


def _argosay_entrypoint() -> tuple[str, ...]:
    # By file path rather than `-m engine.runners.argosay`: the step's cwd and sys.path need not
    # contain the engine, and the shim imports nothing from it.
    return (sys.executable, str(Path(__file__).with_name("argosay.py")))


def repository_of(image: str) -> str:
    """`docker.io/library/python:3.11@sha256:...` -> `python`; `ghcr.io/x/y:1` -> `x/y`."""
    name = image.split("@", 1)[0]
    head, _, rest = name.partition("/")
    if rest and ("." in head or ":" in head or head == "localhost"):
        name = rest  # drop the registry host
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        name = name[:colon]  # drop the tag
    return name.removeprefix("library/")


def image_config(image: str) -> ImageConfig | None:
    """The known ENTRYPOINT/CMD of `image`, or None when this engine does not know it."""
    repository = repository_of(image)
    if repository == _ARGOSAY:
        return ImageConfig(entrypoint=_argosay_entrypoint())
    if repository in ("busybox", "alpine", "debian", "ubuntu"):
        return ImageConfig(cmd=("sh",))
    if repository == "python" or repository.startswith("python"):
        return ImageConfig(cmd=("python3",))
    return None


def resolve_argv(
    image: str | None, command: Sequence[str] | None, args: Sequence[str] | None
) -> list[str]:
    """The argv a container would run; ValueError when that cannot be known without the image."""
    if command:
        if (
            image is not None
            and repository_of(image) == _ARGOSAY
            and command[0] in _ARGOSAY_BINARIES
        ):
            return [*_argosay_entrypoint(), *command[1:], *(args or ())]
        return [*command, *(args or ())]
    if image is None:
        raise ValueError(
            "the container has no image and no `command`; give the template a `command`"
        )
    config = image_config(image)
    if config is None:
        raise ValueError(
            f"image {image} has no known entrypoint; give the template a `command` "
            "(images are not pulled locally, so their ENTRYPOINT/CMD cannot be read)"
        )
    argv = [*config.entrypoint, *(args if args else config.cmd)]
    if not argv:
        raise ValueError(
            f"image {image} has neither ENTRYPOINT nor CMD; give the template a `command`"
        )
    return argv
