"""Errors the DSL raises while a pipeline is being written, in the author's terms.

    DSLError                  root: catch this to catch every authoring mistake
    ├── DefinitionError       at decoration time: a component or pipeline signature is unusable
    │                         (missing annotation, unsupported type, bad default)
    └── TracingError          while a pipeline body is traced: a wrong argument, a task output
                              used outside its ParallelFor or dsl.If, a cycle made with .after()

Every message names the function, the parameter (or task) and, where known, the source line,
then says the rule and the fix.
"""

from __future__ import annotations


class DSLError(Exception):
    """Root of the errors raised while authoring a pipeline."""


class DefinitionError(DSLError, TypeError):
    """A decorated function cannot become a component or pipeline as written."""


class TracingError(DSLError, ValueError):
    """The pipeline body wires tasks in a way that cannot compile."""
