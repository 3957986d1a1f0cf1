"""`valueFrom.jsonPath`: what `kubectl get -o jsonpath=...` prints for the object."""

from __future__ import annotations

from typing import Any

import pytest

from engine.controllers.jsonpath import JSONPathError, render

OBJ: dict[str, Any] = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "pi-x7k2p", "labels": {"app.kubernetes.io/name": "pi", "team": "ml"}},
    "spec": {
        "backoffLimit": 6,
        "suspend": False,
        "template": {
            "spec": {
                "containers": [
                    {"name": "main", "image": "python:3.11"},
                    {"name": "side", "image": "busybox"},
                ]
            }
        },
    },
    "status": {
        "succeeded": 1,
        "ratio": 0.25,
        "big": 1e21,
        "nothing": None,
        "conditions": [{"type": "Complete", "status": "True"}],
    },
    "items": [{"x": 3}, {"x": 4}],
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{.metadata.name}", "pi-x7k2p"),
        ("{$.metadata.name}", "pi-x7k2p"),
        ("{.status.succeeded}", "1"),
        ("{.items[0].x}", "3"),
        ("{.items[-1].x}", "4"),
        ("{.items[*].x}", "3 4"),
        ("{.spec.template.spec.containers[*].name}", "main side"),
        ("{.spec.template.spec.containers[0:1].image}", "python:3.11"),
        ("{.metadata.labels.app\\.kubernetes\\.io/name}", "pi"),
        ("{.metadata.labels['app.kubernetes.io/name']}", "pi"),
        ('{.status.conditions[?(@.type=="Complete")].status}', "True"),
        ("{.spec.suspend}", "false"),
        ("{.status.ratio}", "0.25"),
        ("{.status.big}", "1e+21"),
        ("{.status.nothing}", "null"),
        ("{.metadata.labels}", '{"app.kubernetes.io/name":"pi","team":"ml"}'),  # maps print as JSON
        ("{.items}", '[{"x":3},{"x":4}]'),
        ("name={.metadata.name}, kind={.kind}", "name=pi-x7k2p, kind=Job"),
        ('{.metadata.name}{"\\n"}', "pi-x7k2p\n"),
        ("plain text", "plain text"),
        ("{..name}", "pi-x7k2p main side"),
    ],
)
def test_jsonpath_table(template: str, expected: str) -> None:
    assert render(OBJ, template) == expected


@pytest.mark.parametrize(
    "template",
    [
        "{.status.failed}",
        "{.items[5].x}",
        "{.items[*].missing}",
        "{.metadata.name.deeper}",
        '{.status.conditions[?(@.type=="Failed")].status}',
        "prefix {.nope} suffix",
    ],
)
def test_a_path_that_selects_nothing_is_none(template: str) -> None:
    assert render(OBJ, template) is None


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{range .items[*]}{.x}{end}", "`range` is not supported"),
        ("{.metadata.name", "unclosed"),
        ("{}", "empty expression"),
        ("{.items[}", "does not parse"),
    ],
)
def test_bad_templates_are_errors(template: str, message: str) -> None:
    with pytest.raises(JSONPathError, match=message):
        render(OBJ, template)
