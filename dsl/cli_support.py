"""What `kubepipe compile` and `kubepipe run PIPELINE.py[:name]` need from the DSL.

The engine never imports `dsl`; only the CLI commands import this module, lazily, inside the
command function. Everything here is a plain function over paths and engine.spec models.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from dsl.compiler import OUTPUTS_ANNOTATION, compile_workflow, to_yaml
from dsl.errors import DSLError
from dsl.pipeline import Pipeline
from engine.spec import Workflow


class PipelineFileError(DSLError):
    """A PIPELINE.py[:name] that does not name exactly one pipeline."""


def is_pipeline_file(path_spec: str) -> bool:
    """True when the CLI argument names Python source (`x.py` or `x.py:name`), not YAML."""
    path, _, _ = path_spec.partition(":") if not Path(path_spec).exists() else (path_spec, "", "")
    return path.endswith(".py")


def load_pipeline(path_spec: str) -> Pipeline[Any, Any]:
    """Import `path[:name]` and return the pipeline it names (or the only one it defines)."""
    path_text, _, name = path_spec.partition(":")
    if Path(path_spec).is_file():
        path_text, name = path_spec, ""
    path = Path(path_text)
    if not path.is_file():
        raise PipelineFileError(f"{path_text}: no such file")
    module_name = f"_kubepipe_pipeline_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses/NamedTuples look their module up
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    if name:
        found = getattr(module, name, None)
        if not isinstance(found, Pipeline):
            what = "does not exist" if found is None else f"is a {type(found).__name__}"
            raise PipelineFileError(f"{path_text}: {name!r} {what}, not a @dsl.pipeline")
        return found
    pipelines = {k: v for k, v in vars(module).items() if isinstance(v, Pipeline)}
    defined = [k for k, v in pipelines.items() if v.python_func.__module__ == module_name]
    candidates = defined or list(pipelines)
    # A pipeline other pipelines call is a part; the one nobody calls is the whole.
    called = {id(task.component) for k in candidates for task in pipelines[k].graph.tasks}
    outermost = [k for k in candidates if id(pipelines[k]) not in called]
    if len(outermost) == 1:
        candidates = outermost
    if len(candidates) != 1:
        listed = ", ".join(sorted(candidates)) or "none"
        raise PipelineFileError(
            f"{path_text}: name the pipeline as {path_text}:NAME (pipelines found: {listed})"
        )
    return pipelines[candidates[0]]


def load_pipeline_from_file(path_spec: str) -> Workflow:
    """The compiled Workflow for `PIPELINE.py[:name]`."""
    return compile_workflow(load_pipeline(path_spec))


def compile_file(path_spec: str, output: str | Path | None) -> str:
    """Compile `PIPELINE.py[:name]`; write the YAML to `output` (when given) and return it."""
    text = to_yaml(load_pipeline_from_file(path_spec))
    if output is not None:
        Path(output).write_text(text, encoding="utf-8")
    return text


def typed_outputs(workflow: Workflow, run_outputs: dict[str, Any]) -> dict[str, Any]:
    """The pipeline's outputs under KFP's names as typed JSON values.

    The engine reports the entry DAG's output parameters as strings (`entryParameters`); the
    compiler records their types in the `kubepipe.io/outputs` annotation, so str stays str and
    everything else is decoded from JSON.
    """
    types = json.loads(workflow.metadata.annotations.get(OUTPUTS_ANNOTATION, "{}"))
    raw = dict(run_outputs.get("entryParameters") or {})
    typed: dict[str, Any] = {}
    for name, text in raw.items():
        kind = types.get(name)
        if kind is None:
            continue
        if kind in ("str",) or not isinstance(text, str):
            typed[name] = text
            continue
        try:
            typed[name] = json.loads(text)
        except ValueError:
            typed[name] = text
    return typed
