"""The shell around every reactor: the only code that appends to the log, stores blobs, runs
trials, calls evaluators and asks proposers (and through them, models).

`step` folds the log, asks the reactor to decide and carries the decision out; `run` steps
until the run has stopped, napping with backoff while nothing happens. The Ray actors
(actors/ray_actors.py), the local loop (actors/local_loop.py) and the driver reach it through
the reactor's `step`, `run` and `commit`. A piece of work is performed here and its result handed
back to the reactor, whose `concluded` says what to append.
"""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import replace

from actors.decisions import Append, Cancelled, Evaluate, Raised, RunTrial, Session, Unreadable, Work
from actors.failures import storage_failure
from actors.judge import judge
from actors.log_client import BlobsVia
from actors.progress import ProgressReporter
from actors.trial_runner import TrialPaths, TrialStopped, run_trial
from actors.zero_work import zero_work
from environments.progress import patterns_for
from events import WrongExpectedVersion
from events.blobs import BlobCorrupt, BlobMissing
from events.streams import progress_stream

IDLE_MIN_S = 0.002
REACT_EVERY_S = 1.0  # with no news, decide again this often anyway (deadlines are decisions in time)
CANCEL_CHECK_S = 0.5  # how often a running trial's executor folds the log to see a cancellation


def commit(reactor, decision: Append) -> bool:
    """Store the blobs, append the events as one batch and fold them; False when an expected
    version was stale (someone else acted first; the state is caught up either way)."""
    if not decision.events:
        return True
    for data in decision.blobs.values():
        reactor.log.put_blob(data)
    try:
        reactor.log.append(decision.events)
    except WrongExpectedVersion:
        reactor.catch_up()
        return False
    reactor.catch_up()
    return True


def step(reactor) -> bool:
    """One turn: catch up, decide, carry it out. True when the reactor acted. Merely seeing news
    does not count: a reactor that saw records and had nothing to do backs off like an idle one,
    or sixty idle executors would spin on every record the others append."""
    seen = reactor.catch_up()
    if reactor.finished():
        return False
    now = time.monotonic()
    if not seen and not reactor._dirty and now - reactor._last_react < REACT_EVERY_S:
        return False  # nothing new since a decision to do nothing: it would decide the same again
    decision = reactor.react()
    reactor._last_react = now
    if isinstance(decision, Work):
        perform(reactor, decision)
        acted = True
    else:
        acted = bool(decision)
        if acted:
            commit(reactor, decision)
    reactor._dirty = acted
    return acted


def run(reactor, should_exit=lambda: False) -> dict:
    """Step until the run has stopped, sleeping with backoff while nothing happens."""
    while not should_exit():
        if step(reactor):
            reactor.idle_s = IDLE_MIN_S
            continue
        if reactor.finished():
            break
        time.sleep(reactor.idle_s)
        reactor.idle_s = min(reactor.idle_s * 2, reactor.idle_max_s)
    return {"name": reactor.name, "offset": reactor.state.next_offset}


def perform(reactor, work: Work) -> None:
    """Claim the work, do it, and record what it came to."""
    if work.claim is not None and not commit(reactor, work.claim):
        if work.refused_nap_s:
            time.sleep(random.uniform(0, work.refused_nap_s))
        return
    result = PERFORMERS[type(work)](reactor, work)
    for _ in range(work.races):
        if commit(reactor, reactor.concluded(work, result)):
            return
    commit(reactor, reactor.out_raced(work, result))


def _run_trial(executor, work: RunTrial):
    """The trial's TrialExecuted, or Cancelled, Unreadable or Raised; a storage failure raises
    (no retry cures a full disk: the driver stops the run)."""
    tid, attempt, cfg = work.trial_id, work.attempt, executor.config
    try:
        code = {p: executor.log.get_blob(ref) for p, ref in work.code.items()}
    except (BlobCorrupt, BlobMissing) as exc:  # never run a recipe other than the one proposed
        return Unreadable(exc)
    blobs = BlobsVia(executor.log)
    started = time.monotonic()
    try:
        if cfg.runner == "zero":
            return zero_work(executor.spec, code, blobs, tid, attempt, executor.name)
        paths = TrialPaths(data=executor.data, scratch=executor.scratch, protected=executor.protected)
        progress = _progress(executor, tid, attempt)
        try:
            return run_trial(executor.spec, cfg.tier, code, paths, blobs, tid, attempt, executor.name,
                             keep_work=executor.keep_work, should_stop=_cancel_check(executor, tid, progress),
                             progress=progress)
        finally:
            progress.flush(force=True)
    except TrialStopped:
        return Cancelled()
    except Exception as exc:  # noqa: BLE001 - any other failure ends this attempt, recorded
        if storage_failure(exc) is not None:
            raise
        executor.catch_up()  # concluded from the log as it is now: the trial may have been cancelled meanwhile
        return Raised(exc)
    finally:
        executor.busy_s += time.monotonic() - started


def _progress(executor, tid: str, attempt: int) -> ProgressReporter:
    """trial.progress on its own stream, so no trial stream's version moves."""
    def send(point):
        executor.log.append([executor.event(point, progress_stream(tid))])

    return ProgressReporter(patterns_for(executor.spec), send, tid, attempt)


def _cancel_check(executor, tid: str, progress: ProgressReporter):
    last = [time.monotonic()]

    def should_stop() -> bool:
        progress.flush()
        if time.monotonic() - last[0] < CANCEL_CHECK_S:
            return False
        last[0] = time.monotonic()
        executor.catch_up()
        return executor.cancelled(tid)

    return should_stop


def _evaluate(evaluator, work: Evaluate):
    return judge(evaluator.evaluate, work.executed, BlobsVia(evaluator.log), evaluator.data, work.tier)


def _session(specialist, work: Session):
    """Ask the proposer; every model exchange goes to the log before the session acts on it. The
    specialist turns what came back (a proposal, an outcome, nothing, an exception) into the
    session's outcome."""
    calls = itertools.count(1)

    def record(exchange) -> None:
        commit(specialist, specialist.exchanged(work, exchange, next(calls)))
        specialist.catch_up()
        specialist.after_exchange()  # raises once the run is stopping: the session ends, recorded

    try:
        result = specialist.proposer.propose(replace(work.ctx, record=record))
    except Exception as exc:  # noqa: BLE001 - a proposer's bug ends its session, not the specialist
        result = exc
    return specialist.outcome_of(result)


PERFORMERS = {RunTrial: _run_trial, Evaluate: _evaluate, Session: _session}
