"""`kubeflow.org/v1beta1` `Experiment`: Katib's experiment controller, run on this machine.

The experiment is a `resource` step; each trial is a child node of type Trial, and each trial's
`batch/v1` Job runs through the engine's own Job controller (`engine.controllers.job`), so its
pods are child nodes of the trial with the pod contract, logs and crash adoption of any Job pod.
Every tick (`reconcile`) collects the trials' pods, reads their metrics (Katib's collectors'
parsing, `metrics.py`), applies medianstop, ends trials with Katib's states, rewrites the
Experiment's `status` in Katib's shape and checks the end conditions in Katib's order; `advance`
asks the algorithm for new assignments up to `parallelTrialCount`. The suggestion state and the
trials it produced are written to the nodes in the same tick, so the engine's one commit per
tick keeps them consistent across a crash; trial names include a digest of their assignment, so
a trial re-suggested after a crash re-attaches to the pod already launched for it.
"""

from __future__ import annotations

import json
import uuid
import zlib
from pathlib import Path
from typing import Any

from components.katib.conditions import EndReason, TrialCondition
from components.katib.earlystop import median_rule, should_stop
from components.katib.errors import MetricsUnavailable
from components.katib.metrics import (
    FILE_MARKER,
    metric_value,
    observation,
    parse_json_lines,
    parse_text_lines,
)
from components.katib.prometheus import metrics_url, scrape, select
from components.katib.settings import early_stopping_settings
from components.katib.spec import (
    API_VERSION,
    CollectorKind,
    Experiment,
    FileFormat,
    parse_experiment,
)
from components.katib.status import TrialSummary, decide_end, optimal_trial, trial_counts
from components.katib.suggest import TrialView, suggest
from components.katib.support import check_runnable
from components.katib.template import primary_container, render_trial_job
from engine.controllers.job import JobController, k8s_time
from engine.controllers.registry import ResourceContext, name_suffix
from engine.errors import KubepipeError
from engine.phases import NodePhase, NodeType
from engine.state import NodeRecord, RunState

__all__ = ["TRIALS_ANNOTATION", "ExperimentController"]

TRIALS_ANNOTATION = "kubepipe.io/trials"

_END_TYPES = ("Succeeded", "Failed")

# How often a running PrometheusMetric trial is scraped (Katib's collector polls too).
SCRAPE_INTERVAL = 0.2


class ExperimentController:
    """The local controller for Katib Experiments (registered via `kubepipe.controllers`)."""

    api_version = API_VERSION
    kind = "Experiment"

    def __init__(self) -> None:
        self._jobs = JobController()

    # -- create -------------------------------------------------------------------------------
    def start(
        self, state: RunState, node: NodeRecord, manifest: dict[str, Any], ctx: ResourceContext
    ) -> dict[str, Any]:
        exp = parse_experiment(manifest)
        check_runnable(exp)
        obj = json.loads(json.dumps(manifest, default=str))
        obj["spec"] = exp.spec.dump()  # with Katib's webhook defaults, as the API server keeps it
        meta = obj["metadata"]
        meta.setdefault(
            "uid", str(uuid.uuid5(uuid.NAMESPACE_URL, f"kubepipe:{ctx.run_id}/{node.id}"))
        )
        now = k8s_time(ctx.clock())
        meta.setdefault("creationTimestamp", now)
        obj["status"] = {
            "startTime": now,
            "conditions": [
                _condition("Created", "ExperimentCreated", "Experiment is created", now),
                _condition("Running", "ExperimentRunning", "Experiment is running", now),
            ],
        }
        seed = zlib.crc32(f"{meta['namespace']}/{meta['name']}".encode())
        node.extra["katib"] = {
            "trials": [],
            "suggestion": {"seed": seed},
            "exhausted": False,
            "stopping": None,
        }
        self._add_trials(state, node, obj, exp, ctx)
        self._refresh_status(state, node, obj, exp, ctx)
        return obj

    # -- run ----------------------------------------------------------------------------------
    def reconcile(
        self, state: RunState, node: NodeRecord, obj: dict[str, Any], ctx: ResourceContext
    ) -> dict[str, Any]:
        exp = Experiment.model_validate(obj)
        for trial in self._trial_nodes(state, node):
            if not trial.phase.is_fulfilled:
                self._reconcile_trial(state, node, trial, exp, ctx)
        summaries = self._refresh_status(state, node, obj, exp, ctx)
        if self.outcome(obj) is None:
            reason = decide_end(exp.spec, summaries, bool(node.extra["katib"]["exhausted"]))
            if reason is not None:
                self._end(obj, reason, ctx)
        return obj

    def advance(
        self, state: RunState, node: NodeRecord, obj: dict[str, Any], ctx: ResourceContext
    ) -> dict[str, Any]:
        """Start new trials up to parallelTrialCount (and never past maxTrialCount)."""
        if self.outcome(obj) is None and node.extra["katib"].get("stopping") is None:
            exp = Experiment.model_validate(obj)
            if self._add_trials(state, node, obj, exp, ctx):
                self._refresh_status(state, node, obj, exp, ctx)
        return obj

    def outcome(self, obj: dict[str, Any]) -> tuple[bool, str] | None:
        for cond in (obj.get("status") or {}).get("conditions") or []:
            if cond.get("type") in _END_TYPES and cond.get("status") == "True":
                return cond["type"] == "Succeeded", str(cond.get("message") or "")
        return None

    def busy(self, state: RunState, node: NodeRecord) -> bool:
        return any(not t.phase.is_fulfilled for t in self._trial_nodes(state, node))

    def cancel(self, state: RunState, node: NodeRecord, reason: str, ctx: ResourceContext) -> None:
        """Stop every running trial (Killed) and start no new one."""
        book = node.extra.get("katib")
        if book is None:
            return
        if book.get("stopping") is None:
            book["stopping"] = reason
            state.touch(node)
        for trial in self._trial_nodes(state, node):
            if not trial.phase.is_fulfilled:
                self._stop_trial(state, trial, TrialCondition.KILLED, reason, ctx)

    # -- trials -------------------------------------------------------------------------------
    def _trial_nodes(self, state: RunState, node: NodeRecord) -> list[NodeRecord]:
        return [state.nodes[i] for i in node.extra.get("katib", {}).get("trials", [])]

    def _views(self, state: RunState, node: NodeRecord) -> list[TrialView]:
        views = []
        for trial in self._trial_nodes(state, node):
            info = trial.extra["trial"]
            views.append(
                TrialView(
                    name=info["name"],
                    parameters=_assignments(info),
                    labels=dict(info.get("labels") or {}),
                    condition=TrialCondition(info["condition"]),
                    objective=info.get("objective"),
                )
            )
        return views

    def _add_trials(
        self,
        state: RunState,
        node: NodeRecord,
        obj: dict[str, Any],
        exp: Experiment,
        ctx: ResourceContext,
    ) -> bool:
        book = node.extra["katib"]
        if book["exhausted"]:
            return False
        spec = exp.spec
        views = self._views(state, node)
        completed = sum(1 for v in views if v.condition.is_completed)
        active = len(views) - completed
        want = spec.parallel_trial_count
        if spec.max_trial_count is not None:
            want = min(want, spec.max_trial_count - completed)
        count = want - active
        if count <= 0:
            return False
        reply = suggest(spec, views, count, book["suggestion"])
        book["suggestion"] = reply.state
        book["exhausted"] = reply.exhausted
        state.touch(node)
        for assignment in reply.assignments:
            index = len(book["trials"])
            digest = json.dumps([index, assignment.parameters], sort_keys=True)
            name = f"{obj['metadata']['name']}-{name_suffix(f'{node.id}/{digest}', 8)}"
            trial = state.create(
                f"{node.name}.{name}",
                name,
                NodeType.TRIAL,
                parent=node,
                reason=f"Experiment {obj['metadata']['name']} created trial {name}",
            )
            book["trials"].append(trial.id)
            trial.inputs = {"parameters": dict(assignment.parameters)}
            trial.extra["trial"] = {
                "name": name,
                "index": index,
                "parameterAssignments": [
                    {"name": k, "value": v} for k, v in assignment.parameters.items()
                ],
                "labels": dict(assignment.labels),
                "condition": TrialCondition.CREATED.value,
                "startTime": k8s_time(ctx.clock()),
            }
            self._launch_trial(state, trial, obj, exp, ctx)
        return bool(reply.assignments)

    def _launch_trial(
        self,
        state: RunState,
        trial: NodeRecord,
        obj: dict[str, Any],
        exp: Experiment,
        ctx: ResourceContext,
    ) -> None:
        info = trial.extra["trial"]
        namespace = obj["metadata"]["namespace"]
        try:
            job = render_trial_job(
                exp.spec, info["name"], namespace, _assignments(info), info["labels"]
            )
            info["job"] = self._jobs.start(state, trial, job, ctx)
        except (KubepipeError, KeyError, TypeError, ValueError) as exc:
            info["condition"] = TrialCondition.FAILED.value
            state.transition(trial, NodePhase.ERROR, "trial launch failed", f"Failed: {exc}")
            return
        info["condition"] = TrialCondition.RUNNING.value
        state.transition(trial, NodePhase.RUNNING, "trial running")

    def _reconcile_trial(
        self,
        state: RunState,
        node: NodeRecord,
        trial: NodeRecord,
        exp: Experiment,
        ctx: ResourceContext,
    ) -> None:
        info = trial.extra["trial"]
        job = info["job"] = self._jobs.reconcile(state, trial, info["job"], ctx)
        prometheus = exp.spec.metrics_collector_spec.kind is CollectorKind.PROMETHEUS
        if prometheus and self._jobs.busy(state, trial):
            self._scrape(state, trial, exp, ctx, final=False)
        medianstop = early_stopping_settings(exp.spec)
        if medianstop is not None and info.get("stop") is None:
            objective = exp.spec.objective.objective_metric_name
            reports = self._reports(state, trial, exp).get(objective, [])
            finished = [
                t.extra["trial"].get("reports", {}).get(objective, [])
                for t in self._trial_nodes(state, node)
                if t.extra["trial"]["condition"] == TrialCondition.SUCCEEDED.value
            ]
            why = should_stop(
                medianstop, exp.spec.objective.type, reports, median_rule(medianstop, finished)
            )
            if why is not None:
                self._stop_trial(state, trial, TrialCondition.EARLY_STOPPED, why, ctx)
        if self._jobs.busy(state, trial):
            return
        outcome = self._jobs.outcome(job)
        if outcome is None and info.get("stop") is None:
            info["job"] = self._jobs.advance(state, trial, job, ctx)  # replace a failed pod
            if self._jobs.busy(state, trial):
                return
            outcome = self._jobs.outcome(info["job"])
        if prometheus:
            self._scrape(state, trial, exp, ctx, final=True)
        self._finish_trial(state, trial, exp, outcome, ctx)

    def _scrape(
        self,
        state: RunState,
        trial: NodeRecord,
        exp: Experiment,
        ctx: ResourceContext,
        final: bool,
    ) -> None:
        """Scrape a PrometheusMetric trial: every SCRAPE_INTERVAL while it runs, once at its end.

        A sample is recorded only when its value or timestamp changed since the last scrape, so
        a gauge left alone is one observation (medianstop counts reports). The final scrape
        usually finds the process gone; what earlier scrapes saw stands, and the error is kept
        only to explain a trial that never produced its objective.
        """
        info = trial.extra["trial"]
        names = exp.spec.objective.metric_names
        book = info.get("prometheus")
        if book is None:
            url = metrics_url(exp.spec, primary_container(exp.spec, info["job"]))
            book = info["prometheus"] = {
                "url": url,
                "reports": {name: [] for name in names},
                "last": {},
                "error": None,
                "at": 0.0,
            }
        now = ctx.clock()
        if not final and now - book["at"] < SCRAPE_INTERVAL:
            return
        book["at"] = now
        state.touch(trial)
        try:
            samples = scrape(book["url"])
        except MetricsUnavailable as exc:
            book["error"] = str(exc)
            return
        book["error"] = None
        for name, sample in select(samples, names).items():
            key = [sample.value, sample.timestamp_ms]
            if book["last"].get(name) != key:
                book["last"][name] = key
                book["reports"][name].append(sample.value)

    def _stop_trial(
        self,
        state: RunState,
        trial: NodeRecord,
        condition: TrialCondition,
        reason: str,
        ctx: ResourceContext,
    ) -> None:
        info = trial.extra["trial"]
        if info.get("stop") is not None:
            return
        info["stop"] = {"condition": condition.value, "message": reason}
        state.touch(trial)
        if "job" in trial.extra:
            self._jobs.cancel(state, trial, reason, ctx)

    def _finish_trial(
        self,
        state: RunState,
        trial: NodeRecord,
        exp: Experiment,
        outcome: tuple[bool, str] | None,
        ctx: ResourceContext,
    ) -> None:
        info = trial.extra["trial"]
        objective = exp.spec.objective
        reports = self._reports(state, trial, exp)
        value = metric_value(
            reports.get(objective.objective_metric_name, []),
            objective.strategy(objective.objective_metric_name),
        )
        stop = info.get("stop")
        if stop is not None:
            condition, message = TrialCondition(stop["condition"]), stop["message"]
        elif outcome is None or not outcome[0]:
            condition = TrialCondition.FAILED
            message = (outcome[1] if outcome else "") or "the trial's Job did not complete"
        elif value is None and "prometheus" in info:
            condition = TrialCondition.METRICS_UNAVAILABLE
            book = info["prometheus"]
            message = (
                f"objective metric {objective.objective_metric_name!r} was not found at "
                f"{book['url']} while the trial ran"
                + (f" (last scrape: {book['error']})" if book["error"] else "")
                + "; serve it there in Prometheus text format"
            )
        elif value is None:
            condition = TrialCondition.METRICS_UNAVAILABLE
            message = (
                f"objective metric {objective.objective_metric_name!r} was not reported by the "
                f"trial (collector {exp.spec.metrics_collector_spec.kind.value}); print lines "
                f"like '{objective.objective_metric_name}=0.5'"
            )
        else:
            condition, message = TrialCondition.SUCCEEDED, ""
        info.update(
            condition=condition.value,
            objective=value,
            reports=reports,
            observation=observation(reports, objective),
            completionTime=k8s_time(ctx.clock()),
        )
        params = dict(_assignments(info))
        params["condition"] = condition.value
        if value is not None:
            params["objective"] = repr(value)
        trial.outputs = {"parameters": params}
        state.transition(
            trial,
            condition.node_phase,
            f"trial {condition.value}",
            f"{condition.value}" + (f": {message}" if message else ""),
        )

    def _reports(
        self, state: RunState, trial: NodeRecord, exp: Experiment
    ) -> dict[str, list[float]]:
        """The trial's metric reports so far, read from its pods' primary-container output."""
        spec = exp.spec
        collector = spec.metrics_collector_spec
        if collector.kind is CollectorKind.PROMETHEUS:
            book = trial.extra["trial"].get("prometheus") or {}
            scraped = book.get("reports") or {}
            return {name: list(scraped.get(name, [])) for name in spec.objective.metric_names}
        job = trial.extra["trial"].get("job")
        if job is None or "job" not in trial.extra:
            return {name: [] for name in spec.objective.metric_names}
        primary = primary_container(spec, job).get("name")
        lines: list[str] = []
        for pod in trial.extra["job"]["pods"]:
            for container in state.nodes[pod["node"]].extra.get("containers", []):
                if container.get("name") != primary or not container.get("handle"):
                    continue
                text = _read(Path(container["handle"]["workdir"]) / "stdout")
                if collector.kind is not CollectorKind.STDOUT:
                    _, marker, text = text.partition(FILE_MARKER)
                    if not marker:
                        text = ""
                lines += text.splitlines()
        json_format = collector.kind in (CollectorKind.PUSH, CollectorKind.NONE) or (
            collector.kind is CollectorKind.FILE and collector.file_format is FileFormat.JSON
        )
        if json_format:
            return parse_json_lines(lines, spec.objective.metric_names)
        return parse_text_lines(lines, spec.objective.metric_names, collector.filters)

    # -- the Experiment object ----------------------------------------------------------------
    def _refresh_status(
        self,
        state: RunState,
        node: NodeRecord,
        obj: dict[str, Any],
        exp: Experiment,
        ctx: ResourceContext,
    ) -> list[TrialSummary]:
        summaries = [
            TrialSummary(
                name=t.extra["trial"]["name"],
                condition=TrialCondition(t.extra["trial"]["condition"]),
                parameters=_assignments(t.extra["trial"]),
                objective=t.extra["trial"].get("objective"),
                observation=t.extra["trial"].get("observation"),
            )
            for t in self._trial_nodes(state, node)
        ]
        status = obj["status"]
        kept = {k: status[k] for k in ("startTime", "completionTime", "conditions") if k in status}
        status.clear()
        status.update(kept)
        status["currentOptimalTrial"] = optimal_trial(exp.spec.objective.type, summaries)
        status.update(trial_counts(summaries))
        # Katib keeps each trial's assignment and result in its Trial object; here they ride
        # in one annotation so a jsonPath output can hand every trial to the next step.
        annotations = obj["metadata"].setdefault("annotations", {})
        annotations[TRIALS_ANNOTATION] = json.dumps(
            [
                {
                    "name": t.name,
                    "state": t.condition.value,
                    "parameters": t.parameters,
                    "objective": t.objective,
                }
                for t in summaries
            ],
            separators=(",", ":"),
        )
        return summaries

    def _end(self, obj: dict[str, Any], reason: EndReason, ctx: ResourceContext) -> None:
        now = k8s_time(ctx.clock())
        status = obj["status"]
        for cond in status["conditions"]:
            if cond["type"] == "Running":
                cond.update(status="False", lastUpdateTime=now, lastTransitionTime=now)
        kind = "Succeeded" if reason.succeeded else "Failed"
        status["conditions"].append(_condition(kind, reason.value, reason.message, now))
        status["completionTime"] = now


def _condition(kind: str, reason: str, message: str, now: str) -> dict[str, str]:
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
    }


def _assignments(info: dict[str, Any]) -> dict[str, str]:
    return {a["name"]: a["value"] for a in info["parameterAssignments"]}


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
