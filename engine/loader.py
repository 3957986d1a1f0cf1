"""Load workflow manifests from YAML into `engine.spec` models, with errors a person can act on.

Every failure becomes a `SpecError` whose problems carry the file, the field path in Argo's
spelling (``spec.templates[2].dag.tasks[0].depends``) and the YAML line, because "field required"
without a place is useless in a 300-line manifest.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from engine.errors import Problem, SpecError
from engine.spec import CronWorkflow, Manifest, Workflow, WorkflowTemplate

_KINDS: dict[str, type[Manifest]] = {
    "Workflow": Workflow,
    "WorkflowTemplate": WorkflowTemplate,
    "ClusterWorkflowTemplate": WorkflowTemplate,
    "CronWorkflow": CronWorkflow,
}

Positions = dict[tuple[Any, ...], tuple[int, int]]

# How many levels YAML may nest. Composing a document (and everything that walks it afterwards)
# recurses once or twice per level, so a few kilobytes of `[[[[...` would otherwise exhaust
# Python's stack; real manifests stay far below this.
MAX_YAML_DEPTH = 100
# A `\0` or `\uD800` escape composes to a NUL or a lone surrogate: neither can be written to the
# database (PostgreSQL refuses NUL in text) or to a process's argv, so they would fail mid-run
# instead of at load.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class YamlRefused(yaml.YAMLError):  # type: ignore[misc]
    """YAML that parses but that kubepipe will not take; `mark` is where, `hint` the fix."""

    def __init__(self, message: str, mark: yaml.Mark, hint: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.hint = hint


class YamlTooDeep(YamlRefused):
    """The document nests deeper than the limit; `mark` is where the first level too many opens."""

    def __init__(self, limit: int, mark: yaml.Mark) -> None:
        super().__init__(
            f"the YAML nests deeper than {limit} levels",
            mark,
            "flatten the structure; a manifest needs only a few levels",
        )
        self.limit = limit


class _DepthLimitedLoader(yaml.SafeLoader):  # type: ignore[misc]
    """A SafeLoader whose composer counts its own recursion and stops at `max_depth`, and that
    refuses scalars holding a NUL or a lone surrogate."""

    def __init__(self, stream: str, max_depth: int) -> None:
        super().__init__(stream)
        self._max_depth = max_depth
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > self._max_depth:
                raise YamlTooDeep(self._max_depth, self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_scalar_node(self, anchor: Any) -> Any:
        node = super().compose_scalar_node(anchor)
        found = _UNSTORABLE.search(node.value)
        if found is not None:
            what = "a NUL" if found.group() == "\x00" else "a lone surrogate"
            raise YamlRefused(
                f"a string holds {what} (an escape such as \\0 or \\uD800), which is not text",
                node.start_mark,
                "remove it; write other characters themselves, or \\U0001F600 above U+FFFF",
            )
        return node


def compose_bounded(text: str, max_depth: int = MAX_YAML_DEPTH) -> list[yaml.Node]:
    """Every document's node tree, or `YamlTooDeep` before the stack runs out (`YamlRefused` for
    a NUL or a lone surrogate, PyYAML's own errors for bad syntax). Anything that walks these trees
    recursively is then bounded too."""
    return list(yaml.compose_all(text, Loader=partial(_DepthLimitedLoader, max_depth=max_depth)))


def read_source(path_or_text: str | Path) -> tuple[str, str]:
    """Return (text, source label): a Path or an existing file name is read, else taken as YAML."""
    if isinstance(path_or_text, Path) or (
        "\n" not in path_or_text and Path(path_or_text).is_file()
    ):
        path = Path(path_or_text)
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except FileNotFoundError:
            raise SpecError([Problem(f"file {path} does not exist")], str(path)) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError([Problem(f"cannot read {path}: {exc}")], str(path)) from None
    return str(path_or_text), "<string>"


def _positions(node: yaml.Node, path: tuple[Any, ...], out: Positions) -> None:
    out[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else str(key.value)
            _positions(value, path + (name,), out)
            # Point at the key, not its value: that is where a person looks for a field.
            out[path + (name,)] = (key.start_mark.line + 1, key.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _positions(item, path + (index,), out)


def parse_yaml(text: str, source: str) -> list[tuple[Any, Positions]]:
    """Parse every YAML document with a map from field path to (line, column)."""
    try:
        nodes = compose_bounded(text)
        docs = list(yaml.safe_load_all(text))  # as deep as `nodes`: safe once they composed
    except YamlRefused as exc:
        raise SpecError(
            [
                Problem(
                    str(exc),
                    line=exc.mark.line + 1,
                    column=exc.mark.column + 1,
                    hint=exc.hint,
                )
            ],
            source,
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise SpecError(
            [
                Problem(
                    f"YAML syntax error: {message}",
                    line=mark.line + 1 if mark else None,
                    column=mark.column + 1 if mark else None,
                    hint="check indentation and quoting around this line",
                )
            ],
            source,
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError([Problem(f"YAML error: {exc}")], source) from None
    result = []
    for node, doc in zip(nodes, docs):
        if node is None or doc is None:
            continue
        positions: Positions = {}
        _positions(node, (), positions)
        result.append((doc, positions))
    return result


def format_path(loc: tuple[Any, ...]) -> str:
    """Render a location tuple the way the manifest spells it: ``spec.templates[0].name``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def _position_for(loc: tuple[Any, ...], positions: Positions) -> tuple[int | None, int | None]:
    for end in range(len(loc), -1, -1):
        if loc[:end] in positions:
            return positions[loc[:end]]
    return None, None


def _known_fields(model: Any, loc: tuple[Any, ...]) -> list[str]:
    """Field names valid at `loc` (for did-you-mean hints on unknown fields)."""
    current = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return []
        annotation = field.annotation
        target = _model_in(annotation)
        if target is None:
            return []
        current = target
    return [f.alias or n for n, f in current.model_fields.items()]


def _model_in(annotation: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def problems_from_validation(
    exc: ValidationError, model: Any, positions: Positions
) -> list[Problem]:
    """Turn pydantic's errors into located, fixable problems, dropping union noise."""
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for error in exc.errors():
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and "[" in p))
        kind = error["type"]
        hint = ""
        if kind == "extra_forbidden":
            field = str(loc[-1])
            known = _known_fields(model, loc)
            close = difflib.get_close_matches(field, known, n=1)
            message = f"unknown field {field!r}"
            hint = f"did you mean {close[0]!r}?" if close else "remove it or check its indentation"
        elif kind == "missing":
            message = f"required field {str(loc[-1])!r} is missing"
        elif kind == "value_error":
            message = str(error.get("ctx", {}).get("error", error["msg"]))
        else:
            message = f"{error['msg']} (got {_short(error.get('input'))})"
        path = format_path(loc)
        if (path, message) in seen:
            continue
        seen.add((path, message))
        line, column = _position_for(loc, positions)
        problems.append(Problem(message, path=path, line=line, column=column, hint=hint))
    return problems


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def load_manifest(path_or_text: str | Path) -> tuple[Manifest, str, Positions]:
    """Load the single Workflow, WorkflowTemplate or CronWorkflow in a file."""
    text, source = read_source(path_or_text)
    docs = parse_yaml(text, source)
    if not docs:
        raise SpecError(
            [Problem("the file holds no YAML document", hint="add a Workflow manifest")], source
        )
    if len(docs) > 1:
        kinds = ", ".join(str(d.get("kind")) if isinstance(d, Mapping) else "?" for d, _ in docs)
        raise SpecError(
            [
                Problem(
                    f"the file holds {len(docs)} YAML documents ({kinds})",
                    hint="kubepipe runs one workflow per file; split the documents",
                )
            ],
            source,
        )
    doc, positions = docs[0]
    if not isinstance(doc, Mapping):
        raise SpecError(
            [Problem(f"a manifest must be a YAML mapping, got {type(doc).__name__}", line=1)],
            source,
        )
    kind = doc.get("kind")
    model = _KINDS.get(str(kind))
    wrap = None if model is not None else _manifest_plugin(doc)
    if wrap is not None:
        # Another package's kind (a Katib Experiment): it becomes the Workflow that runs it, as
        # `argo submit` of a one-step resource workflow would. The plugin reports its own
        # problems as a SpecError with lines from `positions`.
        workflow = wrap(dict(doc), positions, source)
        try:
            return Workflow.model_validate(workflow), source, {}
        except ValidationError as exc:
            raise SpecError(problems_from_validation(exc, Workflow, {}), source) from None
    if model is None:
        line, column = positions.get(("kind",), (None, None))
        raise SpecError(
            [
                Problem(
                    f"unsupported kind {kind!r}",
                    path="kind",
                    line=line,
                    column=column,
                    hint=f"use one of {', '.join(sorted(_KINDS))} (apiVersion argoproj.io/v1alpha1)",
                )
            ],
            source,
        )
    try:
        manifest = model.model_validate(doc)
    except ValidationError as exc:
        raise SpecError(problems_from_validation(exc, model, positions), source) from None
    return manifest, source, positions


MANIFEST_PLUGINS = "kubepipe.manifests"


def _manifest_plugin(doc: Mapping[str, Any]) -> Callable[..., Any] | None:
    """The function another package registered for this document's kind, if any.

    Entry points of the `kubepipe.manifests` group are named `Kind.group` as kubectl names
    resources (`Experiment.kubeflow.org`); each takes (document, positions, source) and returns
    a Workflow manifest. The engine finds them by name and never imports those packages.
    """
    from importlib.metadata import entry_points

    group = str(doc.get("apiVersion") or "").partition("/")[0]
    name = f"{doc.get('kind')}.{group}"
    for entry in entry_points(group=MANIFEST_PLUGINS):
        if entry.name == name:
            loaded: Callable[..., Any] = entry.load()
            return loaded
    return None


def as_workflow(manifest: Manifest) -> Workflow:
    """What `argo submit --from` does: a template or cron manifest becomes a runnable Workflow."""
    if isinstance(manifest, Workflow):
        return manifest
    if isinstance(manifest, WorkflowTemplate):
        meta = manifest.metadata.model_copy()
        if meta.name and not meta.generate_name:
            meta.generate_name, meta.name = f"{meta.name}-", None
        return Workflow(metadata=meta, spec=manifest.spec)
    meta = manifest.metadata.model_copy()
    if meta.name:
        meta.generate_name, meta.name = f"{meta.name}-", None
    return Workflow(metadata=meta, spec=manifest.spec.workflow_spec)
