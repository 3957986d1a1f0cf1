"""Request and response bodies of the REST API (not tables: see `server.tables`)."""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.phases import RunPhase
from server.text import texts, unstorable

_NAME_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9_. ]{0,126}[A-Za-z0-9])?$"


class Role(str, Enum):
    """What a token may do in its namespace."""

    VIEWER = "viewer"  # read
    EDITOR = "editor"  # read, create, stop, retry, delete


class RunSortField(str, Enum):
    CREATED_AT = "created_at"
    STARTED_AT = "started_at"
    FINISHED_AT = "finished_at"
    NAME = "name"
    PHASE = "phase"


class SortOrder(str, Enum):
    ASC = "asc"
    DESC = "desc"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        """JSON can escape a NUL or a lone surrogate, which no database stores: refused here,
        naming the field, rather than failing in a query (a 500)."""
        for text in texts(value):
            why = unstorable(text)
            if why is not None:
                raise ValueError(why)
        return value


class PipelineCreate(_Body):
    """A pipeline uploaded as JSON instead of multipart: its YAML travels in `pipeline_yaml`."""

    name: str = Field(pattern=_NAME_PATTERN)
    description: str = Field(default="", max_length=2000)
    pipeline_yaml: str


class PipelineVersionOut(BaseModel):
    id: str
    pipeline_id: str
    name: str
    description: str
    created_at: str
    templates: int
    entrypoint: str | None
    parameters: dict[str, str | None] = {}  # spec.arguments.parameters and their defaults


class PipelineOut(BaseModel):
    id: str
    namespace: str
    name: str
    description: str
    created_at: str
    default_version_id: str | None
    versions: int


class PipelineList(BaseModel):
    pipelines: list[PipelineOut]


class VersionList(BaseModel):
    versions: list[PipelineVersionOut]


class ExperimentCreate(_Body):
    name: str = Field(pattern=_NAME_PATTERN)
    description: str = Field(default="", max_length=2000)
    namespace: str | None = None  # only the local user (auth off) chooses; tokens have one


class ExperimentOut(BaseModel):
    id: str
    namespace: str
    name: str
    description: str
    created_at: str
    runs: int


class ExperimentList(BaseModel):
    experiments: list[ExperimentOut]


class RunCreate(_Body):
    """Start a run from a stored pipeline (its newest version, or the one named) or from YAML
    given inline; `parameters` set `spec.arguments.parameters` as `kubepipe run -p` does."""

    pipeline_id: str | None = None
    pipeline_version_id: str | None = None
    pipeline_yaml: str | None = None
    parameters: dict[str, str] = {}
    experiment_id: str | None = None
    name: str | None = Field(default=None, pattern=r"^[a-z0-9]([-a-z0-9.]{0,50}[a-z0-9])?$")
    namespace: str | None = None

    @field_validator("parameters")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not key or len(key) > 200:
                raise ValueError(f"parameter name {key!r} must be 1-200 characters")
        return value


class RunSummary(BaseModel):
    id: str
    name: str
    namespace: str
    phase: RunPhase
    message: str
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    experiment_id: str | None
    pipeline_id: str | None
    pipeline_version_id: str | None
    retry_of: str | None


class RunList(BaseModel):
    runs: list[RunSummary]
    total_size: int
    page: int
    page_size: int
    next_page: int | None


class RunCreated(BaseModel):
    id: str
    name: str
    namespace: str
    phase: RunPhase
    retry_of: str | None = None


class ArtifactOut(BaseModel):
    node_id: str
    name: str
    uri: str
    sha256: str
    size: int
    archived: bool
    created_at: str | None
    download: str  # the API path that streams it


class ArtifactList(BaseModel):
    artifacts: list[ArtifactOut]


class GraphNode(BaseModel):
    id: str
    label: str
    phase: str | None = None
    type: str | None = None
    layer: int
    position: int


class Graph(BaseModel):
    nodes: list[GraphNode]
    edges: list[tuple[str, str]]
    layers: int


class TrialObjective(BaseModel):
    """What the experiment optimises: the metric's name, its direction and the goal, if any."""

    name: str
    type: str  # "minimize" or "maximize", as Katib's objective.type
    goal: float | None = None


class AxisScale(str, Enum):
    """How a numeric parameter's plot axis is spaced."""

    LINEAR = "linear"
    LOG = "log"  # searched by a log distribution: equal ratios, not equal steps, matter


class TrialParameter(BaseModel):
    """One searched parameter; `numeric` says whether it plots on an axis or as a strip."""

    name: str
    type: str  # Katib's parameterType: double, int, discrete, categorical
    numeric: bool
    min: float | None = None  # the feasible space, so a plot shows the whole searched range
    max: float | None = None
    values: list[str] = []  # the feasible list of a discrete or categorical parameter
    scale: AxisScale = AxisScale.LINEAR


class TrialRow(BaseModel):
    """One trial: its node (to open its logs), Katib state, assignments and objective."""

    index: int  # creation order, 0-based: the x axis of the objective-over-trials plot
    name: str
    node_id: str
    state: str  # Katib's trial state (Created, Running, Succeeded, Failed, EarlyStopped, ...)
    phase: str
    parameters: dict[str, str]
    objective: float | None = None
    best: bool = False


class TrialsOut(BaseModel):
    """A Katib experiment step's trials, as the dashboard's table and plots need them."""

    node_id: str
    experiment: str
    algorithm: str
    condition: str | None  # the Experiment's latest condition reason (ExperimentRunning, ...)
    objective: TrialObjective
    parameters: list[TrialParameter]
    best_trial: str | None  # status.currentOptimalTrial.bestTrialName
    trials: list[TrialRow]


class Whoami(BaseModel):
    namespace: str | None  # None: the local user, who sees every namespace
    role: Role
    auth: bool


class Problem(BaseModel):
    message: str
    path: str
    line: int | None
    column: int | None
    hint: str


def problem_list(items: list[Any]) -> list[dict[str, Any]]:
    """The engine's `Problem`s as JSON, for a 422 that lists every one with its line."""
    return [
        Problem(
            message=p.message, path=p.path, line=p.line, column=p.column, hint=p.hint
        ).model_dump()
        for p in items
    ]


class ScheduleKind(str, Enum):
    CRON = "cron"
    INTERVAL = "interval"


class ConcurrencyPolicyIn(str, Enum):
    """Argo's concurrencyPolicy: while a run is still going, start another, skip, or replace."""

    ALLOW = "Allow"
    FORBID = "Forbid"
    REPLACE = "Replace"


class RecurringCreate(_Body):
    """A recurring run of a stored pipeline (newest version, or the one named) or inline YAML,
    on a cron expression or an interval (`90s`, `15m`, `1h30m`, `1d`)."""

    name: str
    pipeline_id: str | None = None
    pipeline_version_id: str | None = None
    pipeline_yaml: str | None = None
    parameters: dict[str, str] = {}
    cron: str | None = None
    interval: str | None = None
    timezone: str = "UTC"
    start_time: str | None = None
    end_time: str | None = None
    concurrency_policy: ConcurrencyPolicyIn = ConcurrencyPolicyIn.ALLOW
    max_concurrency: int | None = None
    catchup: bool = True
    enabled: bool = True
    namespace: str | None = None


class FireTimes(BaseModel):
    schedule: str
    timezone: str
    times: list[str]


class RecurringList(BaseModel):
    recurring_runs: list[dict[str, Any]]
