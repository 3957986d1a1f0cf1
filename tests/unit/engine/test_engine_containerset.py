"""containerSet: containers start in dependency order; a failed container stops its dependents."""

from __future__ import annotations

from engine_support import script
from engine.runners.fake import FakeOutcome

WF = """apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: cs}
spec:
  entrypoint: pod
  templates:
  - name: pod
    containerSet:
      containers:
      - {name: prepare, image: busybox, command: [echo, prepare]}
      - {name: main, image: busybox, command: [echo, main], dependencies: [prepare]}
      - {name: side, image: busybox, command: [echo, side]}
"""


def test_containers_run_in_dependency_order_and_main_gives_the_result(run_yaml) -> None:
    out = run_yaml(WF)
    assert out.run.phase.value == "Succeeded"
    order = [r.argv[-1] for r in out.runner.launched]
    assert order.index("prepare") < order.index("main")
    assert out.node("cs").outputs["result"] == "main"
    assert {out.node(n).type.value for n in ("prepare", "main", "side")} == {"Container"}


def test_a_failed_container_stops_its_dependents_and_fails_the_pod(run_yaml) -> None:
    out = run_yaml(WF, script({"prepare": FakeOutcome(exit_code=3)}))
    assert out.run.phase.value == "Failed"
    assert "main" not in out.phases()
    assert out.phases()["side"] == "Succeeded"
    assert "container 'prepare': Error (exit code 3)" in out.node("cs").message
