"""Pydantic models of the Argo `Workflow` subset kubepipe runs: THE contract between DSL and engine.

The compiled format is an Argo manifest (`argoproj.io/v1alpha1`), so field names are Argo's
camelCase names (aliases) and a file a real Argo cluster accepts loads here unchanged. Three rules:

* A field kubepipe does not know is an error naming the field and its path (`extra="forbid"`),
  because a typo such as `dependecies` must not be silently ignored.
* Kubernetes-only fields (volumes, nodeSelector, tolerations, sidecars, securityContext, ...) are
  kept as opaque values so the manifest round-trips; `not_applied_fields()` lists those that are
  set, so the CLI can say once that the local runner does not apply them.
* Scalars Argo types as "AnyString" (parameter values, durations) accept YAML ints, floats and
  bools and are kept as the string Argo would see.

This module imports only pydantic and the stdlib, so `import dsl` stays light.
"""

from __future__ import annotations

import functools
import json
from enum import Enum
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

API_VERSION = "argoproj.io/v1alpha1"


def _as_argo_string(value: Any) -> Any:
    """Render YAML scalars the way Argo's AnyString/IntOrString unmarshal them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return value


ArgoStr = Annotated[str, BeforeValidator(_as_argo_string)]


class _Spec(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        alias_generator=to_camel,
        validate_default=False,
    )

    # Fields that only mean something on a Kubernetes cluster; set ones are reported, not applied.
    _k8s_only: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def k8s_only_aliases(cls) -> frozenset[str]:
        """The manifest spelling of the Kubernetes-only fields, e.g. `nodeSelector`."""
        return _aliases(cls)

    def dump(self) -> dict[str, Any]:
        """The manifest form: Argo's field names, unset fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


@functools.cache
def _aliases(model: type[_Spec]) -> frozenset[str]:
    return frozenset(model.model_fields[f].alias or f for f in model._k8s_only)


class RetryPolicy(str, Enum):
    ALWAYS = "Always"
    ON_FAILURE = "OnFailure"
    ON_ERROR = "OnError"
    ON_TRANSIENT_ERROR = "OnTransientError"


class ObjectMeta(_Spec):
    model_config = ConfigDict(extra="allow")  # k8s metadata has many server-set fields
    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    labels: dict[str, ArgoStr] = Field(default_factory=dict)
    annotations: dict[str, ArgoStr] = Field(default_factory=dict)


class ValueFrom(_Spec):
    path: str | None = None
    parameter: str | None = None
    default: ArgoStr | None = None
    expression: str | None = None
    supplied: dict[str, Any] | None = None
    json_path: str | None = None
    jq_filter: str | None = None
    config_map_key_ref: dict[str, Any] | None = None
    event: str | None = None


class Parameter(_Spec):
    name: str
    value: ArgoStr | None = None
    default: ArgoStr | None = None
    enum: list[ArgoStr] | None = None
    description: str | None = None
    global_name: str | None = None
    value_from: ValueFrom | None = None


class RawArtifact(_Spec):
    data: str


class ArchiveStrategy(_Spec):
    none: dict[str, Any] | None = None
    tar: dict[str, Any] | None = None
    zip: dict[str, Any] | None = None


class Artifact(_Spec):
    name: str
    path: str | None = None
    from_: str | None = Field(default=None, alias="from")
    from_expression: str | None = None
    optional: bool | None = None
    raw: RawArtifact | None = None
    mode: int | None = None
    global_name: str | None = None
    archive: ArchiveStrategy | None = None
    sub_path: str | None = None
    recurse_mode: bool | None = None
    deleted: bool | None = None
    archive_logs: bool | None = None
    # Repository locations: key-only s3 (the default repository) runs locally; the others
    # need their external store and are rejected by validation.
    s3: dict[str, Any] | None = None
    gcs: dict[str, Any] | None = None
    azure: dict[str, Any] | None = None
    oss: dict[str, Any] | None = None
    hdfs: dict[str, Any] | None = None
    http: dict[str, Any] | None = None
    git: dict[str, Any] | None = None
    artifactory: dict[str, Any] | None = None
    plugin: dict[str, Any] | None = None
    artifact_gc: dict[str, Any] | None = Field(default=None, alias="artifactGC")


class Inputs(_Spec):
    parameters: list[Parameter] = Field(default_factory=list)
    artifacts: list[Artifact] = Field(default_factory=list)


class Outputs(_Spec):
    parameters: list[Parameter] = Field(default_factory=list)
    artifacts: list[Artifact] = Field(default_factory=list)
    result: str | None = None
    exit_code: str | None = None


class Arguments(_Spec):
    parameters: list[Parameter] = Field(default_factory=list)
    artifacts: list[Artifact] = Field(default_factory=list)


class Backoff(_Spec):
    duration: ArgoStr | None = None
    factor: ArgoStr | None = None
    max_duration: ArgoStr | None = None
    cap: ArgoStr | None = None


class RetryStrategy(_Spec):
    limit: ArgoStr | None = None
    retry_policy: RetryPolicy | None = None
    backoff: Backoff | None = None
    expression: str | None = None
    affinity: dict[str, Any] | None = None


class ContinueOn(_Spec):
    failed: bool = False
    error: bool = False


class Sequence(_Spec):
    count: ArgoStr | None = None
    start: ArgoStr | None = None
    end: ArgoStr | None = None
    format: str | None = None


class EnvVar(_Spec):
    name: str
    value: ArgoStr | None = None
    value_from: dict[str, Any] | None = None


_CONTAINER_K8S_ONLY = frozenset(
    {
        "env_from",
        "image_pull_policy",
        "lifecycle",
        "liveness_probe",
        "ports",
        "readiness_probe",
        "resize_policy",
        "restart_policy",
        "security_context",
        "startup_probe",
        "stdin",
        "stdin_once",
        "termination_message_path",
        "termination_message_policy",
        "tty",
        "volume_devices",
        "volume_mounts",
        "mirror_volume_mounts",
    }
)


class Container(_Spec):
    _k8s_only: ClassVar[frozenset[str]] = _CONTAINER_K8S_ONLY
    name: str | None = None
    image: str | None = None
    command: list[ArgoStr] | None = None
    args: list[ArgoStr] | None = None
    env: list[EnvVar] = Field(default_factory=list)
    working_dir: str | None = None
    resources: dict[str, Any] | None = None
    env_from: Any = None
    image_pull_policy: Any = None
    lifecycle: Any = None
    liveness_probe: Any = None
    ports: Any = None
    readiness_probe: Any = None
    resize_policy: Any = None
    restart_policy: Any = None
    security_context: Any = None
    startup_probe: Any = None
    stdin: Any = None
    stdin_once: Any = None
    termination_message_path: Any = None
    termination_message_policy: Any = None
    tty: Any = None
    volume_devices: Any = None
    volume_mounts: Any = None
    mirror_volume_mounts: Any = None


class ScriptTemplate(Container):
    source: str


class ContainerNode(Container):
    dependencies: list[str] = Field(default_factory=list)


class ContainerSetTemplate(_Spec):
    containers: list[ContainerNode]
    retry_strategy: dict[str, Any] | None = None
    volume_mounts: Any = None


class ResourceAction(str, Enum):
    GET = "get"
    CREATE = "create"
    APPLY = "apply"
    DELETE = "delete"
    REPLACE = "replace"
    PATCH = "patch"


class ResourceTemplate(_Spec):
    action: ResourceAction
    manifest: str | None = None
    manifest_from: dict[str, Any] | None = None
    success_condition: str | None = None
    failure_condition: str | None = None
    set_owner_reference: bool | None = None
    flags: list[str] | None = None
    merge_strategy: str | None = None


class SuspendTemplate(_Spec):
    duration: ArgoStr | None = None


class TemplateRef(_Spec):
    name: str
    template: str
    cluster_scope: bool | None = None


class LifecycleHook(_Spec):
    template: str | None = None
    template_ref: TemplateRef | None = None
    arguments: Arguments | None = None
    expression: str | None = None


class Memoize(_Spec):
    key: str
    max_age: str | None = None
    cache: dict[str, Any] | None = None


class _Invocation(_Spec):
    """What DAG tasks and steps share: how a template is called."""

    name: str
    template: str | None = None
    template_ref: TemplateRef | None = None
    inline: Template | None = None
    arguments: Arguments = Field(default_factory=Arguments)
    when: str | None = None
    continue_on: ContinueOn | None = None
    with_items: list[Any] | None = None
    with_param: str | None = None
    with_sequence: Sequence | None = None
    on_exit: str | None = None
    hooks: dict[str, LifecycleHook] | None = None

    @model_validator(mode="after")
    def _one_template_source(self) -> _Invocation:
        given = [f for f in ("template", "template_ref", "inline") if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError(
                f"{self.name!r} must name exactly one of template, templateRef or inline "
                f"(found {', '.join(to_camel(g) for g in given) or 'none'})"
            )
        loops = [
            f for f in ("with_items", "with_param", "with_sequence") if getattr(self, f) is not None
        ]
        if len(loops) > 1:
            raise ValueError(
                f"{self.name!r} may use only one of withItems, withParam, withSequence"
            )
        return self


class DAGTask(_Invocation):
    dependencies: list[str] | None = None
    depends: str | None = None


class WorkflowStep(_Invocation):
    pass


class DAGTemplate(_Spec):
    tasks: list[DAGTask]
    target: str | None = None
    fail_fast: bool | None = None


class TemplateKind(str, Enum):
    CONTAINER = "container"
    SCRIPT = "script"
    DAG = "dag"
    STEPS = "steps"
    RESOURCE = "resource"
    SUSPEND = "suspend"
    CONTAINER_SET = "containerSet"
    HTTP = "http"
    DATA = "data"
    PLUGIN = "plugin"


_KIND_FIELDS = {
    TemplateKind.CONTAINER: "container",
    TemplateKind.SCRIPT: "script",
    TemplateKind.DAG: "dag",
    TemplateKind.STEPS: "steps",
    TemplateKind.RESOURCE: "resource",
    TemplateKind.SUSPEND: "suspend",
    TemplateKind.CONTAINER_SET: "container_set",
    TemplateKind.HTTP: "http",
    TemplateKind.DATA: "data",
    TemplateKind.PLUGIN: "plugin",
}

_TEMPLATE_K8S_ONLY = frozenset(
    {
        "affinity",
        "archive_location",
        "automount_service_account_token",
        "executor",
        "host_aliases",
        "init_containers",
        "node_selector",
        "pod_spec_patch",
        "priority_class_name",
        "scheduler_name",
        "security_context",
        "service_account_name",
        "sidecars",
        "tolerations",
        "volumes",
        "metadata",
        "metrics",
        "synchronization",
        "annotations",
        "pod_resources",
        "resource_claims",
    }
)


class Template(_Spec):
    _k8s_only: ClassVar[frozenset[str]] = _TEMPLATE_K8S_ONLY
    name: str | None = None
    inputs: Inputs = Field(default_factory=Inputs)
    outputs: Outputs = Field(default_factory=Outputs)
    container: Container | None = None
    script: ScriptTemplate | None = None
    dag: DAGTemplate | None = None
    steps: list[list[WorkflowStep]] | None = None
    resource: ResourceTemplate | None = None
    suspend: SuspendTemplate | None = None
    container_set: ContainerSetTemplate | None = None
    http: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    plugin: dict[str, Any] | None = None
    retry_strategy: RetryStrategy | None = None
    active_deadline_seconds: ArgoStr | None = None
    timeout: ArgoStr | None = None
    parallelism: int | None = None
    fail_fast: bool | None = None
    memoize: Memoize | None = None
    daemon: bool | None = None
    # Kubernetes-only
    affinity: Any = None
    archive_location: Any = None
    automount_service_account_token: Any = None
    executor: Any = None
    host_aliases: Any = None
    init_containers: Any = None
    node_selector: Any = None
    pod_spec_patch: Any = None
    priority_class_name: Any = None
    scheduler_name: Any = None
    security_context: Any = None
    service_account_name: Any = None
    sidecars: Any = None
    tolerations: Any = None
    volumes: Any = None
    metadata: Any = None
    metrics: Any = None
    synchronization: Any = None
    annotations: Any = None
    pod_resources: Any = None  # Argo >= 4.1
    resource_claims: Any = None  # Argo >= 4.1 (dynamic resource allocation)

    @property
    def kind(self) -> TemplateKind:
        for kind, field in _KIND_FIELDS.items():
            if getattr(self, field) is not None:
                return kind
        raise AssertionError("validated templates always have a kind")

    @property
    def main_container(self) -> Container | None:
        return self.container if self.container is not None else self.script

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Template:
        kinds = [k.value for k, f in _KIND_FIELDS.items() if getattr(self, f) is not None]
        if len(kinds) != 1:
            label = f"template {self.name!r}" if self.name else "inline template"
            found = ", ".join(kinds) if kinds else "none"
            raise ValueError(
                f"{label} must define exactly one of "
                f"{', '.join(k.value for k in TemplateKind)} (found {found})"
            )
        return self


class TemplateDefaults(Template):
    """`templateDefaults` is a partial template merged under every template: it sets no kind."""

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Template:
        return self


_WORKFLOW_K8S_ONLY = frozenset(
    {
        "affinity",
        "archive_logs",
        "artifact_gc",
        "artifact_repository_ref",
        "automount_service_account_token",
        "dns_config",
        "dns_policy",
        "executor",
        "host_aliases",
        "host_network",
        "image_pull_secrets",
        "metrics",
        "node_selector",
        "pod_disruption_budget",
        "pod_gc",
        "pod_metadata",
        "pod_priority_class_name",
        "pod_spec_patch",
        "priority",
        "scheduler_name",
        "security_context",
        "service_account_name",
        "tolerations",
        "ttl_strategy",
        "volume_claim_gc",
        "volume_claim_templates",
        "volumes",
        "workflow_metadata",
        "synchronization",
        "pod_resources",
        "resource_claims",
        "executor_plugins",
    }
)


class WorkflowSpec(_Spec):
    _k8s_only: ClassVar[frozenset[str]] = _WORKFLOW_K8S_ONLY
    entrypoint: str | None = None
    arguments: Arguments = Field(default_factory=Arguments)
    templates: list[Template] = Field(default_factory=list)
    on_exit: str | None = None
    parallelism: int | None = None
    active_deadline_seconds: ArgoStr | None = None
    template_defaults: TemplateDefaults | None = None
    hooks: dict[str, LifecycleHook] | None = None
    retry_strategy: RetryStrategy | None = None
    shutdown: str | None = None
    suspend: bool | None = None
    workflow_template_ref: dict[str, Any] | None = None
    affinity: Any = None
    archive_logs: Any = None
    artifact_gc: Any = Field(default=None, alias="artifactGC")
    artifact_repository_ref: Any = None
    automount_service_account_token: Any = None
    dns_config: Any = None
    dns_policy: Any = None
    executor: Any = None
    host_aliases: Any = None
    host_network: Any = None
    image_pull_secrets: Any = None
    metrics: Any = None
    node_selector: Any = None
    pod_disruption_budget: Any = None
    pod_gc: Any = Field(default=None, alias="podGC")
    pod_metadata: Any = None
    pod_priority_class_name: Any = None
    pod_spec_patch: Any = None
    priority: Any = None
    scheduler_name: Any = None
    security_context: Any = None
    service_account_name: Any = None
    tolerations: Any = None
    ttl_strategy: Any = None
    volume_claim_gc: Any = None
    volume_claim_templates: Any = None
    volumes: Any = None
    workflow_metadata: Any = None
    synchronization: Any = None
    pod_resources: Any = None  # Argo >= 4.1
    resource_claims: Any = None  # Argo >= 4.1
    executor_plugins: Any = None  # Argo >= 4.1

    def template(self, name: str) -> Template | None:
        for template in self.templates:
            if template.name == name:
                return template
        return None


class Workflow(_Spec):
    api_version: Literal["argoproj.io/v1alpha1"] = API_VERSION
    kind: Literal["Workflow"] = "Workflow"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: WorkflowSpec
    status: dict[str, Any] | None = None


class WorkflowTemplate(_Spec):
    api_version: Literal["argoproj.io/v1alpha1"] = API_VERSION
    kind: Literal["WorkflowTemplate", "ClusterWorkflowTemplate"] = "WorkflowTemplate"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: WorkflowSpec


class ConcurrencyPolicy(str, Enum):
    ALLOW = "Allow"
    FORBID = "Forbid"
    REPLACE = "Replace"


class CronWorkflowSpec(_Spec):
    schedules: list[str] = Field(default_factory=list)
    schedule: str | None = None  # removed in Argo v4; older manifests still carry it
    timezone: str | None = None
    concurrency_policy: ConcurrencyPolicy | None = None
    starting_deadline_seconds: int | None = None
    successful_jobs_history_limit: int | None = None
    failed_jobs_history_limit: int | None = None
    suspend: bool | None = None
    stop_strategy: dict[str, Any] | None = None
    when: str | None = None
    workflow_metadata: dict[str, Any] | None = None
    workflow_spec: WorkflowSpec


class CronWorkflow(_Spec):
    api_version: Literal["argoproj.io/v1alpha1"] = API_VERSION
    kind: Literal["CronWorkflow"] = "CronWorkflow"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: CronWorkflowSpec


Manifest = Union[Workflow, WorkflowTemplate, CronWorkflow]

for _model in (
    _Invocation,
    DAGTask,
    WorkflowStep,
    Template,
    TemplateDefaults,
    WorkflowSpec,
    Workflow,
    WorkflowTemplate,
    CronWorkflowSpec,
    CronWorkflow,
):
    _model.model_rebuild(force=True)


def _only_kubepipe_annotations(metadata: Any) -> bool:
    if not isinstance(metadata, dict) or set(metadata) - {"annotations"}:
        return False
    return all(str(k).startswith("kubepipe.io/") for k in (metadata.get("annotations") or {}))


# Pod fields the local runner applies (engine/podspec.py): securityContext always, volumes when
# each is a hostPath, an emptyDir, or a ConfigMap/Secret the run creates. They stay k8s-only for substitution and export purposes.
_LOCAL_VOLUME_KINDS = frozenset({"hostPath", "emptyDir", "configMap", "secret"})


def _applied_locally(field: str, value: Any) -> bool:
    if field in ("security_context", "volume_mounts"):  # mounts of other kinds: see volumes
        return True
    if field == "volumes" and isinstance(value, list):
        return all(
            isinstance(v, dict) and any(k in v for k in _LOCAL_VOLUME_KINDS) for v in value
        )
    return False


def not_applied_fields(spec: WorkflowSpec) -> list[str]:
    """Paths of Kubernetes-only fields that are set: kept in the manifest, ignored locally."""
    found: list[str] = []

    def check(model: _Spec, path: str) -> None:
        for field in sorted(model._k8s_only):
            value = getattr(model, field, None)
            if field == "metadata" and _only_kubepipe_annotations(value):
                continue  # kubepipe's own annotations (signature, cache) are read locally
            if _applied_locally(field, value):
                continue
            if value not in (None, [], {}):
                alias = type(model).model_fields[field].alias or field
                found.append(f"{path}.{alias}")

    check(spec, "spec")
    for i, template in enumerate(spec.templates):
        base = f"spec.templates[{i}]"
        check(template, base)
        container = template.main_container
        if container is not None:
            check(container, f"{base}.{template.kind.value}")
    return found
