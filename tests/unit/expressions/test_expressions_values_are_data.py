"""The renderer never expands a value it inserted: properties over arbitrary text.

One `substitute` call scans only the template's own text. The engine renders a template in
stages (at the call, then where each field is used); these properties also follow a value through
those stages (bind a pod, finalize it; bind a DAG, resolve a task's arguments) and check that it
arrives as written, whatever it holds (`{{`, `}}`, `{{=`, quotes, backslashes, newlines, unicode).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.binding import ResolvedArgs, bind_inputs, render, resolve_arguments
from engine.expressions import substitute
from engine.phases import NodePhase, NodeType, RunPhase
from engine.pods import finalize_template
from engine.scope import Scope
from engine.spec import Arguments, Template
from engine.state import NodeRecord, RunRecord, RunState

TEXT = st.lists(
    st.sampled_from(
        ["{{", "}}", "{{=", "{{x}}", "{{= 1+1 }}", "{{inputs.parameters.v}}", "{{pod.name}}"]
        + ["'", '"', "\\", "\n", "`", "{", "}", "="]
    )
    | st.text(max_size=4),
    max_size=12,
).map("".join)

GLOBALS = {"workflow.name": "wf-1", "workflow.parameters.v": "from-the-workflow"}


def _state() -> RunState:
    run = RunRecord("r1", "wf-1", "uid", "default", RunPhase.RUNNING, 0.0, {})
    return RunState(run)


@given(value=TEXT, before=TEXT, after=TEXT)
def test_a_placeholder_is_replaced_by_its_value_verbatim(
    value: str, before: str, after: str
) -> None:
    """Text around the tag is the template's own; only the tag is replaced, by the exact value."""
    template = "<{{inputs.parameters.v}}>"
    assert substitute(template, {"inputs.parameters.v": value}.get) == f"<{value}>"
    scope = Scope(_state(), GLOBALS, {"parameters": {"v": value}})
    assert render("[{{= inputs.parameters.v }}]", scope) == f"[{value}]"
    assert render("{{inputs.parameters.v}}{{workflow.name}}", scope, strict=False) == value + "wf-1"


CONTAINER = Template.model_validate(
    {
        "name": "echo",
        "inputs": {"parameters": [{"name": "v"}]},
        "container": {
            "image": "alpine",
            "command": ["echo", "{{inputs.parameters.v}}", "{{pod.name}}"],
            "env": [{"name": "V", "value": "={{inputs.parameters.v}}="}],
        },
        "outputs": {
            "parameters": [
                {"name": "o", "valueFrom": {"path": "/tmp/o", "default": "{{inputs.parameters.v}}"}}
            ]
        },
    }
)


@given(value=TEXT)
def test_a_pods_input_survives_binding_and_finalizing(value: str) -> None:
    state = _state()
    bound, inputs = bind_inputs(CONTAINER, ResolvedArgs({"v": value}, {}), Scope(state, GLOBALS))
    node = NodeRecord("pod-1", "wf-1.echo", "echo", NodeType.POD, NodePhase.PENDING, inputs=inputs)
    pod = finalize_template(node, bound, Scope(state, GLOBALS, inputs))
    assert pod.container is not None
    assert pod.container.command == ["echo", value, "pod-1"]
    assert pod.container.env[0].value == f"={value}="
    default = pod.outputs.parameters[0].value_from
    assert default is not None and default.default == value


DAG = Template.model_validate(
    {
        "name": "main",
        "inputs": {"parameters": [{"name": "v"}]},
        "dag": {
            "tasks": [
                {
                    "name": "a",
                    "template": "echo",
                    "arguments": {
                        "parameters": [
                            {"name": "v", "value": "{{inputs.parameters.v}}|{{workflow.name}}"}
                        ]
                    },
                }
            ]
        },
        "outputs": {"parameters": [{"name": "o", "value": "{{inputs.parameters.v}}"}]},
    }
)


@given(value=TEXT)
def test_a_dags_input_survives_binding_and_its_tasks_arguments(value: str) -> None:
    state = _state()
    bound, inputs = bind_inputs(DAG, ResolvedArgs({"v": value}, {}), Scope(state, GLOBALS))
    assert bound.dag is not None
    walk = Scope(state, GLOBALS, inputs, "tasks", lambda name: None)
    args = resolve_arguments(bound.dag.tasks[0].arguments, walk)
    assert args.parameters == {"v": f"{value}|wf-1"}
    assert render(bound.outputs.parameters[0].value or "", walk) == value


@given(value=TEXT)
def test_workflow_arguments_are_taken_as_given(value: str) -> None:
    arguments = Arguments.model_validate({"parameters": [{"name": "v", "value": value}]})
    resolved = resolve_arguments(arguments, Scope(_state(), GLOBALS), literal=True)
    assert resolved.parameters == {"v": value}
