"""Spec models: manifests round-trip unchanged, and every example is a valid Argo Workflow."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.loader import load_manifest
from engine.spec import Workflow, not_applied_fields

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
CORPUS = ROOT.parent / "shared" / "corpus" / "argo-examples"


def _corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.yaml")) if CORPUS.is_dir() else []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_valid_argo_workflows(path: Path) -> None:
    hera = pytest.importorskip("hera.workflows.models", reason="hera ships the Argo schema models")
    data = yaml.safe_load(path.read_text())
    hera.Workflow.model_validate(data)  # raises on anything a real Argo API server would reject


@pytest.mark.parametrize("path", EXAMPLES + _corpus_files(), ids=lambda p: p.name)
def test_manifests_round_trip_through_the_models(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    if len(docs) != 1 or docs[0].get("kind") not in (
        "Workflow",
        "WorkflowTemplate",
        "ClusterWorkflowTemplate",
        "CronWorkflow",
    ):
        pytest.skip("not a single Argo workflow document")
    manifest, _, _ = load_manifest(path)
    again = type(manifest).model_validate(manifest.dump())
    assert again == manifest
    assert again.dump() == manifest.dump()


def test_kubernetes_only_fields_are_kept_and_reported() -> None:
    wf = Workflow.model_validate(
        {
            "metadata": {"name": "x"},
            "spec": {
                "entrypoint": "a",
                "nodeSelector": {"disk": "ssd"},
                "templates": [
                    {
                        "name": "a",
                        "tolerations": [{"key": "k"}],
                        "volumes": [
                            {"name": "v", "emptyDir": {}},
                            {"name": "p", "persistentVolumeClaim": {"claimName": "c"}},
                        ],
                        "container": {
                            "image": "busybox",
                            "command": ["true"],
                            "securityContext": {"runAsUser": 1},  # applied by the sandbox
                            "volumeMounts": [{"name": "v", "mountPath": "/v"}],
                            "livenessProbe": {"exec": {"command": ["true"]}},
                        },
                    }
                ],
            },
        }
    )
    assert wf.dump()["spec"]["nodeSelector"] == {"disk": "ssd"}
    assert not_applied_fields(wf.spec) == [
        "spec.nodeSelector",
        "spec.templates[0].tolerations",
        "spec.templates[0].volumes",  # a claim is not applied, so the list is reported
        "spec.templates[0].container.livenessProbe",
    ]


def test_scalars_are_kept_as_argo_reads_them() -> None:
    wf = Workflow.model_validate(
        {
            "metadata": {"name": "x"},
            "spec": {
                "entrypoint": "a",
                "arguments": {
                    "parameters": [
                        {"name": "n", "value": 3},
                        {"name": "b", "value": True},
                        {"name": "f", "value": 1.5},
                    ]
                },
                "templates": [{"name": "a", "container": {"image": "i", "command": ["echo", 1]}}],
            },
        }
    )
    assert [p.value for p in wf.spec.arguments.parameters] == ["3", "true", "1.5"]
    assert wf.spec.templates[0].container.command == ["echo", "1"]
