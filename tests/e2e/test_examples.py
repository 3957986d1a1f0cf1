"""Every hand-written example in examples/ runs end to end on the local runner with the expected values."""

from __future__ import annotations

import json

from e2e_support import EXAMPLES, ROOT, by_name


def test_every_example_is_covered() -> None:
    """Each YAML example is run by a test that names its file (DSL examples: test_dsl_examples)."""
    tests = "".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    found = {p.name for p in EXAMPLES.glob("*.yaml")}
    assert found, "examples/ holds no YAML example"
    missing = sorted(name for name in found if f'"{name}"' not in tests)
    assert not missing, f"examples no test runs (name the file in one): {missing}"


def test_hello_world(run_json) -> None:
    code, run = run_json(EXAMPLES / "hello-world.yaml")
    assert code == 0 and run["phase"] == "Succeeded"
    (node,) = run["nodes"]
    assert (
        node["type"] == "Pod"
        and node["outputs"]["result"] == "hello world"
        and node["exitCode"] == 0
    )


def test_parameters_defaults_and_overrides(run_json) -> None:
    code, run = run_json(EXAMPLES / "parameters.yaml")
    assert code == 0
    assert run["nodes"][0]["outputs"]["result"] == "hello kubepipe\nhello kubepipe"
    code, run = run_json(EXAMPLES / "parameters.yaml", "message=hi there", "times=3")
    assert code == 0 and run["parameters"] == {"message": "hi there", "times": "3"}
    node = run["nodes"][0]
    assert node["outputs"]["result"] == "hi there\nhi there\nhi there"
    assert node["outputs"]["parameters"] == {"shout": "hi there!"}


def test_dag_diamond(run_json) -> None:
    code, run = run_json(EXAMPLES / "dag-diamond.yaml")
    nodes = by_name(run)
    assert code == 0
    assert [nodes[t]["outputs"]["result"] for t in "ABCD"] == ["1", "11", "101", "112"]
    assert nodes[run["name"]]["outputs"]["parameters"] == {"total": "112"}
    assert nodes["D"]["startedAt"] >= max(nodes["B"]["finishedAt"], nodes["C"]["finishedAt"])


def test_fan_out_fan_in(run_json) -> None:
    code, run = run_json(EXAMPLES / "fan-out-fan-in.yaml")
    nodes = by_name(run)
    assert code == 0
    assert [nodes[f"square({i}:{n})"]["outputs"]["result"] for i, n in enumerate([1, 2, 3, 4])] == [
        "1",
        "4",
        "9",
        "16",
    ]
    assert nodes["square"]["type"] == "TaskGroup"
    assert nodes["sum"]["outputs"]["result"] == "30"


def test_conditionals(run_json) -> None:
    code, run = run_json(EXAMPLES / "conditionals.yaml")
    nodes = by_name(run)
    assert code == 0
    assert nodes["big"]["phase"] == "Succeeded" and nodes["big"]["outputs"]["result"] == "big"
    assert nodes["small"]["phase"] == "Skipped" and nodes["small"]["type"] == "Skipped"
    assert nodes["is-seven"]["phase"] == "Succeeded"
    code, run = run_json(EXAMPLES / "conditionals.yaml", "threshold=10")
    nodes = by_name(run)
    assert nodes["big"]["phase"] == "Skipped" and nodes["small"]["phase"] == "Succeeded"


def test_retries(run_json) -> None:
    code, run = run_json(EXAMPLES / "retries.yaml")
    nodes = by_name(run)
    assert code == 0
    assert nodes["flaky"]["type"] == "Retry" and nodes["flaky"]["phase"] == "Succeeded"
    assert [nodes[f"flaky({i})"]["phase"] for i in range(3)] == ["Failed", "Failed", "Succeeded"]
    assert nodes["flaky(0)"]["message"] == "Error (exit code 1)"
    assert nodes["flaky"]["outputs"]["result"] == "attempt 2"
    assert "flaky(3)" not in nodes


def test_exit_handler_sees_the_failure(run_json) -> None:
    code, run = run_json(EXAMPLES / "exit-handler.yaml")
    nodes = by_name(run)
    assert code == 1 and run["phase"] == "Failed"
    assert nodes["celebrate"]["phase"] == "Skipped"
    failures = json.loads(nodes["cry"]["outputs"]["result"].removeprefix("workflow failed: "))
    assert failures[0]["message"] == "Error (exit code 3)" and failures[0]["phase"] == "Failed"


def test_artifact_passing(run_json) -> None:
    code, run = run_json(EXAMPLES / "artifact-passing.yaml")
    nodes = by_name(run)
    assert code == 0
    produced = nodes["generate"]["outputs"]["artifacts"]
    assert set(produced) == {"message", "dataset"}
    assert produced["message"]["size"] == len("hello from generate\n")
    assert len(produced["message"]["sha256"]) == 64
    assert (
        nodes["consume"]["outputs"]["result"]
        == "hello from generate\n['part-0.csv', 'part-1.csv', 'part-2.csv']"
    )


def test_failing_step(run_json) -> None:
    code, run = run_json(EXAMPLES / "failing-step.yaml")
    nodes = by_name(run)
    assert code == 1 and run["phase"] == "Failed"
    assert nodes["fail"]["phase"] == "Failed" and nodes["fail"]["exitCode"] == 2
    assert nodes["fail"]["message"] == "Error (exit code 2)"
    assert nodes["after-fail"]["phase"] == "Omitted"
    assert nodes["independent"]["phase"] == "Succeeded"


def test_volumes_and_security(run_json) -> None:
    """A ConfigMap one step creates is mounted by the next; a containerSet's containers share
    an emptyDir; the workflow's securityContext sets the uid the steps see."""
    code, run = run_json(EXAMPLES / "volumes-and-security.yaml")
    nodes = by_name(run)
    assert code == 0 and run["phase"] == "Succeeded"
    assert nodes["read-config"]["outputs"]["result"] == "uid=1000 lr=0.01 epochs=3"
    assert nodes["share-scratch"]["outputs"]["result"] == "made-by-produce"
    assert nodes["make-config"]["phase"] == "Succeeded"
