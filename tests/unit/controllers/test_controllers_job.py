"""The batch/v1 Job controller through the real engine: pods as processes, Job-shaped status,
conditions, jsonPath outputs, retries (backoffLimit), deadlines, stops and manifest errors."""

from __future__ import annotations

import re
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.cli import load_and_validate
from engine.errors import SpecError
from engine.executor import Engine
from engine.phases import NodePhase, RunPhase
from engine.settings import Settings
from engine.state import NodeRecord, RunState

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "k8s-job.yaml"
PY = sys.executable


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """An Engine built as the CLI builds it (`_Context.engine()`), with its state in tmp_path."""
    from artifact_store import open_store
    from engine.metadata.store import MetadataStore
    from engine.runners.local import LocalRunner, LocalRunnerSettings

    settings = Settings(home=tmp_path / "home")
    runner = LocalRunner(
        LocalRunnerSettings(
            isolation=settings.isolation,
            kill_grace_seconds=2.0,
            passthrough_paths=(str(tmp_path / "shared"),),
        )
    )
    built = Engine(
        MetadataStore(settings.database_url),
        open_store(settings.artifact_location),
        runner,
        work_root=settings.work_root,
        poll_interval=0.05,
    )
    try:
        yield built
    finally:
        runner.close()


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    """A host directory the steps can read (the sandbox keeps it visible)."""
    path = tmp_path / "shared"
    path.mkdir()
    return path


def run(
    engine: Engine, path: Path, on_change: Callable[[RunState], None] | None = None
) -> RunState:
    workflow, source = load_and_validate(str(path))
    record = engine.submit(workflow, source=source)
    engine.execute(record.id, on_change)
    return engine.metadata.load_state(record.id)


def job_workflow(
    tmp_path: Path,
    job_spec: dict[str, Any],
    *,
    success: str | None = "status.succeeded > 0",
    failure: str | None = "status.failed > 2",
    outputs: list[dict[str, Any]] | None = None,
    action: str = "create",
    name: str = "flaky",
) -> Path:
    """A one-step workflow whose resource template creates a Job with `job_spec`."""
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": job_spec}
    resource: dict[str, Any] = {"action": action, "manifest": yaml.safe_dump(job, sort_keys=False)}
    if success:
        resource["successCondition"] = success
    if failure:
        resource["failureCondition"] = failure
    template: dict[str, Any] = {"name": "job", "resource": resource}
    if outputs:
        template["outputs"] = {"parameters": outputs}
    workflow = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "job-test-"},
        "spec": {"entrypoint": "job", "templates": [template]},
    }
    path = tmp_path / "wf.yaml"
    path.write_text(yaml.safe_dump(workflow, sort_keys=False))
    return path


def job_with(*containers: dict[str, Any], **job_spec: Any) -> dict[str, Any]:
    """A Job spec whose pod runs `containers`, plus other Job spec fields."""
    return {
        **job_spec,
        "template": {"spec": {"restartPolicy": "Never", "containers": list(containers)}},
    }


def container(name: str, code: str) -> dict[str, Any]:
    return {"name": name, "image": "python:3.11", "command": [PY, "-c", code]}


def json_path_output(name: str, path: str, default: str | None = None) -> dict[str, Any]:
    value_from: dict[str, Any] = {"jsonPath": path}
    if default is not None:
        value_from["default"] = default
    return {"name": name, "valueFrom": value_from}


def step(state: RunState, template: str) -> NodeRecord:
    return next(n for n in state.nodes.values() if n.template_name == template)


def pods_of(state: RunState, node: NodeRecord) -> list[NodeRecord]:
    return [state.nodes[c] for c in node.children]


# -- the example ----------------------------------------------------------------------------------
def test_example_runs_the_job_and_passes_its_name_on(engine: Engine) -> None:
    state = run(engine, EXAMPLE)
    assert state.run.phase is RunPhase.SUCCEEDED, state.run.message
    train = step(state, "train-job")
    job = train.extra["resource"]
    name = job["metadata"]["name"]
    assert re.fullmatch(r"train-[bcdfghjklmnpqrstvwxz2456789]{5}", name)
    assert train.phase is NodePhase.SUCCEEDED
    assert train.outputs["parameters"] == {"job-name": name, "succeeded": "1"}

    status = job["status"]
    assert status["succeeded"] == 1 and "failed" not in status and "active" not in status
    for stamp in ("startTime", "completionTime"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", status[stamp])
    [complete] = status["conditions"]
    assert complete["type"] == "Complete" and complete["status"] == "True"
    assert job["metadata"]["namespace"] == "default"
    assert job["metadata"]["ownerReferences"][0]["name"] == state.run.name  # setOwnerReference

    [pod] = pods_of(state, train)
    assert pod.type.value == "Pod" and pod.phase is NodePhase.SUCCEEDED and pod.exit_code == 0
    assert re.fullmatch(rf"{name}-[a-z0-9]{{5}}", pod.display_name)
    report = step(state, "report")
    assert report.outputs["result"] == f"Job {name} finished with 1 succeeded pod(s)"

    logs = engine.metadata.logs(state.run.id, pod.id)
    assert [rec.stream for rec in logs if rec.size] == ["stdout"]
    with engine.artifacts.open(engine.artifacts.key_from_uri(logs[0].uri)) as handle:
        assert handle.read().decode() == "training done: loss=0.01\n"


def test_failing_job_retries_backoff_limit_times_then_fails(engine: Engine, tmp_path: Path) -> None:
    spec = job_with(container("main", "import sys; print('boom'); sys.exit(1)"), backoffLimit=1)
    state = run(
        engine,
        job_workflow(tmp_path, spec, outputs=[json_path_output("failed", "{.status.failed}")]),
    )
    assert state.run.phase is RunPhase.FAILED
    node = step(state, "job")
    assert node.phase is NodePhase.FAILED
    assert node.message == "Job has reached the specified backoff limit"
    status = node.extra["resource"]["status"]
    assert status["failed"] == 2 and "succeeded" not in status and "completionTime" not in status
    [failed] = status["conditions"]
    assert (failed["type"], failed["status"], failed["reason"]) == (
        "Failed",
        "True",
        "BackoffLimitExceeded",
    )
    assert node.outputs["parameters"] == {"failed": "2"}  # what resolves is still reported
    pods = pods_of(state, node)
    assert [p.phase for p in pods] == [NodePhase.FAILED, NodePhase.FAILED]
    assert all(p.exit_code == 1 and p.message == "Error (exit code 1)" for p in pods)
    assert len({p.display_name for p in pods}) == 2


def test_failure_condition_wins_and_names_itself(engine: Engine, tmp_path: Path) -> None:
    spec = job_with(container("main", "raise SystemExit(3)"), backoffLimit=5)
    state = run(engine, job_workflow(tmp_path, spec, failure="status.failed > 1"))
    node = step(state, "job")
    assert node.phase is NodePhase.FAILED
    assert node.message == "failureCondition 'status.failed > 1' matched"
    assert node.extra["resource"]["status"]["failed"] == 2  # stopped before the backoff limit
    assert "conditions" not in node.extra["resource"]["status"]


def test_flaky_pod_is_replaced_until_it_succeeds(engine: Engine, shared: Path) -> None:
    marker = shared / "fixed"
    code = f"import os, sys; sys.exit(0 if os.path.exists({str(marker)!r}) else 1)"
    spec = job_with(container("main", code), backoffLimit=5)

    def fix_after_first_failure(state: RunState) -> None:
        if any(n.type.value == "Pod" and n.phase is NodePhase.FAILED for n in state.nodes.values()):
            marker.touch()

    state = run(
        engine, job_workflow(shared, spec, success=None, failure=None), fix_after_first_failure
    )
    node = step(state, "job")
    assert node.phase is NodePhase.SUCCEEDED, node.message
    status = node.extra["resource"]["status"]
    failed = status["failed"]  # 1, or 2 when the replacement started before the fix
    assert failed in (1, 2) and status["succeeded"] == 1
    assert (
        status["conditions"][0]["type"] == "Complete"
    )  # no conditions given: the Job's own verdict
    assert [p.phase for p in pods_of(state, node)] == [NodePhase.FAILED] * failed + [
        NodePhase.SUCCEEDED
    ]


def test_pod_with_several_containers_succeeds_only_when_all_do(
    engine: Engine, tmp_path: Path
) -> None:
    spec = job_with(
        container("main", "print('main ok')"),
        container("side", "import sys; print('side bad'); sys.exit(2)"),
        backoffLimit=0,
    )
    state = run(engine, job_workflow(tmp_path, spec, success=None, failure=None))
    node = step(state, "job")
    assert node.phase is NodePhase.FAILED
    [pod] = pods_of(state, node)
    assert pod.phase is NodePhase.FAILED and pod.exit_code == 2
    assert pod.message == "container side: Error (exit code 2)"
    logs = engine.metadata.logs(state.run.id, pod.id)
    assert sorted(r.uri.split("/logs/")[1] for r in logs if r.size) == [
        "main/stdout.log",
        "side/stdout.log",
    ]


def test_completions_and_parallelism(engine: Engine, tmp_path: Path) -> None:
    spec = job_with(container("main", "print('x')"), completions=3, parallelism=2)
    state = run(engine, job_workflow(tmp_path, spec, success="status.succeeded > 2", failure=None))
    node = step(state, "job")
    assert node.phase is NodePhase.SUCCEEDED
    assert node.extra["resource"]["status"]["succeeded"] == 3
    assert len(pods_of(state, node)) == 3


def test_active_deadline_fails_the_job(engine: Engine, tmp_path: Path) -> None:
    spec = job_with(container("main", "import time; time.sleep(30)"), activeDeadlineSeconds=1)
    state = run(engine, job_workflow(tmp_path, spec, success=None, failure=None))
    node = step(state, "job")
    assert node.phase is NodePhase.FAILED
    assert node.message == "Job was active longer than specified deadline"
    status = node.extra["resource"]["status"]
    assert status["conditions"][0]["reason"] == "DeadlineExceeded"
    assert status["failed"] == 1 and "active" not in status
    [pod] = pods_of(state, node)
    assert pod.phase is NodePhase.FAILED


def test_success_condition_met_early_stops_the_rest(engine: Engine, tmp_path: Path) -> None:
    """A condition that holds while pods still run ends the step; its processes do not outlive it."""
    spec = job_with(container("main", "import time; time.sleep(30)"))
    state = run(engine, job_workflow(tmp_path, spec, success="status.active > 0", failure=None))
    node = step(state, "job")
    assert node.phase is NodePhase.SUCCEEDED
    [pod] = pods_of(state, node)
    assert pod.phase is NodePhase.FAILED and pod.finished_at is not None


def test_stop_cancels_the_jobs_processes(engine: Engine, tmp_path: Path) -> None:
    spec = job_with(container("main", "import time; time.sleep(30)"))
    stopped: list[str] = []

    def stop_once_running(state: RunState) -> None:
        node = next((n for n in state.nodes.values() if n.template_name == "job"), None)
        if stopped or node is None or not node.children or node.phase is not NodePhase.RUNNING:
            return
        stopped.append(node.id)
        engine.controllers.cancel(state, node, "Stopped by user", engine._resource_context(state))

    state = run(engine, job_workflow(tmp_path, spec), on_change=stop_once_running)
    node = state.nodes[stopped[0]]
    assert node.phase is NodePhase.FAILED and node.message == "Stopped by user"
    [pod] = pods_of(state, node)
    assert pod.phase is NodePhase.FAILED and pod.message == "Stopped by user"
    assert node.finished_at is not None and node.finished_at - node.started_at < 10


# -- errors -------------------------------------------------------------------------------------
_SLEEP = {"name": "a", "image": "busybox", "command": ["true"]}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"template": {"spec": {"containers": [_SLEEP]}}},
            'spec.template.spec.restartPolicy: Required value: supported values: "OnFailure", "Never"',
        ),
        (
            {"template": {"spec": {"restartPolicy": "Always", "containers": [_SLEEP]}}},
            "spec.template.spec.restartPolicy: Unsupported value: 'Always'",
        ),
        (job_with(), "spec.template.spec.containers: Required value"),
        (
            job_with({"name": "a", "image": "acme/trainer:1"}),
            (
                "spec.template.spec.containers[0] (a): image acme/trainer:1 has no known entrypoint; give the "
                "template a `command`"
            ),
        ),
        (
            job_with({"image": "busybox", "command": ["true"]}),
            "spec.template.spec.containers[0].name: Required value",
        ),
        (
            job_with({"name": "a", "command": ["true"]}),
            "spec.template.spec.containers[0].image: Required value",
        ),
        (
            job_with({"name": "a", "image": "busybox", "comand": ["true"]}),
            "spec.template.spec.containers[0].comand: Extra inputs are not permitted",
        ),
        (job_with(_SLEEP, _SLEEP), "spec.template.spec.containers[1].name: Duplicate value: 'a'"),
        (job_with(_SLEEP, completionMode="Indexed"), "spec.completionMode is not supported"),
        (job_with(_SLEEP, backoffLimit=-1), "spec.backoffLimit: Invalid value: -1"),
        ({"backoffLimit": 1}, "spec.template.spec: Required value"),
    ],
)
def test_bad_job_manifests_are_errors_before_anything_runs(
    engine: Engine, tmp_path: Path, spec: str, message: str
) -> None:
    state = run(engine, job_workflow(tmp_path, spec))
    node = step(state, "job")
    assert node.phase is NodePhase.ERROR
    assert message in node.message
    assert node.children == []


def test_jq_filter_outputs_are_a_clear_error(engine: Engine, tmp_path: Path) -> None:
    outputs = [{"name": "n", "valueFrom": {"jqFilter": ".status.succeeded"}}]
    state = run(
        engine, job_workflow(tmp_path, job_with(container("main", "pass")), outputs=outputs)
    )
    node = step(state, "job")
    assert node.phase is NodePhase.ERROR
    assert "jqFilter outputs are not supported locally; use jsonPath" in node.message
    assert node.children == []


def test_missing_json_path_output_uses_default_or_errors(engine: Engine, tmp_path: Path) -> None:
    outputs = [
        json_path_output("failed", "{.status.failed}", default="0"),
        json_path_output("typo", "{.status.sucseeded}"),
    ]
    state = run(
        engine, job_workflow(tmp_path, job_with(container("main", "pass")), outputs=outputs)
    )
    node = step(state, "job")
    assert node.phase is NodePhase.ERROR
    assert "output parameter 'typo': jsonPath '{.status.sucseeded}' selects nothing" in node.message
    assert node.outputs["parameters"] == {"failed": "0"}


@pytest.mark.parametrize("action", ["get", "delete", "patch", "replace"])
def test_actions_other_than_create_are_named_errors(
    engine: Engine, tmp_path: Path, action: str
) -> None:
    path = job_workflow(tmp_path, job_with(container("main", "pass")), action=action)
    node = step(run(engine, path), "job")
    assert node.phase is NodePhase.ERROR
    assert f"resource action '{action}' is not supported" in node.message


def test_bad_condition_is_an_error_naming_it(engine: Engine, tmp_path: Path) -> None:
    path = job_workflow(
        tmp_path, job_with(container("main", "pass")), success="status.succeeded > many"
    )
    node = step(run(engine, path), "job")
    assert node.phase is NodePhase.ERROR
    assert node.message.startswith(
        "successCondition: condition 'status.succeeded > many' does not parse"
    )


def test_a_name_already_created_in_the_run_is_refused(engine: Engine, tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("generateName: train-", "name: train")
    text = text.replace(
        "    - - name: report\n",
        "    - - name: again\n        template: train-job\n    - - name: report\n",
    )
    path = tmp_path / "twice.yaml"
    path.write_text(text)
    state = run(engine, path)
    assert state.run.phase is RunPhase.ERROR or state.run.phase is RunPhase.FAILED
    again = next(n for n in state.nodes.values() if n.display_name == "again")
    assert again.phase is NodePhase.ERROR
    assert again.message.startswith("Job default/train already exists")


# -- validation ---------------------------------------------------------------------------------
def test_kind_without_local_controller_is_a_validation_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "pytorch.yaml"
    path.write_text(
        textwrap.dedent("""\
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata:
          generateName: pt-
        spec:
          entrypoint: train
          templates:
          - name: train
            resource:
              action: create
              manifest: |
                apiVersion: kubeflow.org/v1
                kind: PyTorchJob
                metadata:
                  generateName: mnist-
                spec: {}
        """)
    )
    with pytest.raises(SpecError) as info:
        load_and_validate(str(path))
    [problem] = info.value.problems
    assert "PyTorchJob" in problem.message and "kubeflow.org/v1" in problem.message
    assert problem.path == "spec.templates[0].resource.manifest"
    assert "batch/v1/Job" in problem.hint


def test_default_registry_has_the_job_controller() -> None:
    from engine.controllers import default_registry

    registry = default_registry()
    assert "batch/v1/Job" in registry.kinds()  # plus kinds from kubepipe.controllers entry points
    assert registry.lookup("batch/v1", "Job") is not None
    assert registry.lookup("kubeflow.org/v1", "PyTorchJob") is None
