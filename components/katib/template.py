"""A trial's Job manifest from the trialTemplate: `${trialParameters.x}` substituted, named.

Katib substitutes the placeholders in the serialised trialSpec; here every string in it is
substituted, so a value never breaks the YAML. A trialParameter's `reference` is a search-space
parameter (its value in the assignment) or `${trialSpec.Name|Namespace|Kind|APIVersion|
Labels[k]|Annotations[k]}` (the trial Job's own metadata). For File and Push collectors the
primary container is wrapped as Katib's webhook wraps it, but instead of a sidecar tailing the
file, the wrapper copies the file onto the container's stdout (after a marker line) once the
trainer has exited, so the metrics travel with the pod's log.
"""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Mapping
from typing import Any

from components.katib.errors import ExperimentSpecError
from components.katib.metrics import FILE_MARKER
from components.katib.report import METRICS_FILE_ENV
from components.katib.spec import CollectorKind, ExperimentSpec

__all__ = [
    "PUSH_ENV",
    "PUSH_PATH",
    "metrics_file",
    "placeholders",
    "render_trial_job",
    "trial_parameter_values",
]

PLACEHOLDER = re.compile(r"\$\{trialParameters\.([^}]+)\}")
_META = re.compile(
    r"\$\{trialSpec\.(Name|Namespace|Kind|APIVersion|Labels|Annotations)(?:\[([^\]]+)\])?\}"
)
PUSH_ENV = METRICS_FILE_ENV  # read by report_metrics
PUSH_PATH = "/tmp/katib/push-metrics.jsonl"  # under /tmp: private to the pod in both isolations


def placeholders(obj: Any) -> set[str]:
    """Every `${trialParameters.x}` name used anywhere in `obj`."""
    found: set[str] = set()
    if isinstance(obj, str):
        found.update(PLACEHOLDER.findall(obj))
    elif isinstance(obj, dict):
        for value in obj.values():
            found |= placeholders(value)
    elif isinstance(obj, list):
        for value in obj:
            found |= placeholders(value)
    return found


def _substitute(obj: Any, values: Mapping[str, str]) -> Any:
    if isinstance(obj, str):
        return PLACEHOLDER.sub(lambda m: values[m.group(1)], obj)
    if isinstance(obj, dict):
        return {k: _substitute(v, values) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_substitute(v, values) for v in obj]
    return obj


def trial_parameter_values(
    spec: ExperimentSpec, job: Mapping[str, Any], assignments: Mapping[str, str]
) -> dict[str, str]:
    """Each trialParameter's value for one trial."""
    meta = job.get("metadata") or {}
    values: dict[str, str] = {}
    for tp in spec.trial_template.trial_parameters:
        ref = tp.reference or tp.name
        match = _META.fullmatch(ref)
        if match is None:
            values[tp.name] = assignments[ref]
            continue
        field, key = match.groups()
        if field in ("Labels", "Annotations"):
            values[tp.name] = str((meta.get(field.lower()) or {}).get(key or "", ""))
        else:
            values[tp.name] = str(
                {
                    "Name": meta.get("name"),
                    "Namespace": meta.get("namespace"),
                    "Kind": job.get("kind"),
                    "APIVersion": job.get("apiVersion"),
                }[field]
            )
    return values


def metrics_file(spec: ExperimentSpec) -> str | None:
    """The container path the wrapper copies onto stdout, for File and Push collectors."""
    kind = spec.metrics_collector_spec.kind
    if kind is CollectorKind.FILE:
        return spec.metrics_collector_spec.file_path
    if kind in (CollectorKind.PUSH, CollectorKind.NONE):
        return PUSH_PATH
    return None


def _wrap(container: dict[str, Any], path: str, push: bool) -> None:
    argv = list(container.get("command") or []) + list(container.get("args") or [])
    if not argv:
        raise ExperimentSpecError(
            "the primary container needs a command for the File/Push metrics collector to wrap",
            "spec.trialTemplate.trialSpec",
        )
    quoted = shlex.quote(path)
    script = (
        f'mkdir -p "$(dirname {quoted})" 2>/dev/null; "$@"; rc=$?; '
        f"if [ -f {quoted} ]; then echo {shlex.quote(FILE_MARKER)}; cat {quoted}; fi; exit $rc"
    )
    container["command"] = ["sh", "-c", script, "katib-trial", *argv]
    container.pop("args", None)
    if push:
        env = list(container.get("env") or [])
        env.append({"name": PUSH_ENV, "value": path})
        container["env"] = env


def render_trial_job(
    spec: ExperimentSpec,
    trial_name: str,
    namespace: str,
    assignments: Mapping[str, str],
    labels: Mapping[str, str],
) -> dict[str, Any]:
    """The trial's batch/v1 Job, ready for the Job controller."""
    assert spec.trial_template.trial_spec is not None, "checked by support.check_runnable"
    job = copy.deepcopy(spec.trial_template.trial_spec)
    meta = job.setdefault("metadata", {}) or {}
    job["metadata"] = meta
    meta["name"] = trial_name
    meta["namespace"] = namespace
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    job = _substitute(job, trial_parameter_values(spec, job, assignments))
    path = metrics_file(spec)
    if path is not None:
        primary = primary_container(spec, job)
        _wrap(primary, path, push=spec.metrics_collector_spec.kind is not CollectorKind.FILE)
    return job


def primary_container(spec: ExperimentSpec, job: Mapping[str, Any]) -> dict[str, Any]:
    """The container whose output holds the metrics (primaryContainerName, else the only one)."""
    containers = job["spec"]["template"]["spec"]["containers"]
    wanted = spec.trial_template.primary_container_name
    if wanted is None:
        if len(containers) == 1:
            return containers[0]
        raise ExperimentSpecError(
            "the trial pod has several containers: set primaryContainerName to the one that "
            "reports metrics",
            "spec.trialTemplate.primaryContainerName",
        )
    for c in containers:
        if c.get("name") == wanted:
            return c
    names = ", ".join(str(c.get("name")) for c in containers)
    raise ExperimentSpecError(
        f"primaryContainerName {wanted!r} is not a container of the trial pod ({names})",
        "spec.trialTemplate.primaryContainerName",
    )
