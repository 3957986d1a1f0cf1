"""Whether a failed attempt gets another one, and when: Argo's processNodeRetries."""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import ExpressionError
from engine.expressions import evaluate_expr
from engine.phases import NodePhase
from engine.spec import RetryPolicy, RetryStrategy
from engine.state import NodeRecord
from engine.values import parse_duration


@dataclass(frozen=True)
class RetryDecision:
    done: bool
    phase: NodePhase = NodePhase.SUCCEEDED  # the Retry node's phase when done
    message: str = ""
    next_attempt_at: float = 0.0


def decide_retry(
    strategy: RetryStrategy,
    attempts: list[NodeRecord],
    now: float,
    *,
    deadline_passed: bool = False,
) -> RetryDecision:
    last = attempts[-1]
    if last.phase is NodePhase.SUCCEEDED or not last.phase.is_failure:
        return RetryDecision(True, last.phase, last.message)
    policy = strategy.retry_policy or (
        RetryPolicy.ALWAYS
        if strategy.expression and strategy.retry_policy is None
        else RetryPolicy.ON_FAILURE
    )
    retryable = (
        policy is RetryPolicy.ALWAYS
        or (policy is RetryPolicy.ON_FAILURE and last.phase is NodePhase.FAILED)
        or (policy is RetryPolicy.ON_ERROR and last.phase is NodePhase.ERROR)
        or (policy is RetryPolicy.ON_TRANSIENT_ERROR and _transient(last.message))
    )
    if not retryable:
        return RetryDecision(True, last.phase, last.message)
    if deadline_passed:
        return RetryDecision(True, last.phase, "retry exceeded workflow deadline")
    if strategy.limit is not None:
        try:
            limit = int(strategy.limit)
        except ValueError:
            return RetryDecision(
                True, NodePhase.ERROR, f"retryStrategy.limit {strategy.limit!r} is not an integer"
            )
        if len(attempts) > limit:
            return RetryDecision(True, last.phase, "No more retries left")
    if strategy.expression:
        env = {
            "lastRetry": {
                "exitCode": last.exit_code if last.exit_code is not None else -1,
                "status": last.phase.value,
                "duration": (last.finished_at or now) - (last.started_at or now),
                "message": last.message,
            }
        }
        try:
            if not evaluate_expr(strategy.expression, env):
                return RetryDecision(True, last.phase, last.message)
        except ExpressionError as exc:
            return RetryDecision(True, NodePhase.ERROR, f"retryStrategy.expression: {exc}")
    wait = 0.0
    backoff = strategy.backoff
    if backoff is not None:
        try:
            base = parse_duration(backoff.duration, field="backoff.duration") or 0.0
            factor = float(backoff.factor) if backoff.factor is not None else 1.0
            cap = parse_duration(backoff.cap, field="backoff.cap")
            max_duration = parse_duration(backoff.max_duration, field="backoff.maxDuration")
        except ValueError as exc:
            return RetryDecision(True, NodePhase.ERROR, str(exc))
        wait = base * factor ** (len(attempts) - 1)
        if cap is not None:
            wait = min(wait, cap)
        first_start = attempts[0].started_at or now
        if max_duration is not None and (now + wait) > first_start + max_duration:
            return RetryDecision(True, last.phase, "Max duration limit exceeded")
    return RetryDecision(False, next_attempt_at=(last.finished_at or now) + wait)


def _transient(message: str) -> bool:
    text = message.lower()
    return any(
        s in text
        for s in ("transient", "connection reset", "timeout", "temporarily", "unavailable")
    )
