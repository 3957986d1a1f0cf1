"""Checks that run before anything is written: references, graphs, expressions, placeholders.

`validate_workflow` returns every problem it finds (not just the first), each with the field
path in Argo's spelling and, where the loader knows it, the YAML line. The engine only runs
workflows that pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import networkx as nx

from engine.errors import ExpressionError, Problem
from engine.expressions import dependencies_to_depends, find_placeholders, parse_depends
from engine.loader import Positions, format_path
from engine.spec import DAGTask, Template, TemplateKind, Workflow, _Invocation
from engine.values import parse_duration

_EXTERNAL_ARTIFACTS = ("gcs", "azure", "oss", "hdfs", "http", "git", "artifactory", "plugin")
_UNSUPPORTED_KINDS = {
    TemplateKind.HTTP: "http templates call external services",
    TemplateKind.DATA: "data templates read from an external artifact repository",
    TemplateKind.PLUGIN: "executor plugins need a cluster",
}
_WORKFLOW_VARS = {
    "name",
    "namespace",
    "uid",
    "serviceAccountName",
    "mainEntrypoint",
    "priority",
    "duration",
    "status",
    "failures",
    "creationTimestamp",
    "scheduledTime",
}
# Kubernetes' limits on where an object lives and what it is called: a namespace is a DNS label, a
# name at most 253 characters. Past them no cluster takes the workflow, and PostgreSQL cannot index
# the run's row (a long random name was a database error, not a message).
NAMESPACE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
NAMESPACE_RULE = (
    "at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
)
MAX_NAME_LENGTH = 253
_POD_VARS = {"pod.name", "node.name", "retries", "inputs.parameters"}
_NODE_ATTRS = {"status", "id", "exitCode", "startedAt", "finishedAt", "ip", "hostNodeName"}


class _Checker:
    def __init__(self, wf: Workflow, positions: Positions, known_kinds: set[str] | None) -> None:
        self.wf = wf
        self.spec = wf.spec
        self.positions = positions
        self.known_kinds = known_kinds
        self.problems: list[Problem] = []
        self.templates = {t.name: t for t in self.spec.templates if t.name}

    def add(self, loc: tuple[Any, ...], message: str, hint: str = "") -> None:
        line = column = None
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.positions:
                line, column = self.positions[loc[:end]]
                break
        self.problems.append(
            Problem(message, path=format_path(loc), line=line, column=column, hint=hint)
        )

    # -- top level ------------------------------------------------------------------------
    def run(self) -> list[Problem]:
        spec = self.spec
        if spec.workflow_template_ref is not None:
            self.add(
                ("spec", "workflowTemplateRef"),
                "workflowTemplateRef needs a stored WorkflowTemplate, which the local engine does not have",
                "run the WorkflowTemplate file itself: kubepipe run template.yaml",
            )
            return self.problems
        seen: set[str] = set()
        for i, template in enumerate(spec.templates):
            loc = ("spec", "templates", i)
            if not template.name:
                self.add(loc + ("name",), "every template needs a name")
            elif template.name in seen:
                self.add(
                    loc + ("name",),
                    f"template name {template.name!r} is used twice",
                    "rename one of them",
                )
            seen.add(template.name or "")
        if not spec.entrypoint:
            self.add(
                ("spec", "entrypoint"),
                "spec.entrypoint is missing",
                f"name the template to start with, one of: {', '.join(self.templates)}",
            )
        elif spec.entrypoint not in self.templates:
            self.add(
                ("spec", "entrypoint"),
                f"entrypoint {spec.entrypoint!r} is not a template",
                f"use one of: {', '.join(self.templates)}",
            )
        if spec.on_exit and spec.on_exit not in self.templates:
            self.add(
                ("spec", "onExit"),
                f"onExit template {spec.on_exit!r} does not exist",
                f"use one of: {', '.join(self.templates)}",
            )
        self.declared_params = {p.name for p in spec.arguments.parameters}
        for i, template in enumerate(spec.templates):
            self.check_template(template, ("spec", "templates", i))
        self.check_durations()
        self.check_metadata()
        return self.problems

    def check_metadata(self) -> None:
        meta = self.wf.metadata
        for key, value in (("name", meta.name), ("generateName", meta.generate_name)):
            if value is not None and len(value) > MAX_NAME_LENGTH:
                self.add(
                    ("metadata", key),
                    f"metadata.{key} is {len(value)} characters long, more than {MAX_NAME_LENGTH}",
                    "shorten it (Kubernetes' limit on a name)",
                )
        if meta.namespace is not None and not NAMESPACE_NAME.match(meta.namespace):
            shown = meta.namespace if len(meta.namespace) <= 40 else meta.namespace[:37] + "..."
            self.add(
                ("metadata", "namespace"),
                f"{shown!r} is not a namespace name",
                f"use {NAMESPACE_RULE}",
            )

    def check_durations(self) -> None:
        """Every literal duration reads as one and is at most a century: one that does not would
        fail, or overflow a timer, only when the run reaches it. A templated value
        (`{{inputs.parameters.t}}`) is read when it is resolved."""
        spec = self.spec
        places: list[tuple[tuple[Any, ...], Any]] = [
            (("spec", "activeDeadlineSeconds"), spec.active_deadline_seconds),
            *_backoff(("spec", "retryStrategy"), spec.retry_strategy),
        ]
        for i, t in enumerate(spec.templates):
            loc = ("spec", "templates", i)
            places += [
                (loc + ("activeDeadlineSeconds",), t.active_deadline_seconds),
                (loc + ("timeout",), t.timeout),
                (loc + ("suspend", "duration"), t.suspend.duration if t.suspend else None),
                *_backoff(loc + ("retryStrategy",), t.retry_strategy),
            ]
        for loc, value in places:
            if value is None or "{{" in str(value):
                continue
            try:
                parse_duration(value, field="value")
            except ValueError as exc:  # the message says what is wrong and what reads
                self.add(loc, str(exc))

    def check_template(self, template: Template, loc: tuple[Any, ...]) -> None:
        kind = template.kind
        if kind in _UNSUPPORTED_KINDS:
            self.add(loc + (kind.value,), _UNSUPPORTED_KINDS[kind])
            return
        for group, arts in (
            ("inputs", template.inputs.artifacts),
            ("outputs", template.outputs.artifacts),
        ):
            for j, art in enumerate(arts):
                for location in _EXTERNAL_ARTIFACTS:
                    if getattr(art, location if location != "plugin" else "plugin") is not None:
                        self.add(
                            loc + (group, "artifacts", j, location),
                            f"artifact {art.name!r} uses an external {location} repository, "
                            "which the local engine cannot reach",
                            "pass it with `from`, `raw`, or an s3 `key` in the default repository",
                        )
                if art.s3 is not None and set(art.s3) - {"key"}:
                    self.add(
                        loc + (group, "artifacts", j, "s3"),
                        f"artifact {art.name!r} names its own S3 bucket/endpoint",
                        "use a key-only s3 location (`s3: {key: ...}`) in the default repository",
                    )
        if kind is TemplateKind.DAG:
            self.check_dag(template, loc)
        elif kind is TemplateKind.STEPS:
            self.check_steps(template, loc)
        elif kind is TemplateKind.RESOURCE:
            self.check_resource(template, loc)
        elif kind is TemplateKind.CONTAINER_SET:
            self.check_container_set(template, loc)
        self.check_leaf_placeholders(template, loc)

    # -- invocations -----------------------------------------------------------------------
    def check_invocation(self, inv: _Invocation, loc: tuple[Any, ...]) -> Template | None:
        if inv.template_ref is not None:
            self.add(
                loc + ("templateRef",),
                f"templateRef {inv.template_ref.name}/{inv.template_ref.template} needs a stored "
                "WorkflowTemplate, which the local engine does not have",
                "copy the template into spec.templates and use `template:`",
            )
            return None
        if inv.inline is not None:
            self.check_template(inv.inline, loc + ("inline",))
            return inv.inline
        if inv.template not in self.templates:
            self.add(
                loc + ("template",),
                f"{inv.name!r} calls template {inv.template!r}, which does not exist",
                f"use one of: {', '.join(self.templates)}",
            )
            return None
        for hook_name, hook in (inv.hooks or {}).items():
            if hook.template and hook.template not in self.templates:
                self.add(
                    loc + ("hooks", hook_name, "template"),
                    f"hook template {hook.template!r} does not exist",
                )
        if inv.on_exit and inv.on_exit not in self.templates:
            self.add(loc + ("onExit",), f"onExit template {inv.on_exit!r} does not exist")
        return self.templates[inv.template]

    def check_dag(self, template: Template, loc: tuple[Any, ...]) -> None:
        assert template.dag is not None
        tasks = template.dag.tasks
        names = [t.name for t in tasks]
        graph = nx.DiGraph()
        graph.add_nodes_from(names)
        by_name: dict[str, DAGTask] = {}
        for i, task in enumerate(tasks):
            tloc = loc + ("dag", "tasks", i)
            if task.name in by_name:
                self.add(
                    tloc + ("name",),
                    f"task name {task.name!r} is used twice in DAG {template.name!r}",
                )
            by_name[task.name] = task
            if task.name[:1].isdigit():
                self.add(
                    tloc + ("name",),
                    f"task name {task.name!r} starts with a digit",
                    "depends expressions cannot name it; rename the task",
                )
            self.check_invocation(task, tloc)
            if task.depends is not None and task.dependencies is not None:
                self.add(
                    tloc,
                    f"task {task.name!r} uses both depends and dependencies",
                    "keep only depends",
                )
                continue
            text = (
                task.depends
                if task.depends is not None
                else (dependencies_to_depends(task.dependencies) if task.dependencies else None)
            )
            if not text:
                continue
            field = "depends" if task.depends is not None else "dependencies"
            try:
                expr = parse_depends(text)
            except ExpressionError as exc:
                self.add(tloc + (field,), f"invalid depends: {exc}")
                continue
            for dep in sorted(expr.task_names()):
                if dep == task.name:
                    self.add(tloc + (field,), f"task {task.name!r} depends on itself")
                elif dep not in names:
                    self.add(
                        tloc + (field,),
                        f"task {task.name!r} depends on {dep!r}, which is not a task "
                        f"of DAG {template.name!r}",
                        f"tasks are: {', '.join(names)}",
                    )
                else:
                    graph.add_edge(dep, task.name)
        if template.dag.target and "{{" not in template.dag.target:
            for target in template.dag.target.split():
                if target not in names:
                    self.add(
                        loc + ("dag", "target"),
                        f"target {target!r} is not a task of DAG {template.name!r}",
                    )
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            cycle = None
        if cycle:
            path = " -> ".join([edge[0] for edge in cycle] + [cycle[0][0]])
            self.add(
                loc + ("dag", "tasks"),
                f"dependency cycle in DAG {template.name!r}: {path}",
                "remove one of these dependencies",
            )
            return
        for i, task in enumerate(tasks):
            # Only a task that reads `tasks.X` needs its ancestors; a BFS per task is O(n^2) on
            # a 10,000-task DAG.
            text = task.model_dump_json(exclude={"inline"})
            reads_tasks = "{{" in text and "tasks." in text
            ancestors = nx.ancestors(graph, task.name) if reads_tasks else set()
            self.check_call_placeholders(
                task,
                loc + ("dag", "tasks", i),
                template,
                "tasks",
                allowed=ancestors,
                siblings=by_name,
            )
        self.check_parent_outputs(template, loc, "tasks", set(names), by_name)

    def check_steps(self, template: Template, loc: tuple[Any, ...]) -> None:
        assert template.steps is not None
        earlier: dict[str, _Invocation] = {}
        for g, group in enumerate(template.steps):
            current: dict[str, _Invocation] = {}
            for s, step in enumerate(group):
                sloc = loc + ("steps", g, s)
                self.check_invocation(step, sloc)
                self.check_call_placeholders(
                    step, sloc, template, "steps", allowed=set(earlier), siblings=earlier
                )
                current[step.name] = step
            earlier.update(current)
        self.check_parent_outputs(template, loc, "steps", set(earlier), earlier)

    def check_container_set(self, template: Template, loc: tuple[Any, ...]) -> None:
        assert template.container_set is not None
        containers = template.container_set.containers
        names = [c.name or "" for c in containers]
        graph = nx.DiGraph()
        graph.add_nodes_from(names)
        for i, container in enumerate(containers):
            cloc = loc + ("containerSet", "containers", i)
            if not container.name:
                self.add(cloc, "every container of a containerSet needs a name")
            if names.count(container.name or "") > 1:
                self.add(cloc + ("name",), f"container name {container.name!r} is used twice")
            for dep in container.dependencies:
                if dep not in names:
                    self.add(
                        cloc + ("dependencies",),
                        f"container {container.name!r} depends on {dep!r}, "
                        f"which is not a container of {template.name!r}",
                        f"containers are: {', '.join(names)}",
                    )
                else:
                    graph.add_edge(dep, container.name or "")
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            return
        path = " -> ".join([edge[0] for edge in cycle] + [cycle[0][0]])
        self.add(
            loc + ("containerSet", "containers"),
            f"dependency cycle in containerSet {template.name!r}: {path}",
        )

    def check_resource(self, template: Template, loc: tuple[Any, ...]) -> None:
        import yaml

        assert template.resource is not None
        text = template.resource.manifest or ""
        cleaned = re.sub(r"\{\{.*?\}\}", "x", text)
        try:
            manifest = yaml.safe_load(cleaned)
        except yaml.YAMLError as exc:
            self.add(loc + ("resource", "manifest"), f"resource manifest is not valid YAML: {exc}")
            return
        if not isinstance(manifest, dict) or "kind" not in manifest:
            self.add(
                loc + ("resource", "manifest"),
                "resource manifest must be a mapping with apiVersion and kind",
            )
            return
        kind = f"{manifest.get('apiVersion')}/{manifest.get('kind')}"
        if self.known_kinds is not None and kind not in self.known_kinds:
            self.add(
                loc + ("resource", "manifest"),
                f"no local controller for {kind}",
                f"the embedded engine runs: {', '.join(sorted(self.known_kinds)) or 'none'}",
            )

    # -- placeholders ----------------------------------------------------------------------
    def _refs(self, value: Any, loc: tuple[Any, ...]) -> Iterable[tuple[str, tuple[Any, ...]]]:
        if isinstance(value, str):
            for ph in find_placeholders(value):
                if not ph.is_expression:
                    yield ph.inner, loc
        elif isinstance(value, dict):
            for key, item in value.items():
                yield from self._refs(item, loc + (key,))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                yield from self._refs(item, loc + (i,))

    def _common(self, ref: str, template: Template, loc: tuple[Any, ...]) -> bool | None:
        """True: valid; False: reported; None: not a common name."""
        parts = ref.split(".")
        if parts[0] == "workflow":
            if len(parts) >= 3 and parts[1] == "parameters" and parts[2] != "json":
                name = ".".join(parts[2:])
                if name not in self.declared_params:
                    self.add(
                        loc,
                        f"{{{{{ref}}}}} names workflow parameter {name!r}, which is not declared",
                        "declare it in spec.arguments.parameters",
                    )
                    return False
            elif len(parts) >= 2 and parts[1] not in _WORKFLOW_VARS | {
                "parameters",
                "labels",
                "annotations",
                "outputs",
            }:
                self.add(
                    loc,
                    f"unknown variable {{{{{ref}}}}}",
                    f"workflow variables are: {', '.join(sorted(_WORKFLOW_VARS))}",
                )
                return False
            return True
        if parts[0] in ("cronworkflow", "lastRetry") or ref in _POD_VARS:
            return True
        if parts[0] == "inputs" and len(parts) >= 3:
            group = (
                template.inputs.parameters
                if parts[1] == "parameters"
                else template.inputs.artifacts
            )
            if parts[1] in ("parameters", "artifacts"):
                if parts[2] not in {p.name for p in group}:
                    self.add(
                        loc,
                        f"{{{{{ref}}}}} refers to an input {template.name!r} does not declare",
                        f"declare it in inputs.{parts[1]}",
                    )
                    return False
                return True
        if parts[0] == "outputs" and len(parts) == 4 and parts[3] == "path":
            group = (
                template.outputs.parameters
                if parts[1] == "parameters"
                else template.outputs.artifacts
            )
            if parts[2] not in {p.name for p in group}:
                self.add(
                    loc,
                    f"{{{{{ref}}}}} refers to an output {template.name!r} does not declare",
                    f"declare it in outputs.{parts[1]}",
                )
                return False
            return True
        return None

    def check_leaf_placeholders(self, template: Template, loc: tuple[Any, ...]) -> None:
        body = template.dump()
        ignored = type(template).k8s_only_aliases()
        for key in (
            "dag",
            "steps",
            "inputs",
            *ignored,
        ):  # Kubernetes-only fields are not applied here
            body.pop(key, None)
        if template.kind in (TemplateKind.DAG, TemplateKind.STEPS):
            body.pop("outputs", None)  # checked against the children by check_parent_outputs
        for ref, where in self._refs(body, loc):
            if self._common(ref, template, where) is None:
                if ref.split(".")[0] in ("steps", "tasks", "item"):
                    continue  # templates called from a loop or a retry may see these at run time
                self.add(
                    where,
                    f"unknown variable {{{{{ref}}}}}",
                    "check the spelling against docs/variables",
                )

    def check_call_placeholders(
        self,
        inv: _Invocation,
        loc: tuple[Any, ...],
        template: Template,
        prefix: str,
        *,
        allowed: set[str],
        siblings: Mapping[str, _Invocation],
    ) -> None:
        body = inv.model_dump(
            by_alias=True, exclude_none=True, mode="json", exclude={"inline", "name"}
        )
        looped = any(
            getattr(inv, f) is not None for f in ("with_items", "with_param", "with_sequence")
        )
        for ref, where in self._refs(body, loc):
            if "hooks" in where[len(loc) :] or "onExit" in where[len(loc) :]:
                # An exit hook runs after its own step/task: it may read that node's outputs.
                allowed, siblings = allowed | {inv.name}, {**siblings, inv.name: inv}
            common = self._common(ref, template, where)
            if common is not None:
                continue
            parts = ref.split(".")
            if parts[0] == "item":
                if not looped:
                    self.add(
                        where,
                        f"{{{{{ref}}}}} is used but {inv.name!r} has no withItems/withParam/withSequence",
                    )
                continue
            if parts[0] == prefix and len(parts) >= 2:
                self.check_sibling_ref(ref, parts, where, inv.name, allowed, siblings, prefix)
                continue
            if parts[0] in ("tasks", "steps"):
                self.add(
                    where,
                    f"{{{{{ref}}}}}: use {prefix}.X in a {'DAG' if prefix == 'tasks' else 'steps'} template",
                )
                continue
            self.add(
                where,
                f"unknown variable {{{{{ref}}}}}",
                "check the spelling against docs/variables",
            )

    def check_sibling_ref(
        self,
        ref: str,
        parts: list[str],
        where: tuple[Any, ...],
        user: str,
        allowed: set[str],
        siblings: Mapping[str, _Invocation],
        prefix: str,
    ) -> None:
        name = parts[1]
        if name == "name" and len(parts) == 2:
            return
        kind = "task" if prefix == "tasks" else "step"
        if name not in siblings and name not in allowed:
            self.add(
                where,
                f"{{{{{ref}}}}} refers to {kind} {name!r}, which does not exist"
                + (" in an earlier step group" if prefix == "steps" else ""),
            )
            return
        if name not in allowed:
            self.add(
                where,
                f"{kind} {user!r} uses {{{{{ref}}}}} but does not depend on {name!r}",
                f"add {name} to its depends"
                if prefix == "tasks"
                else "move it to a later step group",
            )
            return
        self._check_output_name(ref, parts, where, siblings.get(name), kind)

    def _check_output_name(
        self, ref: str, parts: list[str], where: tuple[Any, ...], inv: _Invocation | None, kind: str
    ) -> None:
        rest = parts[2:]
        if len(rest) == 1 and rest[0] in _NODE_ATTRS:
            return
        if (
            len(rest) == 2
            and rest[0] == "outputs"
            and rest[1] in ("result", "exitCode", "parameters", "artifacts")
        ):
            return
        if len(rest) != 3 or rest[0] != "outputs" or rest[1] not in ("parameters", "artifacts"):
            self.add(
                where,
                f"unknown variable {{{{{ref}}}}}",
                f"{kind} outputs are outputs.result, outputs.parameters.NAME, outputs.artifacts.NAME",
            )
            return
        if inv is None or inv.template_ref is not None:
            return
        target = inv.inline or self.templates.get(inv.template or "")
        if target is None:
            return
        group = target.outputs.parameters if rest[1] == "parameters" else target.outputs.artifacts
        if rest[2] not in {p.name for p in group}:
            self.add(
                where,
                f"{{{{{ref}}}}}: template {target.name!r} declares no output {rest[1][:-1]} "
                f"{rest[2]!r}",
                f"declared: {', '.join(p.name for p in group) or 'none'}",
            )

    def check_parent_outputs(
        self,
        template: Template,
        loc: tuple[Any, ...],
        prefix: str,
        names: set[str],
        siblings: Mapping[str, _Invocation],
    ) -> None:
        body = template.outputs.dump()
        for ref, where in self._refs(body, loc + ("outputs",)):
            if self._common(ref, template, where) is not None:
                continue
            parts = ref.split(".")
            if parts[0] == prefix and len(parts) >= 2:
                self.check_sibling_ref(
                    ref, parts, where, template.name or "", names, siblings, prefix
                )
            else:
                self.add(where, f"unknown variable {{{{{ref}}}}}")


def validate_workflow(
    wf: Workflow, positions: Positions | None = None, known_kinds: set[str] | None = None
) -> list[Problem]:
    """Every problem that would stop `wf` from running; empty when it is runnable."""
    return _Checker(wf, positions or {}, known_kinds).run()


def _backoff(loc: tuple[Any, ...], strategy: Any) -> list[tuple[tuple[Any, ...], Any]]:
    """The durations of a retryStrategy's backoff, with their places."""
    backoff = strategy.backoff if strategy is not None else None
    if backoff is None:
        return []
    return [
        (loc + ("backoff", key), getattr(backoff, attr))
        for attr, key in (("duration", "duration"), ("max_duration", "maxDuration"), ("cap", "cap"))
    ]
