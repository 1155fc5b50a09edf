"""An evaluator: turns each `TrialExecuted` into a `TrialEvaluated` with the environment's
evaluator, a pure function of the recorded outputs (and the held-out data on this node).

The verdict's id is fixed per trial attempt and it is appended at the trial stream's expected
version, so two evaluators, or one evaluator restarted mid-evaluation, record one verdict.

An evaluator that raises on a trial's outputs (a missing file, a bug), or that cannot even be
imported, is asked once more; then the verdict is `harness_abort` with the exception as its
evidence. The run goes on: a failure to judge is never a silent wait.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from actors.failures import describe, evidence, storage_failure
from actors.log_client import BlobsVia
from actors.reactor import Reactor, fact_id
from environments.spec import EnvironmentSpec
from events import Check, Record, TrialEvaluated, TrialExecuted
from events.projections.trials import EXECUTED

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


class Evaluator(Reactor):
    role = "evaluator"

    def __init__(self, log, spec: EnvironmentSpec, name: str, data: Path | None, incarnation: int = 0):
        super().__init__(log, name, incarnation)
        self.spec, self.data = spec, data
        self.blobs = BlobsVia(log)
        self.pending: dict[tuple[str, int], TrialExecuted] = {}
        self.evaluated = 0
        self.evaluate, self.unloadable = None, None
        for _ in range(TRIES):
            try:
                self.evaluate = evaluator_of(spec)
                break
            except Exception as exc:  # noqa: BLE001 - every trial gets this as its verdict's evidence
                self.unloadable = exc

    def observe(self, rec: Record) -> None:
        if isinstance(rec.event, TrialExecuted):
            self.pending[(rec.event.trial_id, rec.event.attempt)] = rec.event

    def react(self):
        for key in list(self.pending):
            executed = self.pending[key]
            row = self.state.trials.rows.get(executed.trial_id)
            if row is None or row.phase != EXECUTED or row.attempt != executed.attempt:
                del self.pending[key]  # judged by someone else, cancelled, or a stale attempt
                continue
            tier = self.spec.tier(self.state.run.tier)
            if self.evaluate is None:
                verdict = harness_abort(executed, f"the evaluator {self.spec.evaluator} cannot be loaded: "
                                        f"{describe(self.unloadable)}", evidence(self.unloadable))
            else:
                verdict = judge(self.evaluate, executed, self.blobs, self.data, tier)
            stream = f"trial/{executed.trial_id}"
            self.append([self.event(verdict, stream, expected=self.version(stream),
                                    event_id=fact_id(self.state.run.run_id, "evaluated", *key))])
            self.evaluated += 1
            del self.pending[key]
            return True
        return []
