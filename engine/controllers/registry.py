"""The registry of local controllers, keyed by (apiVersion, kind), and the resource step's life.

`start` does what `kubectl create` does for a `resource` template (names the object, records the
owner reference, refuses a name the run already created) and hands the object to its kind's
controller. `reconcile`, called every tick while the step is active, lets the controller advance
the object, then decides the step the way Argo's executor does (`workflow/executor/resource.go`):
`failureCondition` first (any of its requirements matching fails the step), then
`successCondition` (all requirements must match), and reads `valueFrom.jsonPath` outputs from the
object. Two local rules fill the gaps a cluster leaves open:

* with no `successCondition`, the step waits for the controller's own verdict (a Job's
  `Complete`/`Failed` condition) instead of succeeding as soon as the object exists, since the
  object's work runs inside this step;
* when the object's work has ended (the controller has a verdict) and the given conditions can
  no longer change, the step fails rather than waiting forever.

A step never ends while the object's processes still run: a verdict reached early (a condition
met while pods still run, a stop) stops them first, and the node ends when they have.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from artifact_store import ArtifactStore
from engine.errors import KubepipeError
from engine.phases import NodePhase
from engine.runners.base import Runner

if TYPE_CHECKING:
    from engine.operator import Operator
    from engine.spec import Template
    from engine.state import NodeRecord, RunState

_CREATE_ACTIONS = ("create", "apply")
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the API server's: no vowels, no look-alikes
_DNS_SUBDOMAIN_MAX = 253


@dataclass(frozen=True)
class ResourceContext:
    """What a controller may use: the run, the engine's runner and stores, and its clock."""

    run_id: str
    runner: Runner
    artifacts: ArtifactStore
    work_root: Path
    clock: Callable[[], float]
    namespace: str = "default"  # the run's: its pods run as that namespace's uid
    # The engine's running-step limit (engine.slots), for the pods a controller starts itself:
    # take a slot under a key before starting one (False: none free, try on a later tick), and
    # give it back under that key when the pod has ended.
    acquire_slot: Callable[[str], bool] = lambda key: True
    release_slot: Callable[[str], None] = lambda key: None


class LocalController(Protocol):
    api_version: str
    kind: str

    def start(
        self, state: RunState, node: NodeRecord, manifest: dict[str, Any], ctx: ResourceContext
    ) -> dict[str, Any]:
        """Create the object's work (processes, child nodes); return the object as created.

        `manifest` already has `metadata.name` and `metadata.namespace`. Validate everything
        before starting anything: an exception here makes the step Error.
        """

    def reconcile(
        self, state: RunState, node: NodeRecord, obj: dict[str, Any], ctx: ResourceContext
    ) -> dict[str, Any]:
        """Observe the object's work (collect what ended) and return it with its `status` updated."""

    def advance(
        self, state: RunState, node: NodeRecord, obj: dict[str, Any], ctx: ResourceContext
    ) -> dict[str, Any]:
        """Start the work the object still needs (e.g. replace a failed pod) and return it.

        Called after `reconcile` only when the step's conditions have not decided it, so a
        failureCondition met by this tick's failure never starts a replacement first.
        """

    def outcome(self, obj: dict[str, Any]) -> tuple[bool, str] | None:
        """The operator's own verdict on the object, (succeeded, message), or None while it runs."""

    def busy(self, state: RunState, node: NodeRecord) -> bool:
        """True while processes the object started are still running."""

    def cancel(self, state: RunState, node: NodeRecord, reason: str, ctx: ResourceContext) -> None:
        """Stop the object's processes and start no new ones; `reconcile` keeps collecting them."""


class ControllerRegistry:
    def __init__(self) -> None:
        self._controllers: dict[tuple[str, str], LocalController] = {}
        self.load_errors: list[str] = []  # entry-point controllers that failed to load

    def register(self, controller: LocalController) -> None:
        self._controllers[(controller.api_version, controller.kind)] = controller

    def kinds(self) -> list[str]:
        return sorted(f"{a}/{k}" for a, k in self._controllers)

    def lookup(self, api_version: str, kind: str) -> LocalController | None:
        return self._controllers.get((api_version, kind))

    # -- create -------------------------------------------------------------------------------
    def start(
        self,
        state: RunState,
        node: NodeRecord,
        template: Template,
        operator: Operator,
        ctx: ResourceContext,
    ) -> None:
        import yaml

        from engine.controllers.conditions import parse_condition
        from engine.controllers.jsonpath import render

        resource = template.resource
        assert resource is not None
        action = resource.action.value
        if action not in _CREATE_ACTIONS:
            raise KubepipeError(
                f"resource action {action!r} is not supported by the local engine, which runs objects it "
                f"creates itself: use action: create (or apply)"
            )
        if resource.manifest_from is not None:
            raise KubepipeError(
                "resource manifestFrom is not supported by the local engine; inline the "
                "object as `manifest`"
            )
        try:
            manifest = yaml.safe_load(resource.manifest or "")
        except yaml.YAMLError as exc:
            raise KubepipeError(f"resource manifest is not valid YAML: {exc}") from None
        if not isinstance(manifest, dict):
            raise KubepipeError("resource manifest must be a YAML mapping with apiVersion and kind")
        manifest = json.loads(
            json.dumps(manifest, default=str)
        )  # YAML dates become strings, as in JSON
        controller = self.lookup(str(manifest.get("apiVersion")), str(manifest.get("kind")))
        if controller is None:
            broken = f" ({'; '.join(self.load_errors)})" if self.load_errors else ""
            raise KubepipeError(
                f"no local controller for {manifest.get('apiVersion')}/{manifest.get('kind')}; "
                f"the embedded engine runs: {', '.join(self.kinds()) or 'none'}{broken}"
            )
        for which, text in (
            ("successCondition", resource.success_condition),
            ("failureCondition", resource.failure_condition),
        ):
            if text and text.strip():
                try:
                    parse_condition(text)
                except KubepipeError as exc:
                    raise KubepipeError(f"{which}: {exc}") from None
        for p in template.outputs.parameters:
            vf = p.value_from
            if vf is not None and vf.jq_filter:
                raise KubepipeError(
                    f"output parameter {p.name!r}: jqFilter outputs are not supported locally; "
                    "use jsonPath (e.g. jsonPath: '{.status.succeeded}')"
                )
            if vf is not None and vf.json_path:
                try:
                    render({}, vf.json_path)
                except KubepipeError as exc:
                    raise KubepipeError(f"output parameter {p.name!r}: {exc}") from None
        self._name(state, node, manifest, action)
        if resource.set_owner_reference:
            run = state.run
            refs = manifest["metadata"].setdefault("ownerReferences", []) or []
            manifest["metadata"]["ownerReferences"] = refs
            refs.append(
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "Workflow",
                    "name": run.name,
                    "uid": run.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            )
        node.extra["resourceStep"] = {
            "action": action,
            "successCondition": resource.success_condition,
            "failureCondition": resource.failure_condition,
            "setOwnerReference": bool(resource.set_owner_reference),
            "flags": list(resource.flags or []),
            "outputs": [p.dump() for p in template.outputs.parameters],
        }
        try:
            node.extra["resource"] = controller.start(state, node, manifest, ctx)
        except (
            TypeError,
            KeyError,
            AttributeError,
            ValueError,
        ) as exc:  # a manifest of the wrong shape
            raise KubepipeError(
                f"local {manifest['kind']} controller could not create the object: {exc!r}"
            ) from None
        meta = node.extra["resource"]["metadata"]
        state.transition(
            node,
            NodePhase.RUNNING,
            "resource created",
            f"{manifest['kind']} {meta['namespace']}/{meta['name']} created",
        )

    def _name(
        self, state: RunState, node: NodeRecord, manifest: dict[str, Any], action: str
    ) -> None:
        """metadata.name (from generateName as the API server makes it) and namespace; unique in the run."""
        meta = manifest.get("metadata")
        if meta is None:
            meta = manifest["metadata"] = {}
        if not isinstance(meta, dict):
            raise KubepipeError("resource manifest: metadata must be a mapping")
        if not meta.get("name"):
            meta["name"] = (
                f"{meta['generateName']}{name_suffix(node.id)}"
                if meta.get("generateName")
                else node.id
            )
        meta.setdefault("namespace", state.run.namespace)
        name = meta["name"] = str(meta["name"])
        if len(name) > _DNS_SUBDOMAIN_MAX or not re.fullmatch(
            r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", name
        ):
            raise KubepipeError(
                f"metadata.name: Invalid value: {name!r}: a lowercase RFC 1123 subdomain must "
                "consist of lower case alphanumeric characters, '-' or '.', and must start "
                "and end with an alphanumeric character"
            )
        kind = (manifest.get("apiVersion"), manifest.get("kind"), meta["namespace"], name)
        for other in state.nodes.values():
            obj = other.extra.get("resource") if other.id != node.id else None
            if (
                obj
                and (
                    obj.get("apiVersion"),
                    obj.get("kind"),
                    obj["metadata"].get("namespace"),
                    obj["metadata"].get("name"),
                )
                == kind
            ):
                what = (
                    "already exists"
                    if action == "create"
                    else "already exists, and applying changes to an object is not supported locally"
                )
                raise KubepipeError(
                    f"{manifest['kind']} {meta['namespace']}/{name} {what} (created by "
                    f"{other.display_name!r} in this run); use metadata.generateName for a fresh name"
                )

    # -- run ----------------------------------------------------------------------------------
    def reconcile(
        self, state: RunState, node: NodeRecord, operator: Operator, ctx: ResourceContext
    ) -> None:
        """Advance a running resource node; conditions and jsonPath outputs decide its end."""
        if node.phase.is_fulfilled:
            return
        obj = node.extra["resource"]
        controller = self.lookup(str(obj.get("apiVersion")), str(obj.get("kind")))
        if controller is None:  # a run recorded by an engine that had this kind
            state.transition(
                node,
                NodePhase.ERROR,
                "no controller",
                f"no local controller for {obj.get('apiVersion')}/{obj.get('kind')}",
            )
            return
        before = json.dumps(obj, sort_keys=True)
        verdict = node.extra.get("verdict")
        try:
            obj = controller.reconcile(state, node, obj, ctx)
            node.extra["resource"] = obj
            if verdict is None:
                verdict = self._judge(node, obj, controller)
                if verdict is None:
                    obj = node.extra["resource"] = controller.advance(state, node, obj, ctx)
        except (KubepipeError, OSError, ValueError) as exc:
            # A controller that cannot observe its work cannot be waited for: stop it and end here.
            controller.cancel(state, node, f"local {obj.get('kind')} controller failed", ctx)
            self._finish(
                state,
                node,
                operator,
                {
                    "phase": NodePhase.ERROR.value,
                    "message": f"local {obj.get('kind')} controller: {exc}",
                },
            )
            return
        if json.dumps(obj, sort_keys=True) != before:
            state.touch(node)
        if verdict is None:
            return
        if controller.busy(state, node):
            if node.extra.get("verdict") is None:
                node.extra["verdict"] = verdict
                state.touch(node)
                controller.cancel(
                    state, node, verdict["message"] or f"{obj.get('kind')} step finished", ctx
                )
            return
        self._finish(state, node, operator, verdict)

    def cancel(self, state: RunState, node: NodeRecord, reason: str, ctx: ResourceContext) -> None:
        """Stop a resource step (run stopped, deadline): its processes are cancelled now, and a
        later `reconcile` fails the node with `reason` once they have ended."""
        if node.phase.is_fulfilled or "resource" not in node.extra:
            return
        obj = node.extra["resource"]
        controller = self.lookup(str(obj.get("apiVersion")), str(obj.get("kind")))
        if node.extra.get("verdict") is None:
            node.extra["verdict"] = {"phase": NodePhase.FAILED.value, "message": reason}
            state.touch(node)
        if controller is not None:
            controller.cancel(state, node, reason, ctx)

    def _judge(
        self, node: NodeRecord, obj: dict[str, Any], controller: LocalController
    ) -> dict[str, Any] | None:
        from engine.controllers.conditions import parse_condition

        step = node.extra.get("resourceStep", {})
        failure = (step.get("failureCondition") or "").strip()
        success = (step.get("successCondition") or "").strip()
        phase: NodePhase | None = None
        message = ""
        if failure:
            selector = parse_condition(failure)
            matched = selector.first_match(obj)
            if matched is not None:
                phase = NodePhase.FAILED
                message = f"failureCondition '{failure}' matched"
                if len(selector.requirements) > 1:
                    message += f" ({matched})"
        if phase is None:
            outcome = controller.outcome(obj)
            if success and parse_condition(success).all_match(obj):
                phase = NodePhase.SUCCEEDED
            elif outcome is not None and not outcome[0]:
                phase, message = NodePhase.FAILED, outcome[1] or f"{obj.get('kind')} failed"
            elif outcome is not None and not success:
                phase = NodePhase.SUCCEEDED
            elif outcome is not None:  # done and successful, yet the condition never held
                phase = NodePhase.FAILED
                message = (
                    f"{obj.get('kind')} completed but successCondition '{success}' did not match "
                    "(it can no longer change)"
                )
        if phase is None:
            return None
        outputs, problems = self._outputs(node, obj, strict=phase is NodePhase.SUCCEEDED)
        if problems:
            phase, message = NodePhase.ERROR, "; ".join(problems)
        return {"phase": phase.value, "message": message, "outputs": outputs}

    def _outputs(
        self, node: NodeRecord, obj: dict[str, Any], *, strict: bool
    ) -> tuple[dict[str, Any], list[str]]:
        from engine.controllers.jsonpath import render
        from engine.spec import Parameter

        params: dict[str, str] = {}
        problems: list[str] = []
        for raw in node.extra.get("resourceStep", {}).get("outputs", []):
            p = Parameter.model_validate(raw)
            vf = p.value_from
            value: str | None = None
            if vf is not None and vf.json_path:
                try:
                    value = render(obj, vf.json_path)
                except KubepipeError as exc:
                    problems.append(f"output parameter {p.name!r}: {exc}")
                    continue
                if value is None:
                    value = vf.default
                if value is None and strict:
                    problems.append(
                        f"output parameter {p.name!r}: jsonPath {vf.json_path!r} selects nothing in "
                        f"the {obj.get('kind')} (fix the path, or give valueFrom.default)"
                    )
            elif vf is not None and vf.default is not None:
                value = vf.default
            elif p.value is not None:
                value = p.value
            if value is not None:
                params[p.name] = value
        return ({"parameters": params} if params else {}), problems

    def _finish(
        self, state: RunState, node: NodeRecord, operator: Operator, verdict: dict[str, Any]
    ) -> None:
        node.extra.pop("verdict", None)
        outputs = verdict.get("outputs")
        if outputs is None:  # a stop or a controller error: outputs as far as they resolve
            outputs, _ = self._outputs(node, node.extra["resource"], strict=False)
        node.outputs = outputs
        for raw in node.extra.get("resourceStep", {}).get("outputs", []):
            name, global_name = raw.get("name"), raw.get("globalName")
            if global_name and name in outputs.get("parameters", {}):
                operator.publish_global("parameters", global_name, outputs["parameters"][name])
        state.transition(node, NodePhase(verdict["phase"]), "resource finished", verdict["message"])


def process_handles(node: NodeRecord) -> list[dict[str, Any]]:
    """Runner handles (StepHandle JSON) of the still-running processes a local controller started
    as `node` (a Job's pod keeps one per container in `extra["containers"]`). `node.handle` stays
    None for such nodes, so the executor never polls them as template pods;
    `stop_without_engine` should kill these handles as it kills `node.handle`."""
    return [
        c["handle"]
        for c in node.extra.get("containers", [])
        if not c.get("done") and c.get("handle")
    ]


def name_suffix(seed: str, length: int = 5) -> str:
    """A suffix like the API server's `generateName` one, derived from `seed` so it is stable."""
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(_NAME_ALPHABET[b % len(_NAME_ALPHABET)] for b in digest[:length])


CONTROLLERS_GROUP = "kubepipe.controllers"


def default_registry() -> ControllerRegistry:
    """The built-in controllers plus those other packages register under the
    `kubepipe.controllers` entry-point group (e.g. components.katib's Experiment), each entry a
    zero-argument callable returning a LocalController: the engine never imports them by name."""
    from importlib.metadata import entry_points

    from engine.controllers.job import JobController
    from engine.controllers.objects import ConfigMapController, SecretController

    registry = ControllerRegistry()
    registry.register(JobController())
    registry.register(ConfigMapController())
    registry.register(SecretController())
    for entry in entry_points(group=CONTROLLERS_GROUP):
        try:
            registry.register(entry.load()())
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break every run
            registry.load_errors.append(
                f"controller {entry.name!r} ({entry.value}) could not be loaded: {exc!r}"
            )
    return registry
