"""Properties over random DAGs run through the real engine with a scripted runner."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artifact_store import LocalArtifactStore
from engine.executor import Engine
from engine.loader import load_manifest
from engine.metadata.store import MetadataStore
from engine.runners.fake import FakeOutcome, FakeRunner
from engine.validate import validate_workflow


@st.composite
def dags(draw: st.DrawFn) -> tuple[dict[str, list[str]], set[str], dict[str, int]]:
    n = draw(st.integers(min_value=1, max_value=9))
    names = [f"t{i}" for i in range(n)]
    deps = {
        name: sorted(draw(st.sets(st.sampled_from(names[:i]), max_size=3))) if i else []
        for i, name in enumerate(names)
    }
    failing = draw(st.sets(st.sampled_from(names), max_size=3))
    polls = {name: draw(st.integers(min_value=0, max_value=3)) for name in names}
    return deps, failing, polls


def _yaml(deps: dict[str, list[str]]) -> str:
    lines = [
        "apiVersion: argoproj.io/v1alpha1",
        "kind: Workflow",
        "metadata: {name: prop}",
        "spec:",
        "  entrypoint: main",
        "  templates:",
        "  - name: leaf",
        "    inputs: {parameters: [{name: w}]}",
        "    container: {image: busybox, command: [echo, '{{inputs.parameters.w}}']}",
        "  - name: main",
        "    dag:",
        "      tasks:",
    ]
    for name, ds in deps.items():
        lines.append(f"      - name: {name}")
        lines.append("        template: leaf")
        lines.append(f"        arguments: {{parameters: [{{name: w, value: {name}}}]}}")
        if ds:
            lines.append(f'        depends: "{" && ".join(ds)}"')
    return "\n".join(lines) + "\n"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags())
def test_random_dags_run_in_order_and_end_as_argo_would(case) -> None:
    deps, failing, polls = case

    def script(request):
        word = request.argv[-1]
        return FakeOutcome(
            exit_code=1 if word in failing else 0, stdout=word, running_polls=polls[word]
        )

    with tempfile.TemporaryDirectory() as tmp:
        metadata = MetadataStore(f"sqlite:///{Path(tmp) / 'kp.db'}")
        manifest, _, _ = load_manifest(_yaml(deps))
        assert validate_workflow(manifest) == []
        engine = Engine(
            metadata,
            LocalArtifactStore(Path(tmp) / "a"),
            FakeRunner(script),
            work_root=Path(tmp) / "w",
            poll_interval=0.0,
        )
        record = engine.submit(manifest)
        final = engine.execute(record.id)
        state = metadata.load_state(record.id)
        events = metadata.node_events(record.id)
        metadata.close()

    nodes = {n.display_name: n for n in state.nodes.values() if n.display_name in deps}
    assert final.phase.is_finished
    # Expected phases: a task runs iff every dependency succeeded; otherwise it is Omitted.
    expected: dict[str, str] = {}
    for name, ds in deps.items():
        if all(expected[d] == "Succeeded" for d in ds):
            expected[name] = "Failed" if name in failing else "Succeeded"
        else:
            expected[name] = "Omitted"
    assert {k: v.phase.value for k, v in nodes.items()} == expected
    # Nothing starts before everything it depends on is fulfilled.
    order = {(e.node_id, e.to_phase.value): i for i, e in enumerate(events)}
    for name, ds in deps.items():
        started = order.get((nodes[name].id, "Running"))
        if started is None:
            continue
        for d in ds:
            finished = order[(nodes[d].id, nodes[d].phase.value)]
            assert finished < started, f"{name} started before {d} finished"
    want_run = "Failed" if any(v == "Failed" for v in expected.values()) else "Succeeded"
    assert final.phase.value == want_run
