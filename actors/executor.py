"""An executor: claims the oldest runnable trial, runs it, records what it measured.

The claim carries the trial stream's expected version, so of two executors that see the same
trial one wins and the other moves on. The shell runs the trial in the sandboxed runner (or, for
loop benchmarks, the zero-work runner) while the executor keeps folding the log a few times a
second: a trial cancelled meanwhile is stopped. `TrialExecuted` has a fixed id per attempt, so
an executor that dies after appending it and before hearing back stores it once.

One executor runs one trial at a time. So when it starts (or its `run()` is called again after
it raised) and finds trials claimed under its own name, they are from an earlier attempt that
died mid-trial: it marks them lost and puts them back once (actors/attempts.py), and a trial lost
more than `max_attempts - 1` times is a harness_abort. An exception inside a trial (anything but
a cancellation) ends that attempt the same way, with the exception as the reason and evidence.
"""

from __future__ import annotations

import socket
from pathlib import Path

from actors.attempts import claimed, recover
from actors.decisions import Append, Cancelled, Raised, RunTrial, Unreadable
from actors.failures import describe, evidence
from actors.reactor import Reactor
from actors.scratch import clear_work_dirs
from environments.spec import EnvironmentSpec
from events import TrialClaimed, TrialExecuted
from events.projections.trials import CANCELLED, CLAIMED
from events.streams import trial_stream

CLAIM_BACKOFF_S = 0.01


class Executor(Reactor):
    role = "executor"
    idle_max_s = 0.05  # there may be dozens: idle ones look less often (a claim waits at most this)

    def __init__(self, log, spec: EnvironmentSpec, name: str, data: Path | None, scratch: Path,
                 resources: dict[str, float] | None = None, incarnation: int = 0, protected: tuple[Path, ...] = (),
                 keep_work: bool = False):
        super().__init__(log, name, incarnation)
        self.spec, self.data, self.scratch = spec, data, Path(scratch)
        self.keep_work = keep_work
        self.resources = resources or {}
        self.protected = protected
        self.node = socket.gethostname()
        self.recovered = False
        self.trials_run = 0
        self.busy_s = 0.0
        digits = "".join(ch for ch in name if ch.isdigit())
        self.index = int(digits) if digits else 0

    def run(self, should_exit=lambda: False) -> dict:
        # run() is called again after it raised (the log was unreachable, say): any attempt still
        # claimed under my name is from before, and nobody else will ever close it
        self.recovered = False
        return super().run(should_exit)

    def react(self):
        run = self.state.run
        if run.run_id is None:
            return Append()
        cfg = self.config
        if not self.recovered:
            self.recovered = True
            if not self.keep_work:
                clear_work_dirs(self.scratch)  # work dirs an earlier incarnation of me was killed in
            mine = claimed(self.state, self.name)
            if mine:
                return Append(recover(self, mine, f"{self.name} restarted while running it", cfg.max_attempts))
        if run.stop_requested:
            return Append()
        candidates = self.state.queue.oldest(8)
        if not candidates:
            return Append()
        at = self.index % len(candidates)  # executors start at different places in the queue: fewer claims collide
        row = self.state.trials.rows[candidates[at]]
        stream = trial_stream(row.trial_id)
        claim = TrialClaimed(trial_id=row.trial_id, attempt=row.attempt, executor=self.name, node=self.node,
                             resources=self.resources)
        return RunTrial(claim=Append([self.event(claim, stream, expected=self.version(stream))]),
                        refused_nap_s=CLAIM_BACKOFF_S, trial_id=row.trial_id, attempt=row.attempt, code=dict(row.code))

    def cancelled(self, tid: str) -> bool:
        """Whether the trial this executor runs should stop now (it was cancelled)."""
        row = self.state.trials.rows[tid]
        return row.phase == CANCELLED or (self.state.run.in_flight == "cancel" and row.phase == CLAIMED)

    def concluded(self, work: RunTrial, result) -> Append:
        tid, max_attempts = work.trial_id, self.config.max_attempts
        if isinstance(result, Cancelled):
            return Append()  # the cancellation is in the log already
        if isinstance(result, Unreadable):
            return Append(recover(self, [tid], f"its recipe could not be read: {result.error}", max_attempts))
        if isinstance(result, Raised):
            if self.state.trials.rows[tid].phase != CLAIMED:
                return Append()
            return Append(recover(self, [tid], f"{self.name} failed while running it: {describe(result.error)}",
                                  max_attempts, evidence=evidence(result.error)))
        assert isinstance(result, TrialExecuted)
        self.trials_run += 1
        stream = trial_stream(tid)
        return Append([self.fact(result, stream, "executed", tid, work.attempt, expected=self.version(stream))])
