"""Pod nodes: turn a bound container/script template into a runner request, and a runner's
report into outputs and a phase.

Phase mapping follows Argo: a non-zero exit, a deadline or an OOM kill is FAILED (the step's own
doing); a launch failure, an unresolvable placeholder or a missing declared output is ERROR
(the engine could not give the step its contract).
"""

from __future__ import annotations

import os
import posixpath
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from artifact_store import ArtifactStore, ArtifactStoreError
from artifact_store.archive import is_tar_gz, pack_path, unpack_to
from engine.errors import ExpressionError, KubepipeError
from engine.binding import deferred_fields
from engine.controllers.objects import find_object
from engine.expressions import substitute_obj
from engine.phases import NodePhase, NodeType
from engine.podspec import ObjectLookup, PodSpecError, step_security
from engine.podspec import pod_volumes as mounted_volumes
from engine.runners.base import ResourceLimits, StepOutcome, StepRequest, StepStatus
from engine.runners.images import resolve_argv
from engine.scope import Scope
from engine.spec import Container, Template, TemplateKind, WorkflowSpec
from engine.state import ArtifactRecord, LogRecord, NodeRecord, RunState
from engine.values import parse_duration, parse_quantity, trim_one_newline

RESULT_LIMIT = 256 * 1024  # Argo keeps the last 256 kB of stdout as outputs.result
SCRIPT_PATH = "/argo/staging/script"


class PodSetupError(KubepipeError):
    """The engine could not prepare the step (bad placeholder, missing input artifact...)."""


@dataclass(frozen=True)
class PodPlan:
    request: StepRequest
    template: Template


def _pod_names(node: NodeRecord) -> dict[str, str]:
    return {"pod.name": node.id, "node.name": node.name, "retries": str(node.attempt or 0)}


def _output_paths(outputs: dict[str, Any]) -> dict[str, str]:
    """`{{outputs.parameters.x.path}}` and `{{outputs.artifacts.x.path}}` from rendered outputs."""
    values: dict[str, str] = {}
    for p in outputs.get("parameters", []):
        path = (p.get("valueFrom") or {}).get("path")
        if path:
            values[f"outputs.parameters.{p['name']}.path"] = path
    for a in outputs.get("artifacts", []):
        if a.get("path"):
            values[f"outputs.artifacts.{a['name']}.path"] = a["path"]
    return values


def finalize_template(node: NodeRecord, template: Template, scope: Scope) -> Template:
    """Render the pod's fields left for this moment (`engine.binding.deferred_fields`), once.

    `scope` holds the node's inputs and the workflow's globals; the per-pod names join them, and
    the outputs, rendered first, give their paths to the rest. Anything unresolved is an error.
    """
    full = template.dump()
    deferred = [path[0] for path in deferred_fields(template, full)]
    body = {key: full[key] for key in deferred}
    pod = scope.with_extra(**_pod_names(node))
    try:
        outputs = _render(body.pop("outputs", {}), pod)
        pod = pod.with_extra(**_output_paths(outputs))
        filled = _render(body, pod)
    except ExpressionError as exc:
        raise PodSetupError(f"failed to resolve {exc}") from None
    if outputs:
        filled["outputs"] = outputs
    if all(filled.get(key) == full.get(key) for key in deferred):
        return template
    return Template.model_validate({**full, **filled})


def _render(obj: Any, scope: Scope) -> Any:
    return substitute_obj(obj, scope.resolve, expression_env=scope.expression_env, strict=True)


@dataclass(frozen=True)
class PodContext:
    """What a step's pod takes from its run and workflow: the namespace (whose uid the step
    gets) and the workflow-wide pod defaults (`spec.securityContext`, `spec.volumes`)."""

    namespace: str = "default"
    security_context: Any = None
    volumes: Any = None
    objects: ObjectLookup | None = None  # the ConfigMaps/Secrets the run created, by kind+name

    @classmethod
    def of(cls, spec: WorkflowSpec, state: RunState) -> PodContext:
        namespace = state.run.namespace
        return cls(
            namespace,
            spec.security_context,
            spec.volumes,
            lambda kind, name: find_object(state, kind, namespace, name),
        )


def build_request(
    node: NodeRecord,
    template: Template,
    *,
    run_id: str,
    work_root: Path,
    store: ArtifactStore,
    deadline_left: float | None,
    pod: PodContext | None = None,
) -> StepRequest:
    """Everything the runner needs, with input artifacts fetched into the node's staging dir."""
    container = template.main_container
    base = work_root / run_id / node.id
    pod = pod or PodContext()
    # A containerSet's containers are nodes of one pod: its emptyDirs live in the pod's directory.
    shared = base
    if node.type is NodeType.CONTAINER and node.parent_id:
        shared = work_root / run_id / node.parent_id
    staging = base / "staging"  # created only when the step has files to stage
    if staging.exists():
        shutil.rmtree(staging)
    input_files: dict[str, Path] = {}
    if template.kind is TemplateKind.SCRIPT:
        assert template.script is not None
        staging.mkdir(parents=True)
        script = staging / "script"
        script.write_text(template.script.source, encoding="utf-8")
        script.chmod(0o755)  # `command: [sh, -c]` executes the file itself, as in Argo
        input_files[SCRIPT_PATH] = script
    for name, art in node.inputs.get("artifacts", {}).items():
        path = art.get("path")
        if not path:
            raise PodSetupError(f"input artifact {name!r} has no `path` to place it at")
        if art.get("optional") and not _stored(art["key"], store):
            continue  # optional and absent: the step starts without it, as in Argo
        input_files[path] = _fetch_input(name, art, staging / "inputs" / name, store)
    assert container is not None
    try:
        argv = resolve_argv(container.image, container.command, container.args)
    except ValueError as exc:
        raise PodSetupError(str(exc)) from None
    if template.kind is TemplateKind.SCRIPT:
        argv = list(container.command or ["python"]) + [SCRIPT_PATH]
    outputs = [
        p.value_from.path for p in template.outputs.parameters if p.value_from and p.value_from.path
    ]
    outputs += [a.path for a in template.outputs.artifacts if a.path]
    return container_request(
        container,
        key=f"{run_id}/{node.id}",
        workdir=base / "pod",
        argv=argv,
        input_files=input_files,
        output_paths=outputs,
        deadline_seconds=_deadline(template, deadline_left),
        pod_security=[
            ("spec.securityContext", pod.security_context),
            ("template.securityContext", template.security_context),
        ],
        pod_volumes=[("spec.volumes", pod.volumes), ("template.volumes", template.volumes)],
        namespace=pod.namespace,
        objects=pod.objects,
        volumes_dir=shared,
    )


def container_request(
    container: Container,
    *,
    key: str,
    workdir: Path,
    argv: list[str] | None = None,
    input_files: dict[str, Path] | None = None,
    output_paths: list[str] | tuple[str, ...] = (),
    deadline_seconds: float | None = None,
    pod_security: Sequence[tuple[str, Any]] = (),
    pod_volumes: Sequence[tuple[str, Any]] = (),
    namespace: str = "default",
    objects: ObjectLookup | None = None,
    volumes_dir: Path | None = None,
) -> StepRequest:
    """One container as a runner request: argv (its command/args, or a known image's), env,
    limits, and the securityContext and volumes of its pod (`pod_*`: (field path, value) pairs,
    outermost first).

    Shared by pod templates and by local controllers that run pods of their own (a Job's pods).
    """
    if argv is None:
        try:
            argv = resolve_argv(container.image, container.command, container.args)
        except ValueError as exc:
            raise PodSetupError(str(exc)) from None
    env = {e.name: e.value or "" for e in container.env if e.value is not None}
    try:
        security = step_security(pod_security, container.security_context, namespace)
        volumes, _ = mounted_volumes(
            pod_volumes,
            container.volume_mounts,
            volumes_dir or workdir.parent,
            objects,
            projected_dir=workdir.parent / "projected",
        )
    except PodSpecError as exc:
        raise PodSetupError(str(exc)) from None
    return StepRequest(
        key=key,
        argv=argv,
        env=env,
        workdir=workdir,
        working_dir=container.working_dir,
        input_files=input_files or {},
        output_paths=tuple(dict.fromkeys(output_paths)),
        limits=_limits(container),
        deadline_seconds=deadline_seconds,
        security=security,
        volumes=volumes,
    )


def _fetch_input(name: str, art: dict[str, Any], dest: Path, store: ArtifactStore) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if "raw" in art:
        dest.write_text(art["raw"], encoding="utf-8")
        return dest
    key = art.get("key")
    if not key:
        raise PodSetupError(f"input artifact {name!r} has no stored source")
    if art.get("tree") or (art.get("sha256") is None and not store.exists(key)):
        if _fetch_tree(key, dest, store):
            return _sub_path(name, art, dest)
    download = dest.with_name(dest.name + ".download")
    try:
        store.get_file(key, download, expected_sha256=art.get("sha256"))
    except KubepipeError as exc:
        raise PodSetupError(f"input artifact {name!r}: {exc}") from None
    except Exception as exc:  # store errors are translated at its boundary; be safe
        raise PodSetupError(f"input artifact {name!r}: {exc}") from None
    if art.get("archived") or (art.get("archived") is None and is_tar_gz(download)):
        unpack_to(download, dest)
        download.unlink()
    else:
        download.rename(dest)
    return _sub_path(name, art, dest)


def _stored(key: str, store: ArtifactStore) -> bool:
    """Whether a key holds an object or is the prefix of a directory stored object by object."""
    return store.exists(key) or next(iter(store.list(key + "/")), None) is not None


def _sub_path(name: str, art: dict[str, Any], dest: Path) -> Path:
    """`subPath` picks one file or folder out of a directory artifact."""
    sub_path = art.get("subPath")
    if not sub_path:
        return dest
    chosen = (dest / sub_path).resolve()
    if not chosen.is_relative_to(dest.resolve()) or not chosen.exists():
        raise PodSetupError(
            f"input artifact {name!r}: subPath {sub_path!r} is not inside the artifact"
        )
    return chosen


def _fetch_tree(prefix: str, dest: Path, store: ArtifactStore) -> bool:
    """A directory saved with `archive: none` (or a key prefix): every object below the prefix."""
    found = False
    for info in store.list(prefix + "/"):
        relative = info.key[len(prefix) + 1 :]
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        store.get_file(info.key, target, expected_sha256=info.sha256)
        found = True
    return found


def _limits(container: Container) -> ResourceLimits:
    limits = (container.resources or {}).get("limits") or {}
    cpu = limits.get("cpu")
    memory = limits.get("memory")
    try:
        return ResourceLimits(
            cpu=parse_quantity(cpu, field="resources.limits.cpu") if cpu is not None else None,
            memory_bytes=int(parse_quantity(memory, field="resources.limits.memory"))
            if memory is not None
            else None,
        )
    except ValueError as exc:
        raise PodSetupError(str(exc)) from None


def _deadline(template: Template, deadline_left: float | None) -> float | None:
    candidates = []
    try:
        for field, value in (
            ("activeDeadlineSeconds", template.active_deadline_seconds),
            ("timeout", template.timeout),
        ):
            seconds = parse_duration(value, field=field)
            if seconds is not None:
                candidates.append(seconds)
    except ValueError as exc:
        raise PodSetupError(str(exc)) from None
    if deadline_left is not None:
        candidates.append(max(deadline_left, 0.0))
    return min(candidates) if candidates else None


class OutputError(KubepipeError):
    """A declared output could not be collected."""


def store_logs(
    state: RunState,
    node: NodeRecord,
    status: StepStatus,
    store: ArtifactStore,
    container: str | None = None,
) -> None:
    """Keep a step's stdout/stderr; `container` names one of a several-container pod's logs."""
    folder = f"logs/{container}" if container else "logs"
    for stream, path in (("stdout", status.stdout_path), ("stderr", status.stderr_path)):
        if path is None or not Path(path).is_file() or Path(path).stat().st_size == 0:
            continue  # an empty stream has nothing to show; not storing it saves a write per step
        # Logs are diagnostics: atomic, but not worth an fsync each on the hot path.
        info = store.put_file(
            f"{state.run.id}/{node.id}/{folder}/{stream}.log", Path(path), durable=False
        )
        state.add_log(LogRecord(node.id, stream, info.uri, info.sha256, info.size, time.time()))


def read_result(status: StepStatus) -> str | None:
    path = Path(status.stdout_path) if status.stdout_path else None
    if path is None or not path.exists():
        return None
    size = path.stat().st_size
    with path.open("rb") as handle:
        if size > RESULT_LIMIT:
            handle.seek(size - RESULT_LIMIT)
        data = handle.read()
    return trim_one_newline(data.decode("utf-8", errors="replace"))


def collect_outputs(
    state: RunState,
    node: NodeRecord,
    template: Template,
    status: StepStatus,
    store: ArtifactStore,
    *,
    strict: bool,
) -> tuple[dict[str, Any], list[str]]:
    """Outputs from the collected files. Returns (outputs, problems); strict = the step succeeded."""
    outputs: dict[str, Any] = {}
    problems: list[str] = []
    result = read_result(status)
    if result is not None:
        outputs["result"] = result
    if status.exit_code is not None:
        outputs["exitCode"] = str(status.exit_code)
    params: dict[str, str] = {}
    for p in template.outputs.parameters:
        vf = p.value_from
        value: str | None = None
        if vf is not None and vf.path:
            host = _collected(status, vf.path)
            refused = _refused(status, vf.path)
            if refused is not None:
                problems.append(f"output parameter {p.name!r}: {refused}")
            elif host is not None and Path(host).is_file():
                # Bytes, not text mode: universal newlines would turn a "\r" value into "\n".
                value = trim_one_newline(Path(host).read_bytes().decode("utf-8", errors="replace"))
            elif vf.default is not None:
                value = vf.default
            elif strict:
                problems.append(
                    f"failed to read output parameter {p.name!r}: {vf.path} does not exist "
                    "(write it, or give valueFrom.default)"
                )
        elif vf is not None and vf.default is not None:
            value = vf.default
        elif p.value is not None:
            value = p.value
        if value is not None:
            params[p.name] = value
    if params:
        outputs["parameters"] = params
    artifacts: dict[str, Any] = {}
    for a in template.outputs.artifacts:
        if not a.path:
            continue
        host = _collected(status, a.path)
        refused = _refused(status, a.path)
        if refused is not None:
            problems.append(f"output artifact {a.name!r}: {refused}")
            continue
        if host is None or not Path(host).exists():
            if strict and not a.optional:
                problems.append(
                    f"output artifact {a.name!r} not found at {a.path} "
                    "(create it, or mark the artifact optional: true)"
                )
            continue
        try:
            artifacts[a.name] = _store_artifact(
                state,
                node,
                a.name,
                Path(host),
                store,
                key=(a.s3 or {}).get("key"),
                archive=a.archive.none is None if a.archive else True,
            )
        except (KubepipeError, ArtifactStoreError, OSError) as exc:
            problems.append(f"failed to store output artifact {a.name!r}: {exc}")
    if artifacts:
        outputs["artifacts"] = artifacts
    return outputs, problems


def _collected(status: StepStatus, path: str) -> Path | None:
    """The runner reports normalised container paths (`/tmp/` is `/tmp`)."""
    found = status.outputs.get(path)
    if found is None:
        found = status.outputs.get(posixpath.normpath(path))
    return Path(found) if found is not None else None


def _refused(status: StepStatus, path: str) -> str | None:
    """Why the runner would not read this output (a link leading out of the step), if it did not."""
    refusals = status.refused_outputs
    return refusals.get(path) or refusals.get(posixpath.normpath(path))


def _store_artifact(
    state: RunState,
    node: NodeRecord,
    name: str,
    host: Path,
    store: ArtifactStore,
    *,
    key: str | None,
    archive: bool,
) -> dict[str, Any]:
    if host.is_dir() and not archive:
        return _store_tree(
            state,
            node,
            name,
            host,
            store,
            key=(key or f"{state.run.id}/{node.id}/{name}").strip("/"),
        )
    archived = host.is_dir()
    key = (
        key.strip("/") if key else f"{state.run.id}/{node.id}/{name}" + (".tgz" if archived else "")
    )
    if archived:
        packed = host.with_name(host.name + ".tgz")
        pack_path(host, packed)
        info = store.put_file(key, packed)
        packed.unlink()
    else:
        info = store.put_file(key, host)
    state.add_artifact(
        ArtifactRecord(node.id, name, info.uri, info.sha256, info.size, archived, time.time())
    )
    return {
        "key": info.key,
        "uri": info.uri,
        "sha256": info.sha256,
        "size": info.size,
        "archived": archived,
    }


def _store_tree(
    state: RunState, node: NodeRecord, name: str, host: Path, store: ArtifactStore, *, key: str
) -> dict[str, Any]:
    """`archive: none` on a directory: one object per file below `key`, as Argo uploads it."""
    import hashlib

    manifest = hashlib.sha256()
    total = 0
    # Like an S3 upload, links are followed, but only to files of the directory itself: a link
    # leading out of it (to a host file) is skipped, as a dangling one is.
    top = os.path.realpath(host)
    for path in sorted(p for p in host.rglob("*") if p.is_file() and _inside(p, top)):
        relative = path.relative_to(host).as_posix()
        info = store.put_file(f"{key}/{relative}", path)
        manifest.update(f"{relative}:{info.sha256}\n".encode())
        total += info.size
    uri = store.uri_for(key)
    state.add_artifact(
        ArtifactRecord(node.id, name, uri, manifest.hexdigest(), total, False, time.time())
    )
    return {"key": key, "uri": uri, "sha256": None, "tree": True, "size": total, "archived": False}


def _inside(path: Path, top: str) -> bool:
    real = os.path.realpath(path)
    return real.startswith(top.rstrip(os.sep) + os.sep)


def phase_for(status: StepStatus, problems: list[str]) -> tuple[NodePhase, str]:
    outcome = status.outcome
    if outcome is StepOutcome.LAUNCH_FAILED:
        return NodePhase.ERROR, status.message
    if outcome is StepOutcome.LOST:
        return (
            NodePhase.ERROR,
            status.message
            or "the step's process was lost (engine restarted); its exit code is unknown",
        )
    if outcome is StepOutcome.DEADLINE_EXCEEDED:
        return NodePhase.FAILED, status.message or "Step exceeded its deadline"
    if outcome is StepOutcome.OOM_KILLED:
        return NodePhase.FAILED, "OOMKilled (exit code 137)"
    if outcome is StepOutcome.CANCELLED:
        return NodePhase.FAILED, status.message or "Stopped"
    if status.exit_code:
        return NodePhase.FAILED, f"Error (exit code {status.exit_code})"
    if problems:
        return NodePhase.ERROR, "; ".join(problems)
    return NodePhase.SUCCEEDED, ""
