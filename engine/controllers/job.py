"""`batch/v1` `Job`: run the pod template's containers as local processes, as the Job controller would.

Each pod is a child node of the resource step (type Pod, shown under the name kubectl would
show, `<job-name>-<5 chars>`); each of its containers is one process launched with the engine's
runner, and the pod succeeds when all of them exit 0. The object's `status` is kept in the Job
controller's shape (`startTime`, `completionTime`, `active`, `ready`, `succeeded`, `failed`,
`conditions`; zero counts are left out, as the API server's `omitempty` does), so
`successCondition`, `failureCondition` and `jsonPath` outputs read the same as on a cluster.

What it follows: `completions` (default 1) and `parallelism` (default 1) pods at a time; a failed
pod is replaced until more than `backoffLimit` (default 6) pods have failed, then the Job is
Failed with reason `BackoffLimitExceeded`; `activeDeadlineSeconds` counts from `startTime` and
ends it with `DeadlineExceeded`; both stop the pods still running. The pod template must set
`restartPolicy: Never` or `OnFailure`, as the API server requires (`OnFailure` is treated like
`Never`: a failed pod is replaced rather than restarted in place). What it does not do: the
exponential delay between pod retries (pods are replaced at once), indexed completion, pod
failure policies, init containers, volumes (kept in the object, not mounted).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from engine.controllers.registry import ResourceContext, name_suffix, process_handles
from engine.errors import KubepipeError
from engine.phases import NodePhase, NodeType
from engine.controllers.objects import find_object
from engine.pods import PodSetupError, container_request, phase_for, store_logs
from engine.runners.base import StepHandle
from engine.spec import Container
from engine.state import NodeRecord, RunState

__all__ = ["JobController"]

_UNSUPPORTED_SPEC = {
    "completionMode": ("Indexed",),
    "podFailurePolicy": None,
    "backoffLimitPerIndex": None,
    "successPolicy": None,
    "managedBy": None,
}
_NOWHERE = Path("/nonexistent/kubepipe-check")  # a workdir for requests built only to be checked


def k8s_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class JobSpecError(KubepipeError):
    """The Job manifest is not one the API server (or the local controller) would accept."""


def _int(
    spec: dict[str, Any], field: str, default: int | None, minimum: int = 0, where: str = "spec"
) -> int | None:
    value = spec.get(field, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise JobSpecError(
            f"{where}.{field}: Invalid value: {value!r}: must be an integer >= {minimum}"
        )
    return value


class JobController:
    api_version = "batch/v1"
    kind = "Job"

    # -- create -------------------------------------------------------------------------------
    def start(
        self, state: RunState, node: NodeRecord, manifest: dict[str, Any], ctx: ResourceContext
    ) -> dict[str, Any]:
        obj = json.loads(json.dumps(manifest, default=str))  # a deep, JSON-clean copy
        containers = self._containers(obj)  # validates before anything runs
        spec = obj["spec"]
        spec.setdefault("backoffLimit", 6)
        if spec.get("completions") is None and spec.get("parallelism") not in (None, 1):
            raise JobSpecError(
                "spec.completions is not set but spec.parallelism is: work-queue Jobs "
                "are not supported by the local Job controller; set spec.completions"
            )
        spec.setdefault("completions", 1)
        spec.setdefault("parallelism", 1)
        _int(spec, "backoffLimit", 6)
        _int(spec, "completions", 1, minimum=1)
        _int(spec, "parallelism", 1)
        deadline = _int(spec, "activeDeadlineSeconds", None, minimum=1)
        if spec.get("suspend"):
            raise JobSpecError(
                "spec.suspend: true is not supported by the local Job controller "
                "(nothing would ever resume it)"
            )
        meta = obj["metadata"]
        uid = meta.setdefault(
            "uid", str(uuid.uuid5(uuid.NAMESPACE_URL, f"kubepipe:{ctx.run_id}/{node.id}"))
        )
        now = ctx.clock()
        meta.setdefault("creationTimestamp", k8s_time(now))
        labels = {
            "batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": meta["name"],
            "controller-uid": uid,
            "job-name": meta["name"],
        }
        spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
        template_meta = spec["template"].setdefault("metadata", {}) or {}
        spec["template"]["metadata"] = template_meta
        template_meta["labels"] = {**(template_meta.get("labels") or {}), **labels}
        obj["status"] = {"startTime": k8s_time(now)}
        node.extra["job"] = {
            "pods": [],
            "cancelled": None,
            "startedAt": now,
            "deadline": deadline,
            "containers": len(containers),
        }
        self._launch_pods(state, node, obj, ctx)
        self._count(state, node, obj)
        return obj

    def _containers(self, obj: dict[str, Any]) -> list[Container]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            raise JobSpecError("spec: Required value: a Job needs spec.template.spec.containers")
        for field, allowed in _UNSUPPORTED_SPEC.items():
            if spec.get(field) is not None and (allowed is None or spec[field] in allowed):
                raise JobSpecError(f"spec.{field} is not supported by the local Job controller")
        template = spec.get("template")
        pod = template.get("spec") if isinstance(template, dict) else None
        if not isinstance(pod, dict):
            raise JobSpecError("spec.template.spec: Required value: a Job needs a pod template")
        restart = pod.get("restartPolicy")
        if restart not in ("Never", "OnFailure"):
            what = "Required value" if restart is None else f"Unsupported value: {restart!r}"
            raise JobSpecError(
                f'spec.template.spec.restartPolicy: {what}: supported values: "OnFailure", "Never"'
            )
        _int(pod, "activeDeadlineSeconds", None, minimum=1, where="spec.template.spec")
        if pod.get("initContainers"):
            raise JobSpecError(
                "spec.template.spec.initContainers are not supported by the local Job controller"
            )
        raw = pod.get("containers")
        if not isinstance(raw, list) or not raw:
            raise JobSpecError(
                "spec.template.spec.containers: Required value: a Job's pod needs at least one container"
            )
        containers: list[Container] = []
        seen: set[str] = set()
        for i, item in enumerate(raw):
            where = f"spec.template.spec.containers[{i}]"
            if not isinstance(item, dict):
                raise JobSpecError(f"{where}: must be a mapping")
            try:
                container = Container.model_validate(item)
            except ValidationError as exc:
                first = exc.errors()[0]
                loc = ".".join(str(p) for p in first["loc"])
                raise JobSpecError(f"{where}.{loc}: {first['msg']}") from None
            if not container.name:
                raise JobSpecError(f"{where}.name: Required value")
            if container.name in seen:
                raise JobSpecError(f"{where}.name: Duplicate value: {container.name!r}")
            seen.add(container.name)
            if not container.image:
                raise JobSpecError(f"{where}.image: Required value")
            try:  # the argv is what runs: without the image, it must be known now
                container_request(container, key="check", workdir=_NOWHERE)
            except (PodSetupError, ValueError) as exc:
                raise JobSpecError(f"{where} ({container.name}): {exc}") from None
            containers.append(container)
        return containers

    # -- run ----------------------------------------------------------------------------------
    def reconcile(
        self, state: RunState, node: NodeRecord, obj: dict[str, Any], ctx: ResourceContext
    ) -> dict[str, Any]:
        book = node.extra["job"]
        multi = book.get("containers", 1) > 1
        for pod in book["pods"]:
            if not pod["done"]:
                self._poll_pod(state, node, pod, ctx, multi)
        status = obj.setdefault("status", {})
        if _terminal(status) is None:
            succeeded, failed, _ = self._count(state, node, obj)
            spec = obj["spec"]
            now = ctx.clock()
            deadline = book.get("deadline")
            if deadline is not None and now - book["startedAt"] >= deadline:
                self._end(
                    state,
                    node,
                    obj,
                    ctx,
                    "Failed",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                )
            elif failed > spec["backoffLimit"]:
                self._end(
                    state,
                    node,
                    obj,
                    ctx,
                    "Failed",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                )
            elif succeeded >= spec["completions"]:
                status["completionTime"] = k8s_time(now)
                self._end(
                    state,
                    node,
                    obj,
                    ctx,
                    "Complete",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                )
        self._count(state, node, obj)
        return obj

    def advance(
        self, state: RunState, node: NodeRecord, obj: dict[str, Any], ctx: ResourceContext
    ) -> dict[str, Any]:
        """Replace pods that ended, up to `parallelism` running and `completions` succeeded."""
        if (
            _terminal(obj.get("status") or {}) is None
            and node.extra["job"].get("cancelled") is None
        ):
            self._launch_pods(state, node, obj, ctx)
            self._count(state, node, obj)
        return obj

    def _end(
        self,
        state: RunState,
        node: NodeRecord,
        obj: dict[str, Any],
        ctx: ResourceContext,
        kind: str,
        reason: str,
        message: str,
    ) -> None:
        now = k8s_time(ctx.clock())
        obj["status"].setdefault("conditions", []).append(
            {
                "type": kind,
                "status": "True",
                "reason": reason,
                "message": message,
                "lastProbeTime": now,
                "lastTransitionTime": now,
            }
        )
        if kind == "Failed":
            self._stop_pods(state, node, ctx, f"Job {obj['metadata']['name']} failed: {reason}")

    def _launch_pods(
        self, state: RunState, node: NodeRecord, obj: dict[str, Any], ctx: ResourceContext
    ) -> None:
        book = node.extra["job"]
        spec = obj["spec"]
        succeeded, _, active = self._count(state, node, obj)
        want = min(spec["parallelism"], spec["completions"] - succeeded) - active
        left = None
        if book.get("deadline") is not None:
            left = book["deadline"] - (ctx.clock() - book["startedAt"])
            if left <= 0:
                return
        for _ in range(max(want, 0)):
            slot = f"{node.id}/pod-{len(book['pods'])}"
            if not ctx.acquire_slot(slot):
                return  # the engine's running-step limit: the next tick tries again
            self._launch_pod(state, node, obj, ctx, left, slot)

    def _launch_pod(
        self,
        state: RunState,
        node: NodeRecord,
        obj: dict[str, Any],
        ctx: ResourceContext,
        deadline_left: float | None,
        slot: str,
    ) -> None:
        book = node.extra["job"]
        index = len(book["pods"])
        job_name = obj["metadata"]["name"]
        pod_name = f"{job_name}-{name_suffix(f'{node.id}/{index}')}"
        pod_spec = obj["spec"]["template"]["spec"]
        child = state.create(
            f"{node.name}.{job_name}-{index}",
            pod_name,
            NodeType.POD,
            parent=node,
            reason=f"Job {job_name} created pod {pod_name}",
            attempt=index,
        )
        containers: list[dict[str, Any]] = []
        child.extra.update(pod={"name": pod_name, "job": job_name}, containers=containers)
        deadlines = [
            d for d in (pod_spec.get("activeDeadlineSeconds"), deadline_left) if d is not None
        ]
        pod: dict[str, Any] = {"node": child.id, "done": False, "slot": slot}
        book["pods"].append(pod)
        base = ctx.work_root / ctx.run_id / child.id
        try:
            for item in pod_spec["containers"]:
                container = Container.model_validate(item)
                request = container_request(
                    container,
                    key=f"{ctx.run_id}/{child.id}/{container.name}",
                    workdir=base / str(container.name),
                    deadline_seconds=min(deadlines) if deadlines else None,
                    pod_security=[
                        ("spec.template.spec.securityContext", pod_spec.get("securityContext"))
                    ],
                    pod_volumes=[("spec.template.spec.volumes", pod_spec.get("volumes"))],
                    namespace=ctx.namespace,
                    objects=lambda kind, name: find_object(state, kind, ctx.namespace, name),
                )
                handle = ctx.runner.launch(request)
                containers.append(
                    {"name": container.name, "handle": json.loads(handle.to_json()), "done": False}
                )
        except (KubepipeError, ValueError, OSError, RuntimeError) as exc:
            for c in containers:
                ctx.runner.cancel(
                    StepHandle.from_json(json.dumps(c["handle"])), "pod could not start"
                )
            if not containers:
                pod["done"] = True
                ctx.release_slot(slot)
                pod["phase"] = NodePhase.ERROR.value
                state.transition(
                    child,
                    NodePhase.ERROR,
                    "launch failed",
                    f"pod {pod_name} could not start: {exc}",
                )
                return
            pod["error"] = f"pod {pod_name} could not start: {exc}"
        state.transition(child, NodePhase.RUNNING, "launched")

    def _poll_pod(
        self,
        state: RunState,
        node: NodeRecord,
        pod: dict[str, Any],
        ctx: ResourceContext,
        multi: bool,
    ) -> None:
        child = state.nodes[pod["node"]]
        containers = child.extra["containers"]
        for c in containers:
            if c["done"]:
                continue
            status = ctx.runner.poll(StepHandle.from_json(json.dumps(c["handle"])))
            if status is None:
                continue
            try:
                store_logs(
                    state, child, status, ctx.artifacts, container=c["name"] if multi else None
                )
            except (KubepipeError, OSError) as exc:
                c["logError"] = f"could not store logs: {exc}"
            phase, message = phase_for(status, [])
            c.update(done=True, exitCode=status.exit_code, phase=phase.value, message=message)
            state.touch(child)
        if not all(c["done"] for c in containers):
            return
        failed = [c for c in containers if c["phase"] != NodePhase.SUCCEEDED.value]
        phase, message = NodePhase.SUCCEEDED, ""
        if pod.get("error"):
            phase, message = NodePhase.ERROR, pod["error"]
        elif failed:
            worst = next((c for c in failed if c["phase"] == NodePhase.FAILED.value), failed[0])
            phase = NodePhase(worst["phase"])
            message = (
                worst["message"] if not multi else f"container {worst['name']}: {worst['message']}"
            )
        child.exit_code = (
            next((c["exitCode"] for c in failed if c.get("exitCode")), None) if failed else 0
        )
        pod["done"] = True
        ctx.release_slot(pod.get("slot", ""))
        pod["phase"] = phase.value
        state.transition(child, phase, "pod ended", message)

    def _count(
        self, state: RunState, node: NodeRecord, obj: dict[str, Any]
    ) -> tuple[int, int, int]:
        """(succeeded, failed, active) from the pods, written into `status` as the API shows them."""
        pods = node.extra["job"]["pods"]
        succeeded = sum(1 for p in pods if p["done"] and p["phase"] == NodePhase.SUCCEEDED.value)
        failed = sum(1 for p in pods if p["done"] and p["phase"] != NodePhase.SUCCEEDED.value)
        active = sum(1 for p in pods if not p["done"])
        status = obj.setdefault("status", {})
        for field, value in (("active", active), ("succeeded", succeeded), ("failed", failed)):
            if value:
                status[field] = value
            else:
                status.pop(field, None)
        status["ready"] = active
        return succeeded, failed, active

    # -- the registry's questions -------------------------------------------------------------
    def outcome(self, obj: dict[str, Any]) -> tuple[bool, str] | None:
        cond = _terminal(obj.get("status") or {})
        if cond is None:
            return None
        return cond["type"] == "Complete", str(cond.get("message") or "")

    def busy(self, state: RunState, node: NodeRecord) -> bool:
        return any(not p["done"] for p in node.extra.get("job", {}).get("pods", []))

    def cancel(self, state: RunState, node: NodeRecord, reason: str, ctx: ResourceContext) -> None:
        book = node.extra.get("job")
        if book is None:
            return
        if book.get("cancelled") is None:
            book["cancelled"] = reason
            state.touch(node)
        self._stop_pods(state, node, ctx, reason)

    def _stop_pods(
        self, state: RunState, node: NodeRecord, ctx: ResourceContext, reason: str
    ) -> None:
        for pod in node.extra["job"]["pods"]:
            if not pod["done"]:
                for handle in process_handles(state.nodes[pod["node"]]):
                    ctx.runner.cancel(StepHandle.from_json(json.dumps(handle)), reason)


def running_pod_slots(state: RunState) -> list[str]:
    """The slot keys of Job pods (Katib's trials' too) that have not ended: after a restart
    they still run, so the engine counts them before it starts anything new."""
    return [
        pod["slot"]
        for node in state.nodes.values()
        if isinstance(node.extra.get("job"), dict) and not node.phase.is_fulfilled
        for pod in node.extra["job"].get("pods", [])
        if not pod.get("done") and pod.get("slot")
    ]


def _terminal(status: dict[str, Any]) -> dict[str, Any] | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return cond
    return None
