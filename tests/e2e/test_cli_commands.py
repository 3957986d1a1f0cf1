"""`get`, `list`, `logs`, `stop` and the step faults Argo distinguishes, through the real CLI and runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from e2e_support import EXAMPLES, ROOT, by_name

FAULTS = """apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: faults}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: slow, template: slow}
      - {name: exits, template: exits}
      - {name: no-output, template: no-output}
  - name: slow
    activeDeadlineSeconds: 1
    container: {image: busybox, command: [sh, -c, "sleep 30"]}
  - name: exits
    container: {image: busybox, command: [sh, -c, "echo bad >&2; exit 7"]}
  - name: no-output
    container: {image: busybox, command: [sh, -c, "echo nothing written"]}
    outputs:
      parameters:
      - name: answer
        valueFrom: {path: /tmp/answer.txt}
"""


def test_step_faults_end_in_argos_phases_with_reasons(run_json, tmp_path: Path) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text(FAULTS)
    started = time.monotonic()
    code, run = run_json(path)
    nodes = by_name(run)
    assert code == 1 and run["phase"] == "Failed"
    assert time.monotonic() - started < 20, "the deadline must kill the sleeping step"
    assert nodes["slow"]["phase"] == "Failed"
    assert "deadline" in nodes["slow"]["message"]
    assert nodes["exits"]["phase"] == "Failed" and nodes["exits"]["exitCode"] == 7
    assert nodes["exits"]["message"] == "Error (exit code 7)"
    assert nodes["no-output"]["phase"] == "Error"
    assert (
        "failed to read output parameter 'answer': /tmp/answer.txt does not exist"
        in nodes["no-output"]["message"]
    )


def test_get_list_and_logs(cli, run_json) -> None:
    code, run = run_json(EXAMPLES / "dag-diamond.yaml")
    assert code == 0
    listed = cli("list")
    assert run["id"] in listed.stdout and "Succeeded" in listed.stdout
    got = json.loads(cli("get", run["id"], "-o", "json").stdout)
    assert got["id"] == run["id"] and got["phase"] == "Succeeded"
    assert {
        "id",
        "name",
        "phase",
        "startedAt",
        "finishedAt",
        "message",
        "parameters",
        "outputs",
        "nodes",
    } <= set(got)
    node = by_name(got)["B"]
    assert {
        "id",
        "displayName",
        "templateName",
        "type",
        "phase",
        "startedAt",
        "finishedAt",
        "exitCode",
        "message",
        "outputs",
    } <= set(node)
    by_run_name = json.loads(cli("get", run["name"], "-o", "json").stdout)
    assert by_run_name["id"] == run["id"]
    tree = cli("get", run["id"]).stdout
    assert "Phase:    Succeeded" in tree and "D" in tree
    assert cli("logs", run["id"], "D").stdout.strip() == "112"
    assert cli("logs", run["id"], node["id"]).stdout.strip() == "11"
    everything = cli("logs", run["id"]).stdout
    assert "A: 1" in everything and "D: 112" in everything


def test_get_unknown_run(cli) -> None:
    result = cli("get", "does-not-exist")
    assert result.exit_code == 1
    assert "no run with id or name 'does-not-exist'" in result.stderr


def test_logs_unknown_node(cli, run_json) -> None:
    _, run = run_json(EXAMPLES / "hello-world.yaml")
    result = cli("logs", run["id"], "nope")
    assert result.exit_code == 1 and "has no node 'nope'" in result.stderr


def run_in_background(home: Path, path: Path) -> subprocess.Popen[str]:
    """`kubepipe run FILE` in its own process, as a user's terminal would run it."""
    env = {**os.environ, "KUBEPIPE_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "engine", "run", str(path)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate, seconds: float = 30.0) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if predicate():
                return
        except (ValueError, KeyError, IndexError):
            pass  # the run is not recorded yet
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


def test_stop_kills_a_running_run(home: Path, cli, tmp_path: Path) -> None:
    path = tmp_path / "sleepy.yaml"
    path.write_text("""apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: sleepy}
spec:
  entrypoint: main
  onExit: bye
  templates:
  - name: main
    container: {image: busybox, command: [sleep, "60"]}
  - name: bye
    container: {image: busybox, command: [echo, "{{workflow.status}}"]}
""")
    proc = run_in_background(home, path)
    try:
        wait_for(
            lambda: (
                json.loads(cli("get", "sleepy", "-o", "json").stdout)["nodes"][0]["phase"]
                == "Running"
            )
        )
        result = cli("stop", "sleepy")
        assert result.exit_code == 0, result.output
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    got = json.loads(cli("get", "sleepy", "-o", "json").stdout)
    nodes = by_name(got)
    assert got["phase"] == "Failed" and got["message"] == "Stopped by user"
    assert nodes["sleepy"]["phase"] == "Failed"
    assert (
        nodes["sleepy.onExit"]["phase"] == "Succeeded"
    )  # Stop (not Terminate) still runs exit handlers
    assert nodes["sleepy.onExit"]["outputs"]["result"] == "Failed"


def test_resume_a_suspended_run_with_supplied_outputs(home: Path, cli, tmp_path: Path) -> None:
    path = tmp_path / "approve.yaml"
    path.write_text("""apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: approve}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: wait, template: wait}
    - - name: use
        template: say
        arguments: {parameters: [{name: text, value: "{{steps.wait.outputs.parameters.answer}}"}]}
  - name: wait
    suspend: {}
    outputs:
      parameters:
      - name: answer
        valueFrom: {supplied: {}}
  - name: say
    inputs: {parameters: [{name: text}]}
    container: {image: busybox, command: [echo, "{{inputs.parameters.text}}"]}
""")
    proc = run_in_background(home, path)
    try:
        wait_for(
            lambda: any(
                n["phase"] == "Running" and n["type"] == "Suspend"
                for n in json.loads(cli("get", "approve", "-o", "json").stdout)["nodes"]
            )
        )
        assert cli("resume", "approve", "--node", "nope").exit_code == 1
        result = cli("resume", "approve", "--node", "wait", "--output-parameter", "answer=ship it")
        assert result.exit_code == 0, result.output
        assert "resumed wait" in result.stdout
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0
    nodes = by_name(json.loads(cli("get", "approve", "-o", "json").stdout))
    assert nodes["wait"]["outputs"]["parameters"] == {"answer": "ship it"}
    assert nodes["use"]["outputs"]["result"] == "ship it"
    assert cli("resume", "approve").exit_code == 1  # finished: nothing to resume
