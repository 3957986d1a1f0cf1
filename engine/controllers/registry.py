"""The registry of local controllers, keyed by (apiVersion, kind)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from engine.errors import KubepipeError
from engine.phases import NodePhase

if TYPE_CHECKING:
    from engine.operator import Operator
    from engine.spec import Template
    from engine.state import NodeRecord, RunState


class LocalController(Protocol):
    api_version: str
    kind: str

    def start(self, state: RunState, node: NodeRecord, manifest: dict[str, Any], operator: Operator) -> None:
        """Create the object's work (child nodes, processes); record the object on the node."""


class ControllerRegistry:
    def __init__(self) -> None:
        self._controllers: dict[tuple[str, str], LocalController] = {}

    def register(self, controller: LocalController) -> None:
        self._controllers[(controller.api_version, controller.kind)] = controller

    def kinds(self) -> list[str]:
        return sorted(f"{a}/{k}" for a, k in self._controllers)

    def lookup(self, api_version: str, kind: str) -> LocalController | None:
        return self._controllers.get((api_version, kind))

    def start(self, state: RunState, node: NodeRecord, template: Template, operator: Operator) -> None:
        import yaml

        assert template.resource is not None
        try:
            manifest = yaml.safe_load(template.resource.manifest or "")
        except yaml.YAMLError as exc:
            raise KubepipeError(f"resource manifest is not valid YAML: {exc}") from None
        if not isinstance(manifest, dict):
            raise KubepipeError("resource manifest must be a YAML mapping with apiVersion and kind")
        controller = self.lookup(str(manifest.get("apiVersion")), str(manifest.get("kind")))
        if controller is None:
            raise KubepipeError(
                f"no local controller for {manifest.get('apiVersion')}/{manifest.get('kind')}; "
                f"the embedded engine runs: {', '.join(self.kinds()) or 'none'}"
            )
        controller.start(state, node, manifest, operator)
        state.transition(node, NodePhase.RUNNING, "resource created")


def default_registry() -> ControllerRegistry:
    return ControllerRegistry()
