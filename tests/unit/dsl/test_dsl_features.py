"""Smaller features: importer, Optional parameters, required pipeline inputs, task settings, CLI helpers."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from dsl_support import compiled_text, load_yaml, run_pipeline

import dsl
from dsl import Dataset, Input
from dsl.cli_support import PipelineFileError, compile_file, is_pipeline_file, load_pipeline


@dsl.component
def count_lines(data: Input[Dataset], prefix: str | None = None) -> str:
    lines = open(data.path).read().splitlines()
    return f"{prefix or 'lines'}={len(lines)};{data.metadata.get('source')}"


@pytest.fixture
def host_dir() -> Iterator[Path]:
    """A host directory: the importer step sees it through the hostPath volume it mounts."""
    path = Path(tempfile.mkdtemp(dir=Path.home(), prefix=".kubepipe-dsl-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_importer_of_a_host_path_a_shared_server_does_not_allow_fails_naming_it(
    tmp_path: Path, host_dir: Path
) -> None:
    from engine.runners._identity import SandboxPolicy
    from engine.runners.local import LocalRunnerSettings

    source = host_dir / "data.csv"
    source.write_text("a\n")

    @dsl.pipeline(name="importer")
    def imported(uri: str = str(source)) -> str:
        data = dsl.importer(artifact_uri=uri, artifact_class=Dataset)
        return count_lines(data=data.output).output

    shared = LocalRunnerSettings(sandbox=SandboxPolicy(allow_root=False, host_paths=()))
    ran = run_pipeline(imported, tmp_path, runner_settings=shared)
    assert ran.phase == "Error"
    (step,) = [n for n in ran.run["nodes"] if n["displayName"] == "importer"]
    assert f"hostPath {source} is not in this server's allowed host paths" in step["message"]


def test_importer_brings_a_local_file_in(tmp_path: Path, host_dir: Path) -> None:
    source = host_dir / "data.csv"
    source.write_text("a\nb\nc\n")

    @dsl.pipeline(name="importer")
    def imported(uri: str = str(source)) -> str:
        data = dsl.importer(artifact_uri=uri, artifact_class=Dataset, metadata={"source": "disk"})
        return count_lines(data=data.output).output

    ran = run_pipeline(imported, tmp_path)
    assert ran.outputs == {"Output": "lines=3;disk"}


def test_required_pipeline_input_comes_from_parameters(tmp_path: Path) -> None:
    @dsl.component
    def shout(text: str, times: int | None = None) -> str:
        return text.upper() * (times or 1)

    @dsl.pipeline(name="required")
    def required(text: str) -> str:
        return shout(text=text, times=2).output

    ran = run_pipeline(required, tmp_path, {"text": "ab"})
    assert ran.outputs == {"Output": "ABAB"}


def test_task_settings_compile_to_argo_fields() -> None:
    @dsl.component
    def step() -> None:
        pass

    @dsl.pipeline(name="settings")
    def settings() -> None:
        (
            step()
            .set_retry(3, backoff_duration="1s", backoff_factor=2.0, backoff_max_duration="1m")
            .set_cpu_request("100m")
            .set_cpu_limit("1")
            .set_memory_request("64Mi")
            .set_memory_limit("1Gi")
            .set_accelerator_type("nvidia.com/gpu")
            .set_accelerator_limit(1)
            .set_env_variable("A", "b")
            .set_timeout(30)
            .set_caching_options(False)
            .set_display_name("Fancy Step")
        )
        step()

    data = load_yaml(compiled_text(settings))
    templates = {t["name"]: t for t in data["spec"]["templates"]}
    special = templates["step-step"]
    assert special["retryStrategy"] == {
        "limit": "3",
        "retryPolicy": "Always",
        "backoff": {"duration": "1s", "factor": "2.0", "maxDuration": "1m"},
    }
    assert special["activeDeadlineSeconds"] == "30"
    assert special["container"]["resources"] == {
        "limits": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"},
        "requests": {"cpu": "100m", "memory": "64Mi"},
    }
    assert special["container"]["env"] == [{"name": "A", "value": "b"}]
    assert special["metadata"]["annotations"]["kubepipe.io/cache"] == "false"
    assert "retryStrategy" not in templates["step"]
    dag = templates["settings"]["dag"]["tasks"]
    assert [t["name"] for t in dag] == ["fancy-step", "step-2"]


def test_signature_annotation_retypes_values() -> None:
    @dsl.pipeline(name="sig")
    def sig() -> str:
        return count_lines(data=dsl.importer("/x", Dataset).output, prefix="p").output

    data = load_yaml(compiled_text(sig))
    template = next(t for t in data["spec"]["templates"] if t["name"] == "count-lines")
    signature = json.loads(template["metadata"]["annotations"]["kubepipe.io/signature"])
    assert signature["inputs"][1] == {
        "name": "prefix",
        "kind": "parameter",
        "type": "optional_str",
        "has_default": True,
    }
    assert signature["outputs"] == [{"name": "Output", "kind": "parameter", "type": "str"}]


EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "dsl_nested.py"


def test_cli_helpers(tmp_path: Path) -> None:
    assert is_pipeline_file(f"{EXAMPLE}:nested") and is_pipeline_file(str(EXAMPLE))
    assert not is_pipeline_file("examples/hello-world.yaml")
    assert load_pipeline(f"{EXAMPLE}:nested").name == "nested"
    assert load_pipeline(str(EXAMPLE)).name == "nested"  # the one no other pipeline calls
    two = tmp_path / "two.py"
    two.write_text(
        "import dsl\n@dsl.component\ndef f() -> int:\n    return 1\n"
        "@dsl.pipeline\ndef a():\n    f()\n@dsl.pipeline\ndef b():\n    f()\n"
    )
    with pytest.raises(
        PipelineFileError, match=r"name the pipeline as .*:NAME \(pipelines found: a, b\)"
    ):
        load_pipeline(str(two))
    with pytest.raises(
        PipelineFileError, match=r"'double' is a PythonComponent, not a @dsl.pipeline"
    ):
        load_pipeline(f"{EXAMPLE}:double")
    out = tmp_path / "nested.yaml"
    text = compile_file(f"{EXAMPLE}:nested", out)
    assert out.read_text() == text and "generateName: nested-" in text


@dsl.container_component
def greet(name: str, out: dsl.OutputPath(str), title: str | None = None):  # type: ignore[valid-type]
    return dsl.ContainerSpec(
        image="busybox",
        command=["sh", "-c", 'printf "%s" "$*" > "$0"'],
        args=[
            out,
            dsl.ConcatPlaceholder(["hello-", name]),
            dsl.IfPresentPlaceholder(
                input_name="title",
                then=[dsl.ConcatPlaceholder(["(", title, ")"])],
                else_=["(nobody)"],
            ),
        ],
    )


@dsl.component
def pair(a: str, b: str) -> str:
    return f"{a}|{b}"


def test_concat_and_if_present_placeholders(tmp_path: Path) -> None:
    @dsl.pipeline(name="placeholders")
    def placeholders(who: str = "bob") -> str:
        titled = greet(name=who, title="dr")
        plain = greet(name=who)
        return pair(a=titled.outputs["out"], b=plain.outputs["out"]).output

    ran = run_pipeline(placeholders, tmp_path)
    assert ran.phase == "Succeeded", ran.run["message"]
    assert ran.outputs == {"Output": "hello-bob (dr)|hello-bob (nobody)"}


def test_if_present_of_a_required_input() -> None:
    with pytest.raises(
        dsl.DefinitionError,
        match=r"container component 'f' \(.*test_dsl_features.py:\d+\), "
        r"IfPresentPlaceholder\(input_name='name'\): name an optional input parameter",
    ):

        @dsl.container_component
        def f(name: str):
            return dsl.ContainerSpec(
                image="busybox",
                command=["echo", dsl.IfPresentPlaceholder(input_name="name", then=[name])],
            )
