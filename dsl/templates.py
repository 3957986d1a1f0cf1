"""One Argo container template per component: inputs, outputs, command and task options.

Python components run `python3 -c <bootstrap> <function source> <io json>` with one
`name={{inputs.parameters.name}}` argument per input parameter (see `_bootstrap`), so the image
needs Python >= 3.9 and nothing else. The component signature rides in the template's
`metadata.annotations["kubepipe.io/signature"]` so a loader can re-type values.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from dsl._bootstrap import ART_IN, ART_OUT, PARAM_OUT
from dsl._wire import (
    ACCELERATOR_ANNOTATION,
    CACHE_ANNOTATION,
    SIGNATURE_ANNOTATION,
    encode_constant,
)
from dsl.component import (
    BaseComponent,
    ContainerComponent,
    ImporterComponent,
    PythonComponent,
    TemplateComponent,
)
from dsl.errors import TracingError
from engine import spec as s

_MKDIRS = 'mkdir -p %s %s && exec "$0" "$@"' % (PARAM_OUT.rstrip("/"), ART_OUT.rstrip("/"))
# The importer reads the host's file through a hostPath volume of its own (a step sees nothing
# of the host otherwise), so a server's allowed host paths decide what may be imported.
_IMPORT_SOURCE = "/kubepipe/import/source"
_IMPORT_HOST_PATH = "{{=sprig.trimPrefix('file://', inputs.parameters['artifact_uri'])}}"
_IMPORT = """\
import json, os, shutil, sys
uri, target = sys.argv[1], sys.argv[2]
src = "/kubepipe/import/source"
if not os.path.exists(src):  # no volume (path-mapped steps see the host itself)
    src = uri[len("file://"):] if uri.startswith("file://") else uri
if not os.path.exists(src):
    sys.exit("importer: %s does not exist (give a local path or a file:// uri)" % uri)
os.makedirs(os.path.dirname(target), exist_ok=True)
(shutil.copytree if os.path.isdir(src) else shutil.copyfile)(src, target)
os.makedirs(sys.argv[3], exist_ok=True)
with open(os.path.join(sys.argv[3], "artifact-metadata"), "w") as f:
    f.write(sys.argv[4])
"""


@functools.cache
def bootstrap_source() -> str:
    """The step runtime's text, embedded in every Python component's command.

    Docstrings and blank lines are dropped (plain text edits, so the bytes do not depend on the
    Python version): the YAML stays readable and every template carries a little less.
    """
    text = (Path(__file__).parent / "_bootstrap.py").read_text(encoding="utf-8")
    text = text[text.index('"""', 3) + 3 :]  # the module docstring
    kept = [
        line
        for line in text.splitlines()
        if line.strip() and not _ONE_LINE_DOC.match(line) and not line.lstrip().startswith("#")
    ]
    return "\n".join(kept) + "\n"


_ONE_LINE_DOC = re.compile(r'^\s*"""[^"]*"""\s*$')


def component_template(
    name: str, comp: BaseComponent[Any, Any], options: dict[str, Any]
) -> s.Template:
    """The Argo template for `comp`, specialised by a task's options (retry, resources, ...)."""
    if isinstance(comp, TemplateComponent):
        return _raw_template(name, comp, options)
    sig = comp.signature
    params: list[s.Parameter] = []
    artifacts: list[s.Artifact] = []
    out_params: list[s.Parameter] = []
    out_artifacts: list[s.Artifact] = []
    collect: dict[str, str] = options.get("collect", {})
    for d in sig.inputs:
        if d.kind in ("parameter", "final_status"):
            default = encode_constant(d.default, d.type) if d.has_default else None
            params.append(s.Parameter(name=d.name, default=default))
            if d.kind == "final_status":  # the exit handler group's name, for KFP's field
                params.append(s.Parameter(name=d.name + "-task", default=""))
        elif d.kind in ("input_artifact", "input_path"):
            artifacts.append(s.Artifact(name=d.name, path=ART_IN + d.name))
            if d.is_list:  # one directory per iteration's pod, listed in iteration order
                params.append(s.Parameter(name=d.name + "-pod", default="[]"))
            if isinstance(comp, PythonComponent):
                default = "[]" if d.is_list else "{}"
                params.append(s.Parameter(name=d.name + "-metadata", default=default))
        elif d.kind == "output_path" and d.is_parameter:
            out_params.append(_file_param(d.name))
        elif d.name in collect:
            # Stored unarchived under the loop's key prefix, one entry per pod, so a
            # dsl.Collected consumer reads every iteration's artifact as one directory.
            out_artifacts.append(
                s.Artifact(
                    name=d.name,
                    path=ART_OUT + d.name,
                    s3={"key": collect[d.name] + "/{{pod.name}}"},
                    archive=s.ArchiveStrategy(none={}),
                )
            )
            out_params.append(_file_param(d.name + "-metadata"))
            out_params.append(_file_param(d.name + "-pod"))
        else:  # output_artifact, output_path of an artifact
            out_artifacts.append(s.Artifact(name=d.name, path=ART_OUT + d.name))
            if (
                isinstance(comp, (PythonComponent, ImporterComponent))
                and d.kind == "output_artifact"
            ):
                out_params.append(_file_param(d.name + "-metadata"))
    out_params = [_file_param(r.name) for r in sig.returns] + out_params
    container = _container(comp, params, options.get("present", []), sorted(collect))
    annotations = {
        SIGNATURE_ANNOTATION: json.dumps(
            _signature_json(comp), sort_keys=True, separators=(",", ":")
        )
    }
    if "caching" in options:
        annotations[CACHE_ANNOTATION] = "true" if options["caching"] else "false"
    if options.get("accelerator"):
        annotations[ACCELERATOR_ANNOTATION] = options["accelerator"]
    resources: dict[str, Any] = {}
    if options.get("limits"):
        resources["limits"] = dict(sorted(options["limits"].items()))
    if options.get("requests"):
        resources["requests"] = dict(sorted(options["requests"].items()))
    if resources:
        container.resources = resources
    env = dict(getattr(getattr(comp, "spec", None), "env", {}) or {})
    env.update(options.get("env", {}))
    container.env = [s.EnvVar(name=k, value=v) for k, v in env.items()]
    volumes = None
    if isinstance(comp, ImporterComponent):
        volumes = [{"name": "import-source", "hostPath": {"path": _IMPORT_HOST_PATH}}]
        container.volume_mounts = [{"name": "import-source", "mountPath": _IMPORT_SOURCE}]
    return s.Template(
        name=name,
        inputs=s.Inputs(parameters=params, artifacts=artifacts),
        outputs=s.Outputs(parameters=out_params, artifacts=out_artifacts),
        container=container,
        retry_strategy=_retry(options.get("retry")),
        active_deadline_seconds=str(options["timeout"]) if "timeout" in options else None,
        metadata={"annotations": annotations},
        volumes=volumes,
    )


def _raw_template(name: str, comp: TemplateComponent, options: dict[str, Any]) -> s.Template:
    """A template component's own template, named, with its inputs and the task's retry/timeout.

    Container settings (resources, env, accelerators) have no meaning for a template that is
    not a container of ours, so asking for them is an error rather than silently dropped.
    """
    unusable = sorted(k for k in ("limits", "requests", "env", "accelerator") if options.get(k))
    if unusable:
        raise TracingError(
            f"template component {comp.name!r}: {', '.join(unusable)} set on its task, but its "
            "step is a raw Argo template, not a container; put them in the template itself"
        )
    template = s.Template.model_validate(comp.template)
    template.name = name
    declared = {p.name for p in template.inputs.parameters}
    template.inputs.parameters += [
        s.Parameter(name=d.name) for d in comp.signature.inputs if d.name not in declared
    ]
    if options.get("retry"):
        template.retry_strategy = _retry(options["retry"])
    if "timeout" in options:
        template.active_deadline_seconds = str(options["timeout"])
    annotations = {
        SIGNATURE_ANNOTATION: json.dumps(
            _signature_json(comp), sort_keys=True, separators=(",", ":")
        )
    }
    if "caching" in options:
        annotations[CACHE_ANNOTATION] = "true" if options["caching"] else "false"
    metadata = dict(template.metadata or {})
    metadata["annotations"] = {**(metadata.get("annotations") or {}), **annotations}
    template.metadata = metadata
    return template


def _file_param(name: str) -> s.Parameter:
    return s.Parameter(name=name, value_from=s.ValueFrom(path=PARAM_OUT + name))


def _container(
    comp: BaseComponent[Any, Any],
    params: list[s.Parameter],
    present: list[str],
    collect: list[str],
) -> s.Container:
    if isinstance(comp, PythonComponent):
        io = comp.signature.to_json()
        io["packages"] = comp.packages_to_install or None
        io["pip_index_urls"] = comp.pip_index_urls or None
        io["collect"] = collect or None
        io = {k: v for k, v in io.items() if v is not None}
        args = [f"{p.name}={{{{inputs.parameters.{p.name}}}}}" for p in params]
        if collect:  # the step names the key its collected artifacts were stored under
            args.append("@pod={{pod.name}}")
        return s.Container(
            image=comp.base_image,
            command=[
                "python3",
                "-c",
                bootstrap_source(),
                comp.source,
                json.dumps(io, sort_keys=True, ensure_ascii=False),
            ],
            args=args,
        )
    if isinstance(comp, ContainerComponent):
        command, args = comp.argv(present)
        if comp.signature.outputs and command:
            command = ["sh", "-c", _MKDIRS] + command
        return s.Container(image=comp.spec.image, command=command or None, args=args or None)
    if isinstance(comp, ImporterComponent):
        meta = json.dumps(comp.metadata, sort_keys=True)
        return s.Container(
            image="python:3.11",
            command=["python3", "-c", _IMPORT],
            args=[
                "{{inputs.parameters.artifact_uri}}",
                ART_OUT + "artifact",
                PARAM_OUT.rstrip("/"),
                meta,
            ],
        )
    raise AssertionError(f"no template for {type(comp).__name__}")


def _retry(retry: dict[str, Any] | None) -> s.RetryStrategy | None:
    if not retry:
        return None
    backoff = None
    if any(retry.get(k) is not None for k in ("duration", "factor", "max_duration")):
        backoff = s.Backoff(
            duration=retry.get("duration"),
            factor=None if retry.get("factor") is None else json.dumps(retry["factor"]),
            max_duration=retry.get("max_duration"),
        )
    return s.RetryStrategy(
        limit=str(retry["limit"]), retry_policy=s.RetryPolicy.ALWAYS, backoff=backoff
    )


def _signature_json(comp: BaseComponent[Any, Any]) -> dict[str, Any]:
    sig = comp.signature
    data = sig.to_json()
    data["outputs"] = [{"name": o.name, "kind": o.kind, "type": o.type} for o in sig.outputs]
    data.pop("named_tuple", None)
    data.pop("function", None)
    return data
