"""The supervisor's decisions: the baseline trial, the stop conditions, and closing the run.

It starts nothing here (launching actors is the driver's job, autorecipe/driver.py) and judges
no trial. It proposes the baseline as t0000 so every later trial has a measured parent; turns
the first stop condition that holds into `RunStopRequested`; cancels what has not started (and,
in `cancel` mode, what is running); and appends `RunStopped` once no trial is open.

Stop conditions, checked in this order: the baseline failed; the trial budget is used and
judged; the deadline; patience (verdicts since the last new best); LLM spend; trial compute;
no specialist can propose any more (out of quota, or its proposer kept raising: `error`);
every specialist has nothing left to propose.
"""

from __future__ import annotations

import time

from actors.attempts import claimed, recover
from actors.config import BASELINE_ID
from actors.decisions import Append
from actors.reactor import Reactor
from agents.changes import code_sha256
from agents.proposer import STOPS_FOR_GOOD
from events import (
    NO_STREAM,
    AgentSessionEnded,
    Record,
    RunStopped,
    RunStopRequested,
    TrialCancelled,
    TrialEvaluated,
    TrialProposed,
)
from events.projections.trials import CLAIMED, EVALUATED, EXECUTED, RUNNABLE
from events.streams import RUN, trial_stream

OPEN = (RUNNABLE, CLAIMED, EXECUTED)


class Supervisor(Reactor):
    role = "supervisor"

    def __init__(self, log, agents: list[str], baseline_code: dict[str, bytes], clock=time.time, incarnation: int = 0):
        super().__init__(log, "supervisor", incarnation)
        self.agents = agents
        self.baseline_code = baseline_code
        self.clock = clock
        self.exhausted_at: dict[str, int] = {}
        self.out_of_quota: set[str] = set()  # agents stopped for good (out of quota, refused, their server gone)
        self.why_out: dict[str, tuple[str, str]] = {}
        self.failed: dict[str, str] = {}  # agents whose proposer kept raising: why
        self.last_verdict_at = -1

    def observe(self, rec: Record) -> None:
        ev = rec.event
        if isinstance(ev, AgentSessionEnded):
            if ev.outcome in STOPS_FOR_GOOD:
                self.out_of_quota.add(ev.agent)
                self.why_out[ev.agent] = (ev.outcome, ev.detail)
            elif ev.outcome == "failed":
                self.failed[ev.agent] = ev.detail
            elif ev.outcome == "exhausted":
                self.exhausted_at[ev.agent] = rec.offset
            else:
                self.exhausted_at.pop(ev.agent, None)
        elif isinstance(ev, TrialEvaluated):
            self.last_verdict_at = rec.offset

    def react(self):
        run, rows = self.state.run, self.state.trials.rows
        if run.run_id is None:
            return Append()
        if BASELINE_ID not in rows:
            return self._baseline()
        if not run.stop_requested:
            stop = self.stop_condition()
            if stop is None:
                return Append()
            reason, detail = stop
            at_stop = "finish" if reason in ("trial_budget", "exhausted", "baseline_failed") else self.config.at_stop
            return Append([self._stop_requested(reason, detail, at_stop)])
        return self._wind_down()

    def stop(self, reason: str, detail: str) -> Append:
        """Stop from outside the stop conditions (the driver lost every specialist, a user asked):
        the request to append, unless one is recorded already."""
        if self.state.run.stop_requested:
            return Append()
        return Append([self._stop_requested(reason, detail, "finish")])

    def _stop_requested(self, reason: str, detail: str, in_flight: str):
        return self.fact(RunStopRequested(reason=reason, detail=detail, in_flight=in_flight), RUN, "stop-requested")

    def recover_orphans(self, reason: str) -> list:
        """For `--resume`: every attempt claimed but never finished belongs to an executor of the
        crashed run."""
        orphans = claimed(self.state)
        return recover(self, orphans, reason, self.config.max_attempts) if orphans else []

    def recover_abandoned(self, executor: str) -> list:
        """An executor that will not come back: the attempts it had claimed are lost (and requeued)."""
        mine = claimed(self.state, executor)
        return recover(self, mine, f"{executor} died and was not restarted", self.config.max_attempts) if mine else []

    def _baseline(self) -> Append:
        out = Append()
        code = {p: out.blob(data) for p, data in sorted(self.baseline_code.items())}
        ev = TrialProposed(trial_id=BASELINE_ID, agent="baseline", surface="", parent_id=None,
                           hypothesis="the baseline recipe, unchanged", code=code,
                           code_sha256=code_sha256(self.baseline_code))
        out.events.append(self.event(ev, trial_stream(BASELINE_ID), expected=NO_STREAM))
        return out

    def stop_condition(self) -> tuple[str, str] | None:
        cfg, st = self.config, self.state
        rows = st.trials.rows
        base = rows[BASELINE_ID]
        if base.phase == EVALUATED and base.verdict != "valid":
            return "baseline_failed", f"the baseline recipe is not a valid trial ({base.verdict}): {base.feedback[:300]}"
        open_trials = sum(1 for r in rows.values() if r.phase in OPEN)
        if len(rows) - 1 >= cfg.trials and open_trials == 0:
            return "trial_budget", f"{cfg.trials} trials proposed and judged"
        if cfg.hours is not None and st.run.started_wall_ns is not None:
            elapsed_h = (self.clock() - st.run.started_wall_ns / 1e9) / 3600
            if elapsed_h >= cfg.hours:
                return "deadline", f"{elapsed_h:.2f} h since the run started (limit {cfg.hours} h)"
        if cfg.patience is not None:
            best_at = st.trials.best_history[-1].evaluated if st.trials.best_history else 0
            since = st.trials.evaluated - best_at
            if since >= cfg.patience:
                return "patience", f"{since} verdicts without a new best (patience {cfg.patience})"
        if cfg.cost_usd is not None and st.ledger.total.usd >= cfg.cost_usd:
            return "cost_budget", f"LLM spend ${st.ledger.total.usd:.2f} reached ${cfg.cost_usd:.2f}"
        if cfg.cpu_hours is not None and st.ledger.total.cpu_s >= cfg.cpu_hours * 3600:
            return "cost_budget", f"trial compute {st.ledger.total.cpu_s / 3600:.2f} CPU-h reached {cfg.cpu_hours}"
        active = [a for a in self.agents if a not in self.out_of_quota and a not in self.failed]
        if open_trials == 0 and self.agents and not active:
            if self.failed:
                why = "; ".join(f"{a}: {d[:300]}" for a, d in sorted(self.failed.items()))
                return "error", f"no specialist can propose any more ({why})"
            if all(self.why_out.get(a, ("quota",))[0] == "quota" for a in self.agents):
                return "cost_budget", "every specialist's model account is out of quota"
            causes = sorted({f"{a}: {why[1][:200]}" for a, why in self.why_out.items()})
            return "error", "no specialist can act: " + "; ".join(causes)
        if (open_trials == 0 and self.agents and all(a in self.exhausted_at for a in active)
                and all(self.exhausted_at[a] > self.last_verdict_at for a in active)):
            return "exhausted", "no specialist has anything left to propose"
        return None

    def _wind_down(self):
        run, rows = self.state.run, self.state.trials.rows
        cancel_phases = (RUNNABLE, CLAIMED) if run.in_flight == "cancel" else (RUNNABLE,)
        batch = []
        for r in rows.values():
            if r.phase in cancel_phases:
                why = "the run stopped before it started" if r.phase == RUNNABLE else "the run stopped (at_stop=cancel)"
                stream = trial_stream(r.trial_id)
                batch.append(self.event(TrialCancelled(trial_id=r.trial_id, reason=why), stream,
                                        expected=self.version(stream)))
        if batch:
            return Append(batch)
        if any(r.phase in OPEN for r in rows.values()):
            return Append()  # in flight: finishing
        return Append([self.fact(RunStopped(reason=run.stop_requested, detail=""), RUN, "stopped")])
