"""Errors the engine raises, written for the person who has to fix the input.

Hierarchy::

    KubepipeError                  root: everything kubepipe raises on purpose
    ├── SpecError                  a workflow file is not valid (YAML, schema, graph, references)
    │                              carries a list of `Problem`s so one run reports them all
    ├── ExpressionError            a `depends`, `when`, `{{...}}` or `{{= ...}}` expression is bad
    │   └── UnresolvedReference    a `{{...}}` names something that does not exist (yet)
    ├── IllegalTransition          a node phase change the state machine forbids (a bug, not input)
    └── RunNotFound                a run id/name that the metadata store does not hold

Messages name the place (file, field path, line) and the fix; `str(err)` is what the CLI prints.
"""

from __future__ import annotations

from dataclasses import dataclass


class KubepipeError(Exception):
    """Root of every error kubepipe raises deliberately."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a workflow file: where it is and what to do about it."""

    message: str
    path: str = ""  # dotted field path, e.g. spec.templates[2].dag.tasks[0].depends
    line: int | None = None  # 1-based, when the YAML position is known
    column: int | None = None
    hint: str = ""

    def render(self, source: str = "") -> str:
        where = source or "<input>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: "
        if self.path:
            text += f"{self.path}: "
        text += self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class SpecError(KubepipeError):
    """A workflow file failed to load or validate; holds every problem found."""

    def __init__(self, problems: list[Problem], source: str = "") -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__("\n".join(p.render(source) for p in self.problems))


class ExpressionError(KubepipeError):
    """An expression could not be parsed or evaluated.

    `position` is the 0-based character offset in `expression` where the problem was noticed.
    """

    def __init__(self, message: str, expression: str = "", position: int | None = None) -> None:
        self.message = message
        self.expression = expression
        self.position = position
        text = message
        if expression:
            text += f" in expression {expression!r}"
            if position is not None:
                text += f" at offset {position}"
        super().__init__(text)


class UnresolvedReference(ExpressionError):
    """A `{{...}}` reference names an input, task, output or variable that does not exist."""

    def __init__(self, reference: str, hint: str = "") -> None:
        self.reference = reference
        message = f"unresolved reference {{{{{reference}}}}}"
        if hint:
            message += f": {hint}"
        super().__init__(message)


class IllegalTransition(KubepipeError):
    """The state machine forbids this phase change; raised by the one choke point."""

    def __init__(self, node: str, frm: str, to: str) -> None:
        super().__init__(f"node {node}: illegal phase transition {frm} -> {to}")
        self.node, self.frm, self.to = node, frm, to


class RunNotFound(KubepipeError):
    """No run with that id or name exists in the metadata store."""


class RunClaimed(KubepipeError):
    """Another live engine holds the run, or took it over from this one.

    Raised before anything is done (the claim failed) or by a fenced commit (the lease was lost
    while this engine worked); either way this engine must leave the run and its steps alone.
    """


class RunFilterError(KubepipeError, ValueError):
    """A `RunFilter` field holds a value no query can use; `field` names it for API errors."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"RunFilter.{field}: {message}")
