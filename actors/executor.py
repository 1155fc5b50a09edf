"""An executor: claims the oldest runnable trial, runs it, records what it measured.

The claim carries the trial stream's expected version, so of two executors that see the same
trial one wins and the other moves on. The trial runs in the sandboxed trial runner (or, for
loop benchmarks, the zero-work runner) while the executor keeps folding the log a few times a
second: a trial cancelled meanwhile is stopped. `TrialExecuted` has a fixed id per attempt, so
an executor that dies after appending it and before hearing back stores it once.

One executor runs one trial at a time. So when it starts (or its `run()` is called again after
it raised) and finds trials claimed under its own name, they are from an earlier attempt that
died mid-trial: it marks them lost and puts them back once (`recover`), and a trial lost more
than `max_attempts - 1` times is a harness_abort. An exception inside a trial (anything but a
cancellation) ends that attempt the same way, with the exception as the reason and evidence.
"""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

from actors.config import RunConfig
from actors.failures import describe, evidence, storage_failure
from actors.log_client import BlobsVia
from actors.progress import ProgressReporter
from actors.reactor import Reactor, fact_id
from actors.scratch import clear_work_dirs
from actors.trial_runner import TrialPaths, TrialStopped, run_trial
from environments.progress import patterns_for
from environments.spec import EnvironmentSpec
from events import (
    Check,
    NewEvent,
    Phase,
    RunState,
    TrialClaimed,
    TrialEvaluated,
    TrialExecuted,
    TrialLost,
    TrialRetried,
)
from events.blobs import BlobCorrupt, BlobMissing
from events.projections.trials import CANCELLED, CLAIMED

CANCEL_CHECK_S = 0.5
CLAIM_BACKOFF_S = 0.01


def recover(reactor: Reactor, trial_ids: list[str], reason: str, max_attempts: int,
            evidence: str = "") -> list[NewEvent]:
    """Events that close attempts which ended without a result: each is lost, and runs again
    unless it has used its attempts, in which case it is a harness_abort (an infrastructure
    failure, hidden from agents) whose `harness` check carries `evidence` (an exception)."""
    state: RunState = reactor.state
    out = []
    for tid in trial_ids:
        row = state.trials.rows[tid]
        stream = f"trial/{tid}"
        run_id = state.run.run_id
        out.append(reactor.event(TrialLost(trial_id=tid, attempt=row.attempt, reason=reason), stream,
                                 expected=reactor.version(stream), event_id=fact_id(run_id, "lost", tid, row.attempt)))
        if row.attempt < max_attempts:
            nxt = TrialRetried(trial_id=tid, attempt=row.attempt + 1, reason=reason)
            out.append(reactor.event(nxt, stream, event_id=fact_id(run_id, "retried", tid, row.attempt + 1)))
        else:
            verdict = TrialEvaluated(trial_id=tid, attempt=row.attempt, evaluator="supervisor", evaluator_version="1",
                                     verdict="harness_abort", feedback=f"{reason}; lost {row.attempt} times",
                                     checks=[Check(name="harness", passed=False, evidence=evidence)] if evidence else [])
            out.append(reactor.event(verdict, stream, event_id=fact_id(run_id, "evaluated", tid, row.attempt)))
    return out


def zero_work(spec: EnvironmentSpec, code: dict[str, bytes], blobs, trial_id: str, attempt: int,
              executor: str) -> TrialExecuted:
    """A trial that runs nothing: each recipe file comes back as out/<name>, every phase took no
    time. For measuring the loop itself, with an environment whose evaluator scores the recipe
    (environments/dryrun)."""
    outputs = {f"out/{Path(p).name}": blobs.put(data) for p, data in sorted(code.items())}
    phases = [Phase(name=p.name, exit_code=0, wall_s=0.0, cpu_s=0.0) for p in spec.phases]
    return TrialExecuted(trial_id=trial_id, attempt=attempt, executor=executor, phases=phases, outputs=outputs)


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
        self.blobs = BlobsVia(log)
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
            return []
        cfg = self.config
        if not self.recovered:
            self.recovered = True
            if not self.keep_work:
                clear_work_dirs(self.scratch)  # work dirs an earlier incarnation of me was killed in
            mine = [r.trial_id for r in self.state.trials.rows.values() if r.phase == CLAIMED and r.executor == self.name]
            if mine:
                return recover(self, mine, f"{self.name} restarted while running it", cfg.max_attempts)
        if run.stop_requested:
            return []
        candidates = self.state.queue.oldest(8)
        if candidates:  # executors start at different places in the queue, so fewer claims collide
            at = self.index % len(candidates)
            candidates = candidates[at:] + candidates[:at]
        for tid in candidates:
            row = self.state.trials.rows[tid]
            stream = f"trial/{tid}"
            claim = TrialClaimed(trial_id=tid, attempt=row.attempt, executor=self.name, node=self.node,
                                 resources=self.resources)
            if not self.append([self.event(claim, stream, expected=self.version(stream))]):
                time.sleep(random.uniform(0, CLAIM_BACKOFF_S))  # another executor won it; let the herd thin
                return True
            self._execute(tid, row.attempt, cfg)
            return True
        return []

    def _execute(self, tid: str, attempt: int, cfg: RunConfig) -> None:
        row = self.state.trials.rows[tid]
        try:
            code = {p: self.log.get_blob(ref) for p, ref in row.code.items()}
        except (BlobCorrupt, BlobMissing) as exc:  # never run a recipe other than the one proposed
            self.append(recover(self, [tid], f"its recipe could not be read: {exc}", cfg.max_attempts))
            return
        started = time.monotonic()
        try:
            if cfg.runner == "zero":
                executed = zero_work(self.spec, code, self.blobs, tid, attempt, self.name)
            else:
                paths = TrialPaths(data=self.data, scratch=self.scratch, protected=self.protected)
                progress = self._progress(tid, attempt)
                try:
                    executed = run_trial(self.spec, cfg.tier, code, paths, self.blobs, tid, attempt, self.name,
                                         keep_work=self.keep_work, should_stop=self._cancel_check(tid, progress),
                                         progress=progress)
                finally:
                    progress.flush(force=True)
        except TrialStopped:
            return  # the cancellation is in the log already
        except Exception as exc:  # noqa: BLE001 - any other failure ends this attempt, recorded
            if storage_failure(exc) is not None:
                raise  # no retry cures a full disk: the driver stops the run
            self.catch_up()
            if self.state.trials.rows[tid].phase == CLAIMED:
                self.append(recover(self, [tid], f"{self.name} failed while running it: {describe(exc)}",
                                    cfg.max_attempts, evidence=evidence(exc)))
            return
        finally:
            self.busy_s += time.monotonic() - started
        self.trials_run += 1
        stream = f"trial/{tid}"
        self.append([self.event(executed, stream, expected=self.version(stream),
                                event_id=fact_id(self.state.run.run_id, "executed", tid, attempt))])

    def _progress(self, tid: str, attempt: int) -> ProgressReporter:
        """trial.progress on its own stream, so no trial stream's version moves."""
        def send(point):
            self.log.append([self.event(point, f"progress/{tid}")])

        return ProgressReporter(patterns_for(self.spec), send, tid, attempt)

    def _cancel_check(self, tid: str, progress: ProgressReporter | None = None):
        last = [time.monotonic()]

        def should_stop() -> bool:
            if progress is not None:
                progress.flush()
            if time.monotonic() - last[0] < CANCEL_CHECK_S:
                return False
            last[0] = time.monotonic()
            self.catch_up()
            row = self.state.trials.rows[tid]
            return row.phase == CANCELLED or (self.state.run.in_flight == "cancel" and row.phase == CLAIMED)

        return should_stop

