"""An evaluator: turns each `TrialExecuted` into a `TrialEvaluated` with the environment's
evaluator, a pure function of the recorded outputs (and the held-out data on this node).

The verdict's id is fixed per trial attempt and it is appended at the trial stream's expected
version, so two evaluators, or one evaluator restarted mid-evaluation, record one verdict.

An evaluator that raises on a trial's outputs (a missing file, a bug), or that cannot even be
imported, is asked once more; then the verdict is `harness_abort` with the exception as its
evidence (actors/judge.py). The run goes on: a failure to judge is never a silent wait.
"""

from __future__ import annotations

from pathlib import Path

from actors.decisions import Append, Evaluate
from actors.failures import describe, evidence
from actors.judge import TRIES, evaluator_of, harness_abort
from actors.reactor import Reactor
from environments.spec import EnvironmentSpec
from events import Record, TrialEvaluated, TrialExecuted
from events.projections.trials import EXECUTED
from events.streams import trial_stream


class Evaluator(Reactor):
    role = "evaluator"

    def __init__(self, log, spec: EnvironmentSpec, name: str, data: Path | None, incarnation: int = 0):
        super().__init__(log, name, incarnation)
        self.spec, self.data = spec, data
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
            work = Evaluate(executed=executed, tier=self.spec.tier(self.state.run.tier))
            if self.evaluate is None:
                return self.concluded(work, harness_abort(executed, f"the evaluator {self.spec.evaluator} cannot be "
                                                          f"loaded: {describe(self.unloadable)}",
                                                          evidence(self.unloadable)))
            return work
        return Append()

    def concluded(self, work: Evaluate, verdict: TrialEvaluated) -> Append:
        """The verdict, once per attempt; the pending entry goes once the verdict is folded."""
        executed = work.executed
        self.evaluated += 1
        stream = trial_stream(executed.trial_id)
        return Append([self.fact(verdict, stream, "evaluated", executed.trial_id, executed.attempt,
                                 expected=self.version(stream))])
