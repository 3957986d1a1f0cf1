"""Errors of the Katib component, written for the person who has to fix the Experiment.

Hierarchy::

    KubepipeError (engine.errors)
    └── KatibError                 root: everything components.katib raises on purpose
        ├── ExperimentSpecError    the Experiment manifest is invalid (names the field and the fix)
        │   └── UnsupportedFeature valid Katib, but not something the local controller runs
        ├── SuggestionError        an algorithm could not produce assignments from its state
        └── MetricsUnavailable     a trial's metrics could not be read (e.g. its endpoint)
"""

from __future__ import annotations

from engine.errors import KubepipeError

__all__ = [
    "ExperimentSpecError",
    "KatibError",
    "MetricsUnavailable",
    "SuggestionError",
    "UnsupportedFeature",
]


class KatibError(KubepipeError):
    """Root of every error the Katib component raises deliberately."""


class ExperimentSpecError(KatibError):
    """An Experiment manifest Katib's webhook or suggestion service would reject.

    `where` is the field path in Katib's spelling (`spec.parameters[0].feasibleSpace.min`) and
    `source` the file, when known, so the message points at what to edit.
    """

    def __init__(self, message: str, where: str = "", source: str = "") -> None:
        self.reason = message
        self.where = where
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        text = f"{self.source}: " if self.source else ""
        if self.where:
            text += f"{self.where}: "
        return text + self.reason

    def in_file(self, source: str) -> ExperimentSpecError:
        """The same error, naming the file it came from."""
        return type(self)(self.reason, self.where, source)


class UnsupportedFeature(ExperimentSpecError):
    """Valid Katib that the embedded engine cannot run (e.g. a PyTorchJob trial, a ConfigMap)."""


class SuggestionError(KatibError):
    """An algorithm's saved state or history is inconsistent with the Experiment."""


class MetricsUnavailable(KatibError):
    """A trial's metrics could not be collected; the trial ends MetricsUnavailable (Katib's state).

    The message names where the collector looked (a URL, a file) so the trial can be fixed.
    """
