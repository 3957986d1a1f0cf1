"""A stdlib-only stand-in for the `argoproj/argosay:v2` image, so Argo examples run without Docker.

It follows the image's Go program (argo-workflows `test/e2e/images/argosay/v2/main/argosay.go`):

    argosay                          same as `argosay echo`
    argosay echo                     prints "hello argo"
    argosay echo TEXT                prints TEXT
    argosay echo TEXT FILE           writes TEXT (no newline) to FILE, creating its directory
    argosay cat FILE...              copies each FILE to stdout
    argosay sleep DURATION           sleeps for a Go duration ("1s", "1.5m", "300ms", "1h2m")
    argosay exit [CODE]              exits with CODE (0 when absent)
    argosay assert_contains FILE S   fails unless FILE contains S

Fidelity notes: the Go program prints with `println`, which writes to **stderr**, so `echo`
output appears in the step's logs but not in its stdout (`outputs.result`), exactly as with the
real image. Errors end like a Go panic: a message on stderr and exit code 2.

Run as `python -m engine.runners.argosay ...` or by file path (it imports nothing from the engine).
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["ArgosayError", "main", "parse_duration"]

_USAGE = (
    "usage: argosay [assert_contains file string|cat [file...]|echo [string] [file]"
    "|sleep duration|exit [code]]"
)
_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


class ArgosayError(Exception):
    """What the Go program would panic with."""


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def parse_duration(text: str) -> float:
    """Seconds in a Go `time.ParseDuration` string; "0" alone is allowed, as in Go."""
    original = text
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    if text == "0":
        return 0.0
    total, position = 0.0, 0
    while position < len(text):
        match = _DURATION_PART.match(text, position)
        if match is None:
            raise ArgosayError(f'time: invalid duration "{original}"')
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position == 0:
        raise ArgosayError(f'time: invalid duration "{original}"')
    return sign * total


def _echo(args: Sequence[str]) -> None:
    if len(args) == 0:
        print("hello argo", file=sys.stderr)
    elif len(args) == 1:
        print(args[0], file=sys.stderr)
    elif len(args) == 2:
        target = Path(args[1])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(args[0])
    else:
        raise ArgosayError("usage: argosay echo [string] [file]")


def _cat(args: Sequence[str]) -> None:
    for name in args:
        try:
            with open(name, "rb") as handle:
                shutil.copyfileobj(handle, sys.stdout.buffer)
        except OSError as error:
            raise ArgosayError(
                f"open {name}: {error.strerror.lower() if error.strerror else error}"
            ) from None
    sys.stdout.flush()


def _sleep(args: Sequence[str]) -> None:
    if len(args) != 1:
        raise ArgosayError("usage: argosay sleep duration")
    time.sleep(max(parse_duration(args[0]), 0.0))


def _exit(args: Sequence[str]) -> None:
    if len(args) == 1:
        try:
            code = int(args[0])
        except ValueError:
            raise ArgosayError(f'strconv.Atoi: parsing "{args[0]}": invalid syntax') from None
        if code != 0:
            raise _Exit(code)


def _assert_contains(args: Sequence[str]) -> None:
    if len(args) != 2:
        raise ArgosayError("usage: assert_contains data string")
    filename, expected = args
    try:
        data = Path(filename).read_text()
    except OSError as error:
        raise ArgosayError(
            f"open {filename}: {error.strerror.lower() if error.strerror else error}"
        ) from None
    if expected not in data:
        raise ArgosayError(f'expected "{filename}" to contain "{expected}", but was "{data}"')


_COMMANDS = {
    "assert_contains": _assert_contains,
    "cat": _cat,
    "echo": _echo,
    "exit": _exit,
    "sleep": _sleep,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one argosay command; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv) or ["echo"]
    command = _COMMANDS.get(args[0])
    try:
        if command is None:
            raise ArgosayError(_USAGE)
        command(args[1:])
    except _Exit as stop:
        return stop.code
    except ArgosayError as error:
        print(f"panic: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
