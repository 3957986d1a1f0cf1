"""Katib's trial and experiment states and reasons, as enums (never bare strings).

Trial conditions are `pkg/apis/controller/trials/v1beta1/trial_types.go`'s; experiment reasons
and messages are the experiment controller's, so `status.conditions` reads as on a cluster.
"""

from __future__ import annotations

from enum import Enum

from engine.phases import NodePhase

__all__ = ["EndReason", "TrialCondition"]


class TrialCondition(str, Enum):
    CREATED = "Created"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    KILLED = "Killed"
    FAILED = "Failed"
    METRICS_UNAVAILABLE = "MetricsUnavailable"
    EARLY_STOPPED = "EarlyStopped"

    def __str__(self) -> str:
        return self.value

    @property
    def is_completed(self) -> bool:
        """Katib's completed count: every state a trial can end in."""
        return self not in (TrialCondition.CREATED, TrialCondition.RUNNING)

    @property
    def counts_as_failed(self) -> bool:
        """What maxFailedTrialCount counts: failures and trials that reported no objective."""
        return self in (TrialCondition.FAILED, TrialCondition.METRICS_UNAVAILABLE)

    @property
    def has_observation(self) -> bool:
        """Trials whose metrics take part in the optimum (an early-stopped trial reported some)."""
        return self in (TrialCondition.SUCCEEDED, TrialCondition.EARLY_STOPPED)

    @property
    def node_phase(self) -> NodePhase:
        """The trial node's Argo phase: a trial that produced an observation succeeded."""
        if self.has_observation:
            return NodePhase.SUCCEEDED
        if self.is_completed:
            return NodePhase.FAILED
        return NodePhase.RUNNING

    @property
    def status_field(self) -> str:
        """The experiment status counter of this state (`trialsSucceeded`, ...)."""
        return {
            TrialCondition.CREATED: "trialsPending",
            TrialCondition.RUNNING: "trialsRunning",
            TrialCondition.SUCCEEDED: "trialsSucceeded",
            TrialCondition.KILLED: "trialsKilled",
            TrialCondition.FAILED: "trialsFailed",
            TrialCondition.METRICS_UNAVAILABLE: "trialMetricsUnavailable",
            TrialCondition.EARLY_STOPPED: "trialsEarlyStopped",
        }[self]

    @property
    def list_field(self) -> str:
        """The experiment status list of trial names in this state (`succeededTrialList`, ...)."""
        return {
            TrialCondition.CREATED: "pendingTrialList",
            TrialCondition.RUNNING: "runningTrialList",
            TrialCondition.SUCCEEDED: "succeededTrialList",
            TrialCondition.KILLED: "killedTrialList",
            TrialCondition.FAILED: "failedTrialList",
            TrialCondition.METRICS_UNAVAILABLE: "metricsUnavailableTrialList",
            TrialCondition.EARLY_STOPPED: "earlyStoppedTrialList",
        }[self]


class EndReason(str, Enum):
    """Why an experiment ended, in the order Katib checks them each reconcile."""

    GOAL_REACHED = "ExperimentGoalReached"
    MAX_FAILED = "ExperimentFailed"
    MAX_TRIALS = "ExperimentMaxTrialsReached"
    SUGGESTION_END = "ExperimentSuggestionEndReached"

    def __str__(self) -> str:
        return self.value

    @property
    def succeeded(self) -> bool:
        return self is not EndReason.MAX_FAILED

    @property
    def message(self) -> str:
        return {
            EndReason.GOAL_REACHED: "Experiment has succeeded because Objective goal has reached",
            EndReason.MAX_FAILED: "Experiment has failed because max failed count has reached",
            EndReason.MAX_TRIALS: "Experiment has succeeded because max trial count has reached",
            EndReason.SUGGESTION_END: (
                "Experiment has succeeded because suggestion service has reached the end"
            ),
        }[self]
