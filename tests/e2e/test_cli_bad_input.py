"""Bad input gets a clear error, a non-zero exit, and leaves nothing behind in the database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.metadata.store import MetadataStore

WF = """apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{generateName: bad-}}
spec:
  entrypoint: main
  templates:
{templates}
"""

ECHO = """  - name: echo
    inputs: {parameters: [{name: word, value: x}]}
    container: {image: busybox, command: [echo, "{{inputs.parameters.word}}"]}
"""


def dag(tasks: str) -> str:
    return WF.format(templates="  - name: main\n    dag:\n      tasks:\n" + tasks + ECHO)


CASES = {
    "malformed-yaml": (
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec:\n  entrypoint: [a, b\n",
        r"bad\.yaml:5:1: YAML syntax error: while parsing a flow sequence",
    ),
    "not-a-mapping": ("- just\n- a list\n", r"a manifest must be a YAML mapping"),
    "unknown-kind": (
        "apiVersion: v1\nkind: ConfigMap\n",
        r"kind: unsupported kind 'ConfigMap' \(use one of",
    ),
    "unknown-field": (
        dag(
            "      - {name: A, template: echo, dependecies: [B]}\n      - {name: B, template: echo}\n"
        ),
        r"bad\.yaml:10:\d+: spec\.templates\[0\]\.dag\.tasks\[0\]\.dependecies: unknown field "
        r"'dependecies' \(did you mean 'dependencies'\?\)",
    ),
    "cycle": (
        dag(
            "      - {name: A, template: echo, depends: C}\n      - {name: B, template: echo, depends: A}\n"
            "      - {name: C, template: echo, depends: B}\n"
        ),
        r"dependency cycle in DAG 'main': (A -> B -> C -> A|B -> C -> A -> B|C -> A -> B -> C)",
    ),
    "self-dependency": (
        dag("      - {name: A, template: echo, depends: A}\n"),
        r"task 'A' depends on itself",
    ),
    "missing-template": (
        dag("      - {name: A, template: nope}\n"),
        r"tasks\[0\]\.template: 'A' calls template 'nope', which does not exist \(use one of: main, echo\)",
    ),
    "unknown-task": (
        dag("      - {name: A, template: echo, depends: Z}\n"),
        r"task 'A' depends on 'Z', which is not a task of DAG 'main'",
    ),
    "bad-depends": (
        dag(
            "      - {name: A, template: echo}\n      - {name: B, template: echo, depends: 'A &&'}\n"
        ),
        r"tasks\[1\]\.depends: invalid depends",
    ),
    "bad-result-suffix": (
        dag(
            "      - {name: A, template: echo}\n      - {name: B, template: echo, depends: A.Suceeded}\n"
        ),
        r"Succeeded",
    ),
    "unknown-input-reference": (
        WF.format(
            templates="  - name: main\n    container: {image: busybox, command: [echo, '{{inputs.parameters.nope}}']}\n"
        ),
        r"\{\{inputs\.parameters\.nope\}\} refers to an input 'main' does not declare",
    ),
    "unknown-task-output": (
        dag(
            "      - {name: A, template: echo}\n"
            "      - {name: B, template: echo, depends: A, arguments: {parameters: [{name: word, value: '{{tasks.A.outputs.parameters.nope}}'}]}}\n"
        ),
        r"template 'echo' declares no output parameter 'nope'",
    ),
    "reference-without-dependency": (
        dag(
            "      - {name: A, template: echo}\n"
            "      - {name: B, template: echo, arguments: {parameters: [{name: word, value: '{{tasks.A.outputs.result}}'}]}}\n"
        ),
        r"task 'B' uses \{\{tasks\.A\.outputs\.result\}\} but does not depend on 'A' \(add A to its depends\)",
    ),
    "undeclared-workflow-parameter": (
        WF.format(
            templates="  - name: main\n    container: {image: busybox, command: [echo, '{{workflow.parameters.nope}}']}\n"
        ),
        r"names workflow parameter 'nope', which is not declared",
    ),
    "item-outside-loop": (
        dag(
            "      - {name: A, template: echo, arguments: {parameters: [{name: word, value: '{{item}}'}]}}\n"
        ),
        r"\{\{item\}\} is used but 'A' has no withItems",
    ),
    "missing-entrypoint": (
        WF.format(templates=ECHO).replace("entrypoint: main", "entrypoint: start"),
        r"entrypoint 'start' is not a template \(use one of: echo\)",
    ),
    "two-kinds": (
        WF.format(
            templates="  - name: main\n    container: {image: a, command: [b]}\n    script: {image: a, source: x}\n"
        ),
        r"template 'main' must define exactly one of",
    ),
    "unknown-resource-kind": (
        WF.format(
            templates="  - name: main\n    resource:\n      action: create\n      manifest: |\n"
            "        apiVersion: kubeflow.org/v1\n        kind: PyTorchJob\n"
        ),
        r"no local controller for kubeflow\.org/v1/PyTorchJob",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_invalid_files_are_rejected_with_a_located_message(
    case: str, command: str, cli, home: Path, tmp_path: Path
) -> None:
    text, pattern = CASES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = cli(command, str(path))
    assert result.exit_code == 2, result.output
    assert re.search(pattern, result.stderr), result.stderr
    store = MetadataStore(f"sqlite:///{home / 'kubepipe.db'}")
    assert store.count_runs() == 0, "a file that failed validation must leave no run behind"


def test_missing_file(cli, tmp_path: Path) -> None:
    result = cli("run", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_bad_parameter_flag(cli) -> None:
    result = cli("run", "examples/hello-world.yaml", "-p", "novalue")
    assert result.exit_code == 2
    assert "use -p NAME=VALUE" in result.stderr


def test_several_problems_are_reported_together(cli, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        dag("      - {name: A, template: nope}\n      - {name: B, template: echo, depends: Z}\n")
    )
    result = cli("validate", str(path))
    assert result.exit_code == 2
    assert "calls template 'nope'" in result.stderr and "depends on 'Z'" in result.stderr
    assert "2 problem(s) found; nothing was run" in result.stderr


def test_a_with_param_that_is_not_a_list_fails_the_run_with_a_reason(
    run_json, tmp_path: Path
) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text(
        dag(
            "      - {name: gen, template: echo, arguments: {parameters: [{name: word, value: '{\"a\": 1}'}]}}\n"
            "      - name: each\n        template: echo\n        depends: gen\n"
            "        withParam: '{{tasks.gen.outputs.result}}'\n"
            "        arguments: {parameters: [{name: word, value: '{{item}}'}]}\n"
        )
    )
    code, run = run_json(path)
    assert code == 1 and run["phase"] == "Error"
    each = next(n for n in run["nodes"] if n["displayName"] == "each")
    assert each["phase"] == "Error"
    assert "withParam value must be a JSON list, got dict" in each["message"]


def test_an_unreachable_database_is_a_message_not_a_traceback(cli, monkeypatch) -> None:
    monkeypatch.setenv("KUBEPIPE_DB_URL", "postgresql+psycopg://postgres@127.0.0.1:1/none")
    result = cli("list")
    assert result.exit_code == 1
    assert "cannot use postgresql+psycopg://postgres@127.0.0.1:1/none" in result.stderr
    assert "check KUBEPIPE_DB_URL" in result.stderr and "Traceback" not in result.output
