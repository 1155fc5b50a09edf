"""An evaluator: turns each `TrialExecuted` into a `TrialEvaluated` with the environment's
evaluator, a pure function of the recorded outputs (and the held-out data on this node).

The verdict's id is fixed per trial attempt and it is appended at the trial stream's expected
version, so two evaluators, or one evaluator restarted mid-evaluation, record one verdict.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from actors.log_client import BlobsVia
from actors.reactor import Reactor, fact_id
from environments.spec import EnvironmentSpec
from events import Record, TrialExecuted
from events.projections.trials import EXECUTED


def evaluator_of(spec: EnvironmentSpec):
    """The environment's evaluator function, from its "module:function" name."""
    module, _, name = spec.evaluator.partition(":")
    return getattr(importlib.import_module(module), name)


class Evaluator(Reactor):
    role = "evaluator"

    def __init__(self, log, spec: EnvironmentSpec, name: str, data: Path | None, incarnation: int = 0):
        super().__init__(log, name, incarnation)
        self.spec, self.data = spec, data
        self.evaluate = evaluator_of(spec)
        self.blobs = BlobsVia(log)
        self.pending: dict[tuple[str, int], TrialExecuted] = {}
        self.evaluated = 0

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
            verdict = self.evaluate(executed, self.blobs, self.data, tier)
            stream = f"trial/{executed.trial_id}"
            self.append([self.event(verdict, stream, expected=self.version(stream),
                                    event_id=fact_id(self.state.run.run_id, "evaluated", *key))])
            self.evaluated += 1
            del self.pending[key]
            return True
        return []
