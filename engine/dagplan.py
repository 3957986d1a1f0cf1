"""A DAG template's dependency structure, computed once per DAG node and reused every reconcile."""

from __future__ import annotations

from dataclasses import dataclass

from engine.expressions import DependsExpr, dependencies_to_depends, parse_depends
from engine.spec import DAGTask, DAGTemplate


@dataclass(frozen=True)
class DagPlan:
    tasks: dict[str, DAGTask]
    deps: dict[str, tuple[str, ...]]  # task -> the tasks its depends/dependencies name
    depends: dict[str, DependsExpr]  # only tasks that have a condition
    targets: tuple[str, ...]  # dag.target, or every task nobody depends on
    order: tuple[str, ...]  # the targets and their ancestors, dependencies first
    fail_fast: bool
    dependents: dict[str, tuple[str, ...]]  # within `order`: task -> the tasks waiting on it


def plan_dag(dag: DAGTemplate) -> DagPlan:
    """Validated specs only: unknown tasks and cycles were rejected by `engine.validate`."""
    tasks = {t.name: t for t in dag.tasks}
    deps: dict[str, tuple[str, ...]] = {}
    depends: dict[str, DependsExpr] = {}
    for task in dag.tasks:
        text = task.depends
        if text is None and task.dependencies:
            text = dependencies_to_depends(task.dependencies)
        if text:
            expr = parse_depends(text)
            depends[task.name] = expr
            deps[task.name] = tuple(sorted(expr.task_names()))
        else:
            deps[task.name] = ()
    depended = {d for ds in deps.values() for d in ds}
    if dag.target:
        targets = tuple(t for t in dag.target.split() if t)
    else:
        targets = tuple(t.name for t in dag.tasks if t.name not in depended)
    order: list[str] = []
    seen: set[str] = set()
    for target in targets:
        stack = [(target, False)]
        while stack:
            name, expanded = stack.pop()
            if expanded:
                order.append(name)
                continue
            if name in seen:
                continue
            seen.add(name)
            stack.append((name, True))
            stack.extend((d, False) for d in reversed(deps[name]) if d not in seen)
    closure = set(order)
    dependents: dict[str, list[str]] = {name: [] for name in order}
    for name in order:
        for dep in deps[name]:
            if dep in closure:
                dependents[dep].append(name)
    return DagPlan(
        tasks,
        deps,
        depends,
        targets,
        tuple(order),
        dag.fail_fast is not False,
        {k: tuple(v) for k, v in dependents.items()},
    )
