"""The in-step runtime of a Python component: stdlib only, embedded as text in every compiled step.

Why embedded: a compiled pipeline must run in any Python >= 3.9 image without kubepipe installed
(as KFP embeds its executor). The compiler puts this file's source into the container command:

    command: [python3, -c, <this file>, <function source>, <io json>]
    args:    [a={{inputs.parameters.a}}, b={{inputs.parameters.b}}, ...]

so `sys.argv[1:]` is the function source, the I/O description and one `name=value` per input
parameter. Values arrive as Argo strings: `str` parameters as-is, every other type as JSON.
Return values are written to /tmp/kubepipe/outputs/parameters/<name> the same way; output
artifacts live at /tmp/kubepipe/outputs/artifacts/<name>, input artifacts at
/tmp/kubepipe/inputs/artifacts/<name>. An artifact's `.metadata` travels as the JSON side
parameter `<name>-metadata`, so `Metrics.log_metric` values are visible downstream.

The artifact classes defined here are also the ones `dsl` exports: one definition for both the
authoring side and the step. This module is importable (it runs nothing on import).
"""

from __future__ import annotations

import json
import os
import sys
import types
from typing import Any

ROOT = "/tmp/kubepipe"
PARAM_OUT = ROOT + "/outputs/parameters/"
ART_OUT = ROOT + "/outputs/artifacts/"
ART_IN = ROOT + "/inputs/artifacts/"
PACKAGES_DIR = ROOT + "/packages"


class Artifact:
    """A file or directory produced or consumed by a step, with a name, uri and JSON metadata."""

    schema_title = "system.Artifact"
    schema_version = "0.0.1"

    def __init__(self, name: str = "", uri: str = "", metadata: dict | None = None) -> None:
        self.name = name
        self.uri = uri
        self.metadata = dict(metadata or {})

    @property
    def path(self) -> str:
        """The local path of the artifact: the uri itself for local uris (as KFP's `_get_path`)."""
        for scheme, mount in (("gs://", "/gcs/"), ("s3://", "/s3/"), ("minio://", "/minio/")):
            if self.uri.startswith(scheme):
                return mount + self.uri[len(scheme) :]
        return self.uri

    @path.setter
    def path(self, value: str) -> None:
        self.uri = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, uri={self.uri!r}, metadata={self.metadata!r})"


class Dataset(Artifact):
    schema_title = "system.Dataset"


class Model(Artifact):
    schema_title = "system.Model"

    @property
    def framework(self) -> str:
        return str(self.metadata.get("framework", ""))

    @framework.setter
    def framework(self, value: str) -> None:
        self.metadata["framework"] = value


class Metrics(Artifact):
    schema_title = "system.Metrics"

    def log_metric(self, metric: str, value: float) -> None:
        """Record a scalar metric in the artifact's metadata."""
        self.metadata[metric] = value


class ClassificationMetrics(Artifact):
    schema_title = "system.ClassificationMetrics"

    def log_roc_data_point(self, fpr: float, tpr: float, threshold: float) -> None:
        self.metadata.setdefault("confidenceMetrics", []).append(
            {"falsePositiveRate": fpr, "recall": tpr, "confidenceThreshold": threshold}
        )

    def log_confusion_matrix(self, categories: list, matrix: list) -> None:
        self.metadata["confusionMatrix"] = {"categories": list(categories), "matrix": matrix}


class HTML(Artifact):
    schema_title = "system.HTML"


class Markdown(Artifact):
    schema_title = "system.Markdown"


ARTIFACT_CLASSES = {
    c.__name__: c for c in (Artifact, Dataset, Model, Metrics, ClassificationMetrics, HTML, Markdown)
}


class PipelineTaskFinalStatus:
    """What an exit task learns about the group it guards (KFP's fields; state in KFP's words)."""

    def __init__(self, state: str, pipeline_task_name: str) -> None:
        self.state = {"Succeeded": "SUCCEEDED"}.get(state, "FAILED" if state else "")
        self.pipeline_task_name = pipeline_task_name
        self.pipeline_job_resource_name = os.environ.get("ARGO_WORKFLOW_NAME", "")
        self.error_code = None if self.state == "SUCCEEDED" else 1
        self.error_message = "" if self.state == "SUCCEEDED" else f"{pipeline_task_name}: {state}"


def decode(text: str, kind: str) -> Any:
    """An Argo string back to the declared Python type (`kind` is the signature's type name)."""
    if kind == "str":
        return text
    if kind == "optional_str":
        try:
            value = json.loads(text)
        except ValueError:
            return text
        return value if value is None or isinstance(value, str) else text
    value = json.loads(text)
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def encode(value: Any, kind: str) -> str:
    """A Python value as the Argo string its declared type travels as."""
    if kind == "str":
        if not isinstance(value, str):
            raise TypeError(f"returned {type(value).__name__} {value!r} for an output declared str")
        return value
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"returned {type(value).__name__} {value!r} for an output declared int")
    if kind == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise TypeError(f"returned {type(value).__name__} {value!r} for an output declared float")
    if kind == "bool" and not isinstance(value, bool):
        raise TypeError(f"returned {type(value).__name__} {value!r} for an output declared bool")
    return json.dumps(value, ensure_ascii=False)


def _install(packages: list, index_urls: list) -> None:
    """pip install into a step-private directory, so the image's interpreter is never changed."""
    import subprocess

    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-warn-script-location"]
    command += ["--disable-pip-version-check", "--target", PACKAGES_DIR]
    for i, url in enumerate(index_urls):
        command += ["--index-url" if i == 0 else "--extra-index-url", url]
    subprocess.check_call(command + list(packages))
    sys.path.insert(0, PACKAGES_DIR)


def _shim_module() -> types.ModuleType:
    """A tiny `dsl` module for function bodies that `import dsl` (annotations are never evaluated)."""
    shim = types.ModuleType("dsl")

    class _Marker:
        def __getitem__(self, item: Any) -> Any:
            return item

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return str

    for name, cls in ARTIFACT_CLASSES.items():
        setattr(shim, name, cls)
    shim.Input = shim.Output = _Marker()  # type: ignore[attr-defined]
    shim.InputPath = shim.OutputPath = _Marker()  # type: ignore[attr-defined]
    shim.PipelineTaskFinalStatus = PipelineTaskFinalStatus  # type: ignore[attr-defined]
    return shim


def _collected_artifacts(name: str, type_name: str, values: dict) -> list:
    """`Input[List[T]]`: the loop's JSON fan-in of pod names gives the iteration order."""
    # The input directory holds one entry per producing pod (its key below the loop's prefix).
    cls = ARTIFACT_CLASSES.get(type_name, Artifact)
    pods = json.loads(values.get(name + "-pod") or "[]")
    metas = json.loads(values.get(name + "-metadata") or "[]")
    if len(metas) != len(pods):
        raise ValueError("%s: %d artifacts but %d metadata entries" % (name, len(pods), len(metas)))
    found = []
    for i, (pod, meta) in enumerate(zip(pods, metas)):
        if isinstance(meta, str):
            meta = json.loads(meta or "{}")
        path = os.path.join(ART_IN + name, pod)
        if not os.path.exists(path):  # an empty directory stores no object
            os.makedirs(path, exist_ok=True)
        found.append(cls(name="%s-%d" % (name, i), uri=path, metadata=meta))
    return found


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def main(argv: list) -> None:
    """Run the component function the compiler embedded, reading and writing Argo's files."""
    source, io = argv[0], json.loads(argv[1])
    values = {}
    for item in argv[2:]:
        name, _, text = item.partition("=")
        values[name] = text
    if io.get("packages"):
        _install(io["packages"], io.get("pip_index_urls") or [])
    sys.modules.setdefault("dsl", _shim_module())
    namespace: dict = {"__name__": "__kubepipe_component__"}
    exec(compile("from __future__ import annotations\n" + source, "<component>", "exec"), namespace)
    func = namespace[io["function"]]
    kwargs: dict = {}
    outputs_after: list = []  # (artifact object, output name) to publish after the call
    for spec in io["inputs"]:
        name, kind = spec["name"], spec["kind"]
        if kind == "parameter":
            kwargs[name] = decode(values[name], spec["type"])
        elif kind == "final_status":
            kwargs[name] = PipelineTaskFinalStatus(values[name], values.get(name + "-task", ""))
        elif kind == "input_artifact" and spec.get("is_list"):
            kwargs[name] = _collected_artifacts(name, spec["type"], values)
        elif kind == "input_artifact":
            cls = ARTIFACT_CLASSES.get(spec["type"], Artifact)
            meta = json.loads(values.get(name + "-metadata") or "{}")
            kwargs[name] = cls(name=name, uri=ART_IN + name, metadata=meta)
        elif kind == "input_path":
            kwargs[name] = ART_IN + name
        elif kind == "output_artifact":
            cls = ARTIFACT_CLASSES.get(spec["type"], Artifact)
            artifact = cls(name=name, uri=ART_OUT + name)
            os.makedirs(ART_OUT, exist_ok=True)
            kwargs[name] = artifact
            outputs_after.append((artifact, name))
        elif kind == "output_path":
            target = (PARAM_OUT if spec.get("is_parameter") else ART_OUT) + name
            os.makedirs(os.path.dirname(target), exist_ok=True)
            kwargs[name] = target
    result = func(**kwargs)
    returns = io["returns"]
    if returns:
        if len(returns) == 1 and returns[0]["name"] == "Output" and not io.get("named_tuple"):
            pairs = [(returns[0], result)]
        else:
            pairs = [(spec, getattr(result, spec["name"])) for spec in returns]
        for spec, value in pairs:
            # Argo trims one trailing newline from a valueFrom.path file: add one so
            # a value that ends in a newline survives.
            _write(PARAM_OUT + spec["name"], encode(value, spec["type"]) + "\n")
    for artifact, name in outputs_after:
        meta = json.dumps(artifact.metadata, sort_keys=True)
        _write(PARAM_OUT + name + "-metadata", meta)
        if name in io.get("collect", ()):
            _write(PARAM_OUT + name + "-pod", values["@pod"])
        if isinstance(artifact, (Metrics, ClassificationMetrics)) and not os.path.exists(artifact.path):
            _write(artifact.path, meta)


if __name__ == "__main__":
    main(sys.argv[1:])
