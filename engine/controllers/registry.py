"""The registry of local controllers, keyed by (apiVersion, kind)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from artifact_store import ArtifactStore
from engine.runners.base import Runner

from engine.errors import KubepipeError
from engine.phases import NodePhase

if TYPE_CHECKING:
    from engine.operator import Operator
    from engine.spec import Template
    from engine.state import NodeRecord, RunState


@dataclass(frozen=True)
class ResourceContext:
    """What a controller may use: the run, the engine's runner and stores, and its clock."""

    run_id: str
    runner: Runner
    artifacts: ArtifactStore
    work_root: Path
    clock: Callable[[], float]


class LocalController(Protocol):
    api_version: str
    kind: str

    def start(self, state: RunState, node: NodeRecord, manifest: dict[str, Any], ctx: ResourceContext) -> dict[str, Any]:
        """Create the object's work (processes, child nodes); return the object as created."""

    def reconcile(self, state: RunState, node: NodeRecord, obj: dict[str, Any], ctx: ResourceContext) -> dict[str, Any]:
        """Advance the object's work and return it with its `status` updated."""


class ControllerRegistry:
    def __init__(self) -> None:
        self._controllers: dict[tuple[str, str], LocalController] = {}

    def register(self, controller: LocalController) -> None:
        self._controllers[(controller.api_version, controller.kind)] = controller

    def kinds(self) -> list[str]:
        return sorted(f"{a}/{k}" for a, k in self._controllers)

    def lookup(self, api_version: str, kind: str) -> LocalController | None:
        return self._controllers.get((api_version, kind))

    def start(self, state: RunState, node: NodeRecord, template: Template, operator: Operator,
              ctx: ResourceContext) -> None:
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
        node.extra["resource"] = controller.start(state, node, manifest, ctx)
        state.transition(node, NodePhase.RUNNING, "resource created")

    def reconcile(self, state: RunState, node: NodeRecord, operator: Operator, ctx: ResourceContext) -> None:
        """Advance a running resource node; conditions and jsonPath outputs decide its end."""
        raise NotImplementedError("resource reconcile lands with the batch/v1 Job controller")


def default_registry() -> ControllerRegistry:
    return ControllerRegistry()
