"""DAG semantics as Argo's operator implements them (dag.go), through the real engine."""

from __future__ import annotations

from engine.runners.fake import FakeOutcome

HEADER = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  entrypoint: main
  templates:
  - name: echo
    inputs: {parameters: [{name: word}]}
    container: {image: busybox, command: [echo, "{{inputs.parameters.word}}"]}
"""


def dag(tasks: str, extra: str = "") -> str:
    return (
        HEADER
        + f"""
  - name: main
{extra}    dag:
      tasks:
{tasks}
"""
    )


def task(name: str, depends: str | None = None, extra: str = "") -> str:
    text = f"      - name: {name}\n        template: echo\n"
    text += f"        arguments: {{parameters: [{{name: word, value: {name}}}]}}\n"
    if depends:
        text += f'        depends: "{depends}"\n'
    return text + extra


FAIL = FakeOutcome(exit_code=1)


def test_diamond_runs_in_dependency_order(run_yaml) -> None:
    out = run_yaml(dag(task("A") + task("B", "A") + task("C", "A") + task("D", "B && C")))
    assert out.run.phase.value == "Succeeded"
    order = [r.argv[-1] for r in out.runner.launched]
    assert order[0] == "A" and order[-1] == "D" and set(order[1:3]) == {"B", "C"}


def test_failed_task_omits_dependents_and_fails_the_dag(run_yaml) -> None:
    from engine_support import script

    out = run_yaml(dag(task("A") + task("B", "A") + task("C")), script({"A": FAIL}))
    assert out.phases()["A"] == "Failed"
    assert out.phases()["B"] == "Omitted"
    assert out.node("B").type.value == "Skipped"
    assert out.phases()["C"] == "Succeeded"  # failFast does not stop independent branches
    assert out.run.phase.value == "Failed"
    assert "failed" in out.run.message


def test_failed_dependency_runs_a_failure_handler_but_dag_still_fails(run_yaml) -> None:
    from engine_support import script

    out = run_yaml(
        dag(task("A") + task("cleanup", "A.Failed") + task("next", "A")), script({"A": FAIL})
    )
    assert out.phases()["cleanup"] == "Succeeded"
    assert out.phases()["next"] == "Omitted"
    # `next` is an Omitted leaf below the failed A: its branch phase is Failed.
    assert out.run.phase.value == "Failed"


def test_handled_failure_succeeds_when_every_leaf_below_it_completes(run_yaml) -> None:
    from engine_support import script

    out = run_yaml(dag(task("A") + task("cleanup", "A.Failed || A.Succeeded")), script({"A": FAIL}))
    assert out.phases() == {"wf": "Succeeded", "A": "Failed", "cleanup": "Succeeded"}
    assert out.run.phase.value == "Succeeded"


def test_continue_on_failed_leaf_does_not_fail_the_dag(run_yaml) -> None:
    from engine_support import script

    out = run_yaml(
        dag(task("A") + task("B", "A", "        continueOn: {failed: true}\n")), script({"B": FAIL})
    )
    assert out.phases()["B"] == "Failed"
    assert out.run.phase.value == "Succeeded"


def test_legacy_dependencies_honour_continue_on_of_the_dependency(run_yaml) -> None:
    from engine_support import script

    tasks = (
        "      - {name: A, template: echo, continueOn: {failed: true}, arguments: {parameters: [{name: word, value: A}]}}\n"
        "      - {name: B, template: echo, dependencies: [A], arguments: {parameters: [{name: word, value: B}]}}\n"
    )
    out = run_yaml(dag(tasks), script({"A": FAIL}))
    assert out.phases()["B"] == "Succeeded"
    assert out.run.phase.value == "Succeeded"


def test_target_runs_only_the_targets_and_their_ancestors(run_yaml) -> None:
    text = dag(task("A") + task("B", "A") + task("C") + task("D", "C")).replace(
        "    dag:\n", "    dag:\n      target: B\n"
    )
    out = run_yaml(text)
    assert sorted(r.argv[-1] for r in out.runner.launched) == ["A", "B"]
    assert out.run.phase.value == "Succeeded"


def test_fail_fast_false_still_fails_after_all_targets_finish(run_yaml) -> None:
    from engine_support import script

    text = dag(task("A") + task("B")).replace("    dag:\n", "    dag:\n      failFast: false\n")
    out = run_yaml(text, script({"A": FAIL}))
    assert out.phases()["B"] == "Succeeded"
    assert out.run.phase.value == "Failed"


def test_when_false_skips_and_dependents_still_run(run_yaml) -> None:
    out = run_yaml(dag(task("A", extra='        when: "1 == 2"\n') + task("B", "A")))
    assert out.phases()["A"] == "Skipped"
    assert "evaluated false" in out.node("A").message
    assert out.phases()["B"] == "Succeeded"  # a bare `A` accepts A.Skipped
    assert out.run.phase.value == "Succeeded"


def test_error_in_when_is_an_error_node(run_yaml) -> None:
    out = run_yaml(dag(task("A", extra='        when: "1 < hello"\n')))
    assert out.phases()["A"] == "Error"
    assert "when" in out.node("A").message
    assert out.run.phase.value == "Error"


def test_any_succeeded_and_all_failed_on_fan_out(run_yaml) -> None:
    from engine_support import script

    tasks = (
        "      - name: A\n        template: echo\n        withItems: [x, y]\n"
        '        arguments: {parameters: [{name: word, value: "{{item}}"}]}\n'
        + task("some", "A.AnySucceeded")
        + task("none", "A.AllFailed")
    )
    text = dag(tasks + "        continueOn: {failed: true}\n")
    out = run_yaml(text, script({"x": FAIL}))
    assert out.phases()["A"] == "Failed"
    assert out.phases()["some"] == "Succeeded"
    assert out.phases()["none"] == "Omitted"


def test_fan_out_names_and_aggregated_results(run_yaml) -> None:
    tasks = (
        '      - name: gen\n        template: echo\n        arguments: {parameters: [{name: word, value: \'["a", {"k": 1}]\'}]}\n'
        "      - name: each\n        template: echo\n        depends: gen\n"
        '        withParam: "{{tasks.gen.outputs.result}}"\n'
        '        arguments: {parameters: [{name: word, value: "{{item}}"}]}\n'
        "      - name: sum\n        template: echo\n        depends: each\n"
        '        arguments: {parameters: [{name: word, value: "{{tasks.each.outputs.result}}"}]}\n'
    )
    out = run_yaml(dag(tasks))
    assert out.phases()["each(0:a)"] == "Succeeded"
    assert out.phases()["each(1:k:1)"] == "Succeeded"
    assert out.node("each").type.value == "TaskGroup"
    assert out.node("sum").outputs["result"] == '["a",{"k":1}]'


def test_with_param_that_is_not_a_list_is_an_error(run_yaml) -> None:
    tasks = (
        "      - name: gen\n        template: echo\n        arguments: {parameters: [{name: word, value: 'not json'}]}\n"
        "      - name: each\n        template: echo\n        depends: gen\n"
        '        withParam: "{{tasks.gen.outputs.result}}"\n'
        '        arguments: {parameters: [{name: word, value: "{{item}}"}]}\n'
    )
    out = run_yaml(dag(tasks))
    assert out.phases()["each"] == "Error"
    assert "withParam value could not be parsed as a JSON list" in out.node("each").message
    assert out.run.phase.value == "Error"


def test_empty_loop_is_skipped(run_yaml) -> None:
    tasks = (
        "      - name: each\n        template: echo\n        withItems: []\n"
        '        arguments: {parameters: [{name: word, value: "{{item}}"}]}\n'
        + task("after", "each")
    )
    out = run_yaml(dag(tasks))
    assert out.phases()["each"] == "Skipped"
    assert out.node("each").message == "Skipped, empty params"
    assert out.phases()["after"] == "Succeeded"


def test_template_parallelism_caps_concurrent_children(run_yaml) -> None:
    tasks = (
        '      - name: each\n        template: echo\n        withSequence: {count: "6"}\n'
        '        arguments: {parameters: [{name: word, value: "{{item}}"}]}\n'
    )
    out = run_yaml(
        dag(tasks, "    parallelism: 2\n"), lambda r: FakeOutcome(stdout="x", running_polls=2)
    )
    assert out.run.phase.value == "Succeeded"
    assert max_concurrent(out) <= 2


def max_concurrent(out) -> int:
    events = sorted(out.metadata.node_events(out.run.id), key=lambda e: e.at)
    pods = {n.id for n in out.state.nodes.values() if n.type.value == "Pod"}
    running, peak = 0, 0
    for e in events:
        if e.node_id not in pods:
            continue
        if e.to_phase.value == "Running":
            running += 1
        elif e.from_phase is not None and e.from_phase.value == "Running":
            running -= 1
        peak = max(peak, running)
    return peak


def test_an_engine_bug_ends_the_run_in_error_instead_of_leaving_it_running(tmp_path) -> None:
    import pytest

    from artifact_store import LocalArtifactStore
    from engine.executor import Engine
    from engine.loader import load_manifest
    from engine.metadata.store import MetadataStore
    from engine.runners.fake import FakeRunner

    class BrokenRunner(FakeRunner):
        def poll(self, handle):
            raise RuntimeError("runner exploded")

    metadata = MetadataStore(f"sqlite:///{tmp_path / 'kp.db'}")
    engine = Engine(
        metadata, LocalArtifactStore(tmp_path / "a"), BrokenRunner(), work_root=tmp_path / "w"
    )
    manifest, _, _ = load_manifest(dag(task("A")))
    record = engine.submit(manifest)
    with pytest.raises(RuntimeError, match="runner exploded"):
        engine.execute(record.id)
    stored = metadata.resolve_run(record.id)
    assert stored.phase.value == "Error"
    assert "internal engine error: RuntimeError: runner exploded" in stored.message
