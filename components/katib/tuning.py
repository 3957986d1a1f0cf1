"""`katib.tune(...)` in a `@dsl.pipeline`: Katib's SDK `tune()` as a pipeline task.

    from components import katib

    best = katib.tune(objective=train, parameters={"lr": katib.search.double(1e-4, 1e-1, log=True)},
                      objective_metric_name="loss", objective_type="minimize", max_trial_count=8)
    report(params=best.outputs["best_parameters"], loss=best.outputs["best_objective"])

Why this shape: the experiment compiles to what an author would write by hand for a cluster, an
Argo `resource` template creating the Katib `Experiment`, so the same YAML runs on Argo + Katib.
Each trial's `batch/v1` Job runs the objective through the DSL's own step bootstrap (the same
stdlib-only runtime every Python component uses), which decodes the typed parameters and prints
what the objective returns as `name=value` lines for the StdOut collector. jsonPath cannot turn
the result into typed values or a table, so a small follow-up component (`katib-results`)
reads the experiment step's outputs and publishes `best_parameters` (dict), `best_objective`
(float) and the `trials` table (a JSON list, one row per trial); `tune` returns that task.
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import yaml

import dsl
from components.katib import report
from components.katib.controller import TRIALS_ANNOTATION
from components.katib.errors import ExperimentSpecError, KatibError
from components.katib.spec import parse_experiment
from components.katib.support import check_runnable
from dsl._graph import current_builder, kebab
from dsl.component import DEFAULT_IMAGE, PythonComponent, function_source
from dsl.errors import TracingError
from dsl.templates import bootstrap_source

__all__ = ["SearchSpace", "search", "tune"]

_TYPES = {"double": "float", "int": "int"}
_CONTAINER = "training"


@dataclass(frozen=True)
class SearchSpace:
    """One tuned parameter's feasible space, as `katib.search.double/int/categorical` build it."""

    kind: str  # double, int, categorical
    min: float | None = None
    max: float | None = None
    step: float | None = None
    log: bool = False
    values: tuple[Any, ...] = ()
    line: str = ""

    def value_type(self) -> str:
        """The Python type name the objective receives the value as."""
        if self.kind != "categorical":
            return _TYPES[self.kind]
        kinds = {type(v) for v in self.values}
        if kinds == {str}:
            return "str"
        if kinds <= {int} and kinds:
            return "int"
        return "float"

    def problem(self) -> str | None:
        """What is wrong with the space, in the author's words, or None."""
        if self.kind == "categorical":
            if not self.values:
                return "categorical needs at least one value"
            if any(
                isinstance(v, bool) or not isinstance(v, (str, int, float)) for v in self.values
            ):
                return f"categorical values are str, int or float, got {list(self.values)!r}"
            kinds = {type(v) for v in self.values}
            if str in kinds and len(kinds) > 1:
                return f"categorical values mix strings and numbers: {list(self.values)!r}"
            if len({str(v) for v in self.values}) != len(self.values):
                return f"categorical values repeat: {list(self.values)!r}"
            return None
        for label, value in (("min", self.min), ("max", self.max)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"{label} must be a number, got {value!r}"
            if self.kind == "int" and not isinstance(value, int):
                return f"int {label} must be an integer, got {value!r}"
        assert self.min is not None and self.max is not None
        if self.min > self.max:
            return f"min {self.min!r} > max {self.max!r}"
        if self.step is not None and not self.step > 0:
            return f"step must be > 0, got {self.step!r}"
        if self.log and self.min <= 0:
            return f"log=True needs min > 0, got min {self.min!r}"
        return None

    def katib(self, name: str) -> dict[str, Any]:
        """The Experiment's `spec.parameters[]` entry (Katib keeps bounds as strings)."""
        if self.kind == "categorical":
            space: dict[str, Any] = {"list": [str(v) for v in self.values]}
        else:
            space = {"min": _text(self.min), "max": _text(self.max)}
            if self.step is not None:
                space["step"] = _text(self.step)
            if self.log:
                space["distribution"] = "logUniform"
        return {"name": name, "parameterType": self.kind, "feasibleSpace": space}


def _text(value: Any) -> str:
    return json.dumps(value)


class _Search:
    """`katib.search`: the search-space constructors of Katib's SDK, with `log` for logUniform."""

    def double(
        self, min: float, max: float, step: float | None = None, log: bool = False
    ) -> SearchSpace:
        """Any real in [min, max] (`log=True`: sampled log-uniformly, for scales like lr)."""
        return SearchSpace("double", min, max, step, bool(log), line=_caller())

    def int(self, min: int, max: int, step: int | None = None) -> SearchSpace:
        """An integer in [min, max]."""
        return SearchSpace("int", min, max, step, line=_caller())

    def categorical(self, values: Sequence[Any]) -> SearchSpace:
        """One of `values` (strings, or numbers the objective receives as numbers)."""
        if isinstance(values, str):
            raise TracingError(
                f"katib.search.categorical({values!r}) at {_caller()}: give a list of values, "
                f"e.g. categorical([{values!r}])"
            )
        return SearchSpace("categorical", values=tuple(values), line=_caller())

    def __getattr__(self, name: str) -> Any:
        raise TracingError(
            f"katib.search.{name} at {_caller()}: unknown search type {name!r}; use "
            "katib.search.double(min, max, log=...), katib.search.int(min, max) or "
            "katib.search.categorical([...])"
        )


search = _Search()


def _caller() -> str:
    """`file:line` of the first frame outside kubepipe's dsl and Katib packages."""
    frame = sys._getframe(1)
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if not (module.split(".")[0] == "dsl" or module.startswith("components.katib")):
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return "<unknown>"


class TuneResults(NamedTuple):
    best_parameters: dict  # type: ignore[type-arg]
    best_objective: float


@dsl.component
def katib_results(
    assignments: str,
    objective: str,
    trials_json: str,
    types: dict,  # type: ignore[type-arg]
    metric: str,
    strategy: str,
    experiment: str,
    namespace: str,
    trials: dsl.Output[dsl.Dataset],
    serviceaccount: str = "/var/run/secrets/kubernetes.io/serviceaccount",
) -> TuneResults:
    """Turn the Experiment's jsonPath outputs into typed results and the trials table.

    Katib keeps assignments as strings; the objective saw them typed, so the best parameters
    are typed the same way. The local controller lists the trials in an annotation; on a
    cluster (no annotation) they are listed from the Kubernetes API with the pod's service
    account, which needs `list` on trials.kubeflow.org; without it the table holds the best
    trial only and the log says why.
    """
    import collections
    import json
    import os
    import sys

    def typed(name: str, text: str) -> object:
        kind = types.get(name, "str")
        if kind == "int":
            return int(float(text))
        if kind == "float":
            return float(text)
        return text

    def cluster_trials() -> list:  # type: ignore[type-arg]
        import ssl
        import urllib.parse
        import urllib.request

        host = os.environ.get("KUBERNETES_SERVICE_HOST")
        if not host or not experiment:
            return []
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        ns = namespace or "default"
        base = "https://%s:%s" % ("[%s]" % host if ":" in host else host, port)
        query = {"labelSelector": "katib.kubeflow.org/experiment=" + experiment}
        items: list = []  # type: ignore[type-arg]
        try:
            with open(os.path.join(serviceaccount, "token"), encoding="utf-8") as handle:
                token = handle.read().strip()
            context = ssl.create_default_context(cafile=os.path.join(serviceaccount, "ca.crt"))
            while True:
                url = "%s/apis/kubeflow.org/v1beta1/namespaces/%s/trials?%s" % (
                    base,
                    urllib.parse.quote(ns),
                    urllib.parse.urlencode(query),
                )
                request = urllib.request.Request(
                    url, headers={"Authorization": "Bearer " + token, "Accept": "application/json"}
                )
                with urllib.request.urlopen(request, context=context, timeout=30) as response:
                    page = json.load(response)
                items += page.get("items") or []
                more = (page.get("metadata") or {}).get("continue")
                if not more:
                    break
                query["continue"] = more
        except (OSError, ValueError) as exc:
            print(
                "katib.tune: could not list the trials of experiment %s/%s from the Kubernetes "
                "API (%s); the trials table holds the best trial only. Grant the pipeline's "
                "service account `list` on trials.kubeflow.org in namespace %s."
                % (ns, experiment, exc, ns),
                file=sys.stderr,
            )
            return []
        rows = []
        items.sort(
            key=lambda i: (i["metadata"].get("creationTimestamp") or "", i["metadata"]["name"])
        )
        for item in items:
            status = item.get("status") or {}
            true = [c["type"] for c in status.get("conditions") or [] if c.get("status") == "True"]
            value = None
            for m in (status.get("observation") or {}).get("metrics") or []:
                if m.get("name") == metric:
                    try:
                        value = float(m.get(strategy))
                    except (TypeError, ValueError):
                        value = None
            assigned = (item.get("spec") or {}).get("parameterAssignments") or []
            rows.append(
                {
                    "name": item["metadata"]["name"],
                    "state": true[-1] if true else "Created",
                    "objective": value,
                    "parameters": {a["name"]: a["value"] for a in assigned},
                }
            )
        return rows

    best_list = json.loads(assignments or "null") or []
    if not best_list or objective == "":
        raise SystemExit(
            "katib.tune: the experiment ended without a trial reporting %r; see the trials' "
            "logs (each must report %s=<number> through the metrics collector, or return a "
            "number)" % (metric, metric)
        )
    best = {a["name"]: typed(a["name"], a["value"]) for a in best_list}
    listed = json.loads(trials_json) if trials_json else cluster_trials()
    rows = []
    for t in listed:
        row = {"trial": t["name"], "state": t["state"], "objective": t["objective"]}
        row.update({k: typed(k, v) for k, v in t["parameters"].items()})
        rows.append(row)
    if not rows:
        rows.append({"trial": "best", "state": "Succeeded", "objective": float(objective), **best})
    with open(trials.path, "w", encoding="utf-8") as handle:
        json.dump(rows, handle, indent=1)
    trials.metadata["rows"] = len(rows)
    out = collections.namedtuple("out", ["best_parameters", "best_objective"])
    return out(best, float(objective))  # type: ignore[return-value]


def tune(
    objective: Callable[..., Any],
    parameters: dict[str, SearchSpace],
    objective_metric_name: str,
    objective_type: str = "maximize",
    objective_goal: float | None = None,
    algorithm_name: str = "random",
    algorithm_settings: dict[str, Any] | None = None,
    max_trial_count: int | None = None,
    parallel_trial_count: int | None = None,
    max_failed_trial_count: int | None = None,
    metrics_collector: str | dict[str, str] = "StdOut",
    name: str | None = None,
) -> dsl.PipelineTask:
    """Tune `objective` over `parameters` as a Katib Experiment step; returns the results task.

    `objective` is a self-contained function (imports inside, as for Katib's SDK) or a
    `@dsl.component`, taking the tuned parameters as keyword arguments (typed by its annotations,
    else by the search space). It prints `name=value` metrics, or returns a number (printed as
    `objective_metric_name=value`) or a dict of metrics. The returned task's outputs are
    `best_parameters` (dict), `best_objective` (float) and the `trials` artifact.
    """
    line = _caller()
    builder = current_builder()
    if builder is None:
        raise TracingError(f"katib.tune at {line}: only meaningful inside a @dsl.pipeline body")
    label = getattr(objective, "__name__", repr(objective))
    where = f"{builder.pipeline}: katib.tune(objective={label}) at {line}"
    func, source, image, packages = _objective(objective, where)
    where = f"{builder.pipeline}: katib.tune(objective={func.__name__!r}) at {line}"
    collector = _collector(metrics_collector, where)
    if not isinstance(parameters, dict) or not parameters:
        raise TracingError(f"{where}: parameters must be a non-empty dict of katib.search spaces")
    types = _check_parameters(func, parameters, where)
    step_name = kebab(name or f"tune-{func.__name__}")
    manifest = _experiment(
        step_name,
        func.__name__,
        source,
        image,
        packages,
        parameters,
        types,
        objective_metric_name,
        objective_type,
        objective_goal,
        algorithm_name,
        algorithm_settings or {},
        max_trial_count,
        parallel_trial_count,
        max_failed_trial_count,
        collector,
    )
    try:
        check_runnable(parse_experiment(manifest))
    except (ExperimentSpecError, KatibError) as exc:
        raise TracingError(f"{where}: {exc}") from None
    strategy = "min" if objective_type == "minimize" else "max"
    metric_path = "{.status.currentOptimalTrial.observation.metrics[?(@.name==%s)].%s}" % (
        json.dumps(objective_metric_name),
        strategy,
    )
    outputs = {
        "best-parameters": "{.status.currentOptimalTrial.parameterAssignments}",
        "best-objective": metric_path,
        "trials": "{.metadata.annotations.%s}" % TRIALS_ANNOTATION.replace(".", "\\."),
        "experiment": "{.metadata.name}",
        "namespace": "{.metadata.namespace}",
    }
    # No trials annotation (Katib on a cluster) reads as "": katib-results then lists them.
    defaults = {"best-objective": "", "trials": "", "namespace": ""}
    template = {
        "resource": {
            "action": "create",
            # Katib sets completionTime when the experiment ends either way; the follow-up
            # step says why when no trial reported the objective.
            "successCondition": "status.completionTime",
            "manifest": yaml.safe_dump(manifest, sort_keys=False, width=1000),
        },
        "outputs": {
            "parameters": [
                {
                    "name": out,
                    "valueFrom": {"jsonPath": path, **_default(defaults.get(out))},
                }
                for out, path in outputs.items()
            ]
        },
    }
    experiment = dsl.template_component(step_name, template, outputs={k: "str" for k in outputs})()
    results: dsl.PipelineTask = katib_results(
        assignments=experiment.outputs["best-parameters"],
        objective=experiment.outputs["best-objective"],
        trials_json=experiment.outputs["trials"],
        types=types,
        metric=objective_metric_name,
        strategy=strategy,
        experiment=experiment.outputs["experiment"],
        namespace=experiment.outputs["namespace"],
    )
    return results


def _default(value: str | None) -> dict[str, str]:
    return {} if value is None else {"default": value}


def _objective(objective: Any, where: str) -> tuple[Callable[..., Any], str, str, list[str]]:
    """(function, source, image, packages) of a plain function or a Python component."""
    if isinstance(objective, PythonComponent):
        return (
            objective.python_func,
            objective.source,
            objective.base_image,
            objective.packages_to_install,
        )
    if not inspect.isfunction(objective) or objective.__name__ == "<lambda>":
        raise TracingError(
            f"{where}: objective must be a function defined with `def` (or a @dsl.component) "
            f"taking the tuned parameters as keyword arguments, got {type(objective).__name__} "
            f"{objective!r}"
        )
    source = function_source(objective)
    if "{{" in source:
        raise TracingError(
            f"{where}: the objective's source contains '{{{{', which Argo would read as a "
            "template tag; build the text another way (e.g. '{' * 2)"
        )
    return objective, source, DEFAULT_IMAGE, []


def _check_parameters(
    func: Callable[..., Any], parameters: dict[str, Any], where: str
) -> dict[str, str]:
    """Each tuned parameter's type, after checking it against the space and the objective."""
    sig = inspect.signature(func)
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    types: dict[str, str] = {}
    for pname, space in parameters.items():
        at = f"{where}, parameter {pname!r}"
        if not isinstance(space, SearchSpace):
            raise TracingError(
                f"{at}: {space!r} is not a search space; use katib.search.double(min, max), "
                "katib.search.int(min, max) or katib.search.categorical([...])"
            )
        problem = space.problem()
        if problem is not None:
            raise TracingError(f"{at} (defined at {space.line}): {problem}")
        param = sig.parameters.get(pname)
        if param is None and not accepts_any:
            takes = ", ".join(sig.parameters) or "nothing"
            raise TracingError(
                f"{at}: {func.__name__}() does not take {pname!r} (it takes: {takes}); add the "
                "parameter to the objective or remove it from parameters"
            )
        types[pname] = _annotated(param, space, at)
    missing = [
        p.name
        for p in sig.parameters.values()
        if p.name not in parameters
        and p.default is p.empty
        and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]
    if missing:
        raise TracingError(
            f"{where}: {func.__name__}() needs {', '.join(map(repr, missing))}, which "
            "parameters does not tune; tune it or give it a default"
        )
    return types


def _annotated(param: inspect.Parameter | None, space: SearchSpace, at: str) -> str:
    """The objective's annotation for the parameter if it has one it can receive, else the
    space's own type."""
    natural = space.value_type()
    if param is None or param.annotation is param.empty:
        return natural
    ann = param.annotation
    named = {float: "float", int: "int", str: "str", "float": "float", "int": "int", "str": "str"}
    kind = named.get(ann)
    fits = kind == natural or (kind == "float" and natural == "int") or kind == "str"
    if kind is None or not fits:
        raise TracingError(
            f"{at}: the objective declares {param.name}: {getattr(ann, '__name__', ann)}, but "
            f"the {space.kind} search space gives {natural} values"
        )
    return kind


@dataclass(frozen=True)
class _Collector:
    """How trials report metrics: `metrics_collector` as the Experiment's metricsCollectorSpec
    and as the lines of the trial wrapper that report what the objective returns."""

    kind: str  # StdOut, Push or File
    path: str = ""
    format: str = "TEXT"

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"collector": {"kind": self.kind}}
        if self.kind == "File":
            spec["source"] = {
                "fileSystemPath": {"path": self.path, "kind": "File", "format": self.format}
            }
        return spec

    def report(self) -> str:
        """Wrapper lines reporting `result` (a non-empty dict of metrics)."""
        if self.kind == "Push":
            return "    report_metrics(result)\n"
        if self.kind == "File" and self.format == "JSON":
            return (
                "    import json\n"
                f"    with open({self.path!r}, 'a') as handle:\n"
                "        handle.write(json.dumps(result) + '\\n')\n"
            )
        if self.kind == "File":
            return (
                f"    with open({self.path!r}, 'a') as handle:\n"
                "        for key, value in result.items():\n"
                "            handle.write('%s=%s\\n' % (key, value))\n"
            )
        return (
            "    for key, value in result.items():\n"
            "        print('%s=%s' % (key, value), flush=True)\n"
        )


_COLLECTOR_KEYS = {"StdOut": {"kind"}, "Push": {"kind"}, "File": {"kind", "path", "format"}}
_COLLECTOR_REFUSED = {
    "PrometheusMetric": "it scrapes an HTTP endpoint the trial serves, which a tune objective "
    "does not; report with 'Push' (report_metrics) or run an Experiment manifest",
    "None": "tune needs the objective metric, and the None collector collects nothing",
    "TensorFlowEvent": "TensorFlow event files are not read here; use 'File' or 'Push'",
    "Custom": "a custom collector is a sidecar image; use 'File' or 'Push'",
}
# A File collector's default path: under /tmp, which is private to each trial's pod.
_FILE_PATH = "/tmp/katib/metrics.log"


def _collector(value: Any, where: str) -> _Collector:
    """`metrics_collector` checked: a kind ('StdOut', 'Push', 'File') or Katib SDK's dict form,
    e.g. {'kind': 'File', 'path': '/tmp/katib/metrics.log', 'format': 'JSON'}."""
    usage = (
        "use 'StdOut', 'Push' or 'File', or a dict such as "
        f"{{'kind': 'File', 'path': {_FILE_PATH!r}, 'format': 'TEXT'}}"
    )
    config = {"kind": value} if isinstance(value, str) else value
    if not isinstance(config, dict) or not isinstance(config.get("kind"), str):
        raise TracingError(f"{where}: metrics_collector {value!r} is not a collector; {usage}")
    kind = config["kind"]
    if kind in _COLLECTOR_REFUSED:
        raise TracingError(
            f"{where}: metrics_collector kind {kind!r} is not supported by tune: "
            f"{_COLLECTOR_REFUSED[kind]}"
        )
    if kind not in _COLLECTOR_KEYS:
        raise TracingError(f"{where}: unknown metrics_collector kind {kind!r}; {usage}")
    unknown = sorted(set(config) - _COLLECTOR_KEYS[kind])
    if unknown:
        raise TracingError(
            f"{where}: metrics_collector {kind!r} takes no {', '.join(map(repr, unknown))} "
            f"(it takes {', '.join(sorted(_COLLECTOR_KEYS[kind]))})"
        )
    path = config.get("path", _FILE_PATH if kind == "File" else "")
    form = config.get("format", "TEXT")
    if kind == "File":
        if not isinstance(path, str) or not path.startswith("/") or "{{" in path:
            raise TracingError(
                f"{where}: metrics_collector path must be an absolute file path in the trial's "
                f"container, e.g. {_FILE_PATH!r}; got {path!r}"
            )
        if form not in ("TEXT", "JSON"):
            raise TracingError(
                f"{where}: metrics_collector format must be 'TEXT' (name=value lines) or 'JSON' "
                f"(one object per line), got {form!r}"
            )
    return _Collector(kind, path, form)


def _trial_wrapper(
    func_name: str, metric: str, types: dict[str, str], collector: _Collector
) -> str:
    """Source of the trial entry point: call the objective, report what it returns (a number is
    the objective metric, a dict is several metrics) through the collector; an objective that
    reports by itself (prints, writes the file, calls report_metrics) returns None."""
    params = ", ".join(f"{n}: {t}" for n, t in types.items())
    call = ", ".join(f"{n}={n}" for n in types)
    return (
        f"def katib_trial({params}):\n"
        f"    result = {func_name}({call})\n"
        "    if isinstance(result, (int, float)) and not isinstance(result, bool):\n"
        f"        result = {{{metric!r}: float(result)}}\n"
        "    if not isinstance(result, dict) or not result:\n"
        "        return\n" + collector.report()
    )


def _trial_source(
    source: str, func_name: str, metric: str, types: dict[str, str], collector: _Collector
) -> str:
    """The objective's source, `report_metrics` beside it under Push (so the objective calls it
    by name: the trial image need not have kubepipe), and the wrapper."""
    parts = [source]
    if collector.kind == "Push":
        parts.append(inspect.getsource(report.report_metrics))
    parts.append(_trial_wrapper(func_name, metric, types, collector))
    return "\n\n".join(parts)


def _experiment(
    name: str,
    func_name: str,
    source: str,
    image: str,
    packages: list[str],
    parameters: dict[str, SearchSpace],
    types: dict[str, str],
    metric: str,
    objective_type: str,
    goal: float | None,
    algorithm: str,
    settings: dict[str, Any],
    max_trials: int | None,
    parallel: int | None,
    max_failed: int | None,
    collector: _Collector,
) -> dict[str, Any]:
    """The Katib Experiment manifest whose Job trials run the objective via the bootstrap."""
    io: dict[str, Any] = {
        "function": "katib_trial",
        "inputs": [{"name": n, "kind": "parameter", "type": t} for n, t in types.items()],
        "returns": [],
        "named_tuple": False,
    }
    if packages:
        io["packages"] = packages
    objective: dict[str, Any] = {"type": objective_type, "objectiveMetricName": metric}
    if goal is not None:
        objective["goal"] = goal
    spec: dict[str, Any] = {
        "objective": objective,
        "algorithm": {
            "algorithmName": algorithm,
            "algorithmSettings": [{"name": k, "value": str(v)} for k, v in settings.items()],
        },
    }
    for key, value in (
        ("parallelTrialCount", parallel),
        ("maxTrialCount", max_trials),
        ("maxFailedTrialCount", max_failed),
    ):
        if value is not None:
            spec[key] = value
    spec["parameters"] = [space.katib(n) for n, space in parameters.items()]
    spec["metricsCollectorSpec"] = collector.spec()
    spec["trialTemplate"] = {
        "primaryContainerName": _CONTAINER,
        "trialParameters": [{"name": n, "reference": n} for n in parameters],
        "trialSpec": {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {
                                "name": _CONTAINER,
                                "image": image,
                                "command": [
                                    "python3",
                                    "-c",
                                    bootstrap_source(),
                                    _trial_source(source, func_name, metric, types, collector),
                                    json.dumps(io, sort_keys=True),
                                ],
                                "args": [f"{n}=${{trialParameters.{n}}}" for n in parameters],
                            }
                        ],
                    }
                },
            },
        },
    }
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": "{{workflow.name}}-" + name},
        "spec": spec,
    }
