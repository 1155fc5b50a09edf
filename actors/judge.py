"""Judging one execution with the environment's evaluator: a pure function of the recorded
outputs (and the held-out data on this node). An evaluator that raises is asked once more; then
the verdict is `harness_abort` with the exception as its evidence."""

from __future__ import annotations

import importlib

from actors.failures import describe, evidence, storage_failure
from environments.spec import EnvironmentSpec
from events import Check, TrialEvaluated, TrialExecuted

TRIES = 2  # a failed evaluation is tried once more (a blob read that failed once), then given up


def evaluator_of(spec: EnvironmentSpec):
    """The environment's evaluator function, from its "module:function" name."""
    module, _, name = spec.evaluator.partition(":")
    return getattr(importlib.import_module(module), name)


def judge(evaluate, executed: TrialExecuted, blobs, data, tier, tries: int = TRIES) -> TrialEvaluated:
    """`evaluate`'s verdict, or after `tries` exceptions a harness_abort that records the last."""
    for _ in range(tries):
        try:
            return evaluate(executed, blobs, data, tier)
        except Exception as exc:  # noqa: BLE001 - recorded as the verdict's evidence
            if storage_failure(exc) is not None:
                raise
            failure = exc
    return harness_abort(executed, f"the evaluator raised {describe(failure)} ({tries} tries)", evidence(failure))


def harness_abort(executed: TrialExecuted, feedback: str, why: str) -> TrialEvaluated:
    return TrialEvaluated(trial_id=executed.trial_id, attempt=executed.attempt, evaluator="harness",
                          evaluator_version="1", verdict="harness_abort", feedback=feedback,
                          checks=[Check(name="evaluator", passed=False, evidence=why)])
