"""Synthetic run logs: a simulated trajectory with the shape of a real run.

Specialists propose edits on the current best, executors claim and run them, evaluators judge,
with the status mix of the reference system's Parameter Golf run (mostly discards, many size
failures, some crashes and overruns, rare keeps), harness aborts that are retried, lost
attempts, LLM exchanges and a stop. Everything is derived from the seed: the same seed gives the
same events, ids and wall times, byte for byte. Used by the benchmarks, the tests and
`autorecipe synth`; it is labelled synthetic in its RunStarted config.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from typing import Callable, Iterator

from events.blobs import BlobStore
from events.envelope import NO_STREAM, NewEvent
from events.projections.trials import is_better
from events.schema import (
    AgentSessionEnded,
    AgentSessionStarted,
    BlobRef,
    BudgetCharged,
    Check,
    Fingerprint,
    KeepRule,
    LlmExchanged,
    Phase,
    RunStarted,
    RunStopped,
    RunStopRequested,
    TrialClaimed,
    TrialEvaluated,
    TrialExecuted,
    TrialLost,
    TrialProposed,
    TrialRetried,
    Usage,
)
from events.streams import RUN, agent_stream, trial_stream

AGENTS = ("arch", "opt", "tok", "quant", "ttt", "curr", "loss", "reg", "eval", "meta")
IDEAS = (
    "raise the Muon learning rate on matrix params", "tie the input and output embeddings",
    "int6 quantization for the MLP weights", "sliding-window evaluation with stride 64",
    "warmdown over the last 30% of steps", "add a z-loss of 1e-4", "a 3x MLP with relu^2",
    "EMA of weights for the final checkpoint", "shorter sequences for the first 20% of steps",
    "drop the value-embedding table to save bytes", "label smoothing 0.05", "test-time LoRA rank 4",
)
# The reference system's Parameter Golf outcome mix (tree.tsv, 900 trials), as weights.
OUTCOMES = (("valid", 450), ("size_blocked", 297), ("eval_budget_overrun", 53),
            ("harness_abort", 42), ("crash", 38), ("train_budget_overrun", 10), ("preflight_crash", 10))


START_NS = 1_800_000_000_000_000_000  # the simulated run's wall clock at t = 0


def generate(trials: int = 50, seed: int = 0, executors: int = 4, agents: int = 10,
             blobs: BlobStore | None = None, llm: bool = True) -> Iterator[NewEvent]:
    """Yield the events of a simulated run in the order its producers would append them."""
    names = AGENTS[:agents] if agents <= len(AGENTS) else tuple(f"agent{i}" for i in range(agents))
    yield from _Simulation(trials, seed, executors, names, blobs, llm).events()


class _Simulation:
    """One simulated run: its clock, its executors, the trials waiting, running and scored. Every
    random draw comes from one generator, in the order the events need them."""

    def __init__(self, trials: int, seed: int, executors: int, names: tuple[str, ...], blobs: BlobStore | None,
                 llm: bool):
        self.trials, self.seed, self.executors, self.names, self.blobs, self.llm = (
            trials, seed, executors, names, blobs, llm)
        self.rng = random.Random(seed)
        self.counter = iter(range(1 << 62))  # event ids and the heap's tie-breaks, from one count
        self.clock = START_NS
        self.keep_rule = KeepRule(metric="val_bpb", direction="minimize", noise_margin=0.0)
        self.scores: dict[str, float] = {}
        self.versions: dict[str, int] = {}
        self.best: list = [None, None]  # id, score
        self.pending: list = []  # heap of (time, seq, kind, payload)
        self.runnable: list[str] = []
        self.free = [f"executor/{i}" for i in range(executors)]
        self.proposed = 0
        self.parents: dict[str, str | None] = {}
        self.attempts: dict[str, int] = {}
        self.owner: dict[str, str] = {}
        self.stopping = False

    def put(self, data: bytes) -> BlobRef:
        if self.blobs is not None:
            return self.blobs.put(data)
        return BlobRef(sha256=hashlib.sha256(data).hexdigest(), size=len(data))

    def new(self, event, stream, producer, expected=None, cause=None) -> NewEvent:
        n = next(self.counter)
        return NewEvent(event=event, stream=stream, producer=producer, causation_id=cause,
                        event_id=hashlib.blake2b(f"{self.seed}:{n}".encode(), digest_size=16).hexdigest(),
                        expected_version=expected, wall_time_ns=self.clock)

    def push(self, t, kind, payload) -> None:
        heapq.heappush(self.pending, (t, next(self.counter), kind, payload))

    def trial_event(self, tid, event, producer) -> NewEvent:
        v = self.versions[tid]
        self.versions[tid] = v + 1
        return self.new(event, trial_stream(tid), producer, v)

    def events(self) -> Iterator[NewEvent]:
        """The run: started, the baseline proposed, then claims, results and proposals in time order."""
        baseline = self.put(b"# baseline recipe\nlr = 0.02\n")
        yield self.new(RunStarted(
            run_id=f"synthetic-{self.seed}", environment="golf-mini", tier="synthetic", seed=self.seed,
            keep_rule=self.keep_rule, baseline_code={"train_gpt.py": baseline},
            config={"synthetic": True, "trials": self.trials, "executors": self.executors, "agents": list(self.names)},
            fingerprint=Fingerprint(hostname="synthetic", platform="synthetic", python="3.11")),
            RUN, "supervisor", NO_STREAM)
        yield from self.propose(None)
        self.owner["t000000"] = "baseline"
        t = 0.0
        while True:
            yield from self.claim(t)
            if not self.pending:
                break
            t, _, kind, payload = heapq.heappop(self.pending)
            self.clock = START_NS + int(t * 1e9)
            if kind == "propose":
                if not self.stopping and self.proposed - 1 < self.trials:
                    yield from self.propose(payload)
                    self.owner[f"t{self.proposed - 1:06d}"] = payload
                continue
            yield from self.done(t, *payload)
        yield self.new(RunStopped(reason="trial_budget"), RUN, "supervisor")

    def propose(self, agent: str | None) -> Iterator[NewEvent]:
        """A trial on the current best: the agent's session around it, or the baseline (no agent)."""
        rng = self.rng
        tid = f"t{self.proposed:06d}"
        self.proposed += 1
        idea = rng.choice(IDEAS)
        parent = self.best[0]
        session = f"{agent or 'baseline'}-s{self.proposed}"
        if agent:
            yield from self.session_started(agent, session)
        self.versions[tid] = -1
        yield self.trial_event(tid, TrialProposed(
            trial_id=tid, agent=agent or "baseline", surface=agent or "baseline", parent_id=parent,
            hypothesis=f"{idea} ({agent or 'baseline'} #{self.proposed})" if agent else "the baseline recipe",
            expected_delta=round(rng.uniform(-0.01, 0.0), 4) if agent else None,
            code={"train_gpt.py": self.put(f"# {tid}\n{idea}\n".encode())},
            diff=self.put(f"--- a\n+++ b\n+{idea}\n".encode()) if agent else None,
            notes="", session_id=session if agent else None), agent and agent_stream(agent) or "supervisor")
        if agent:
            yield self.new(AgentSessionEnded(session_id=session, agent=agent, outcome="submitted", trial_id=tid,
                                             turns=4), agent_stream(agent), agent_stream(agent))
        self.runnable.append(tid)
        self.parents[tid] = parent

    def session_started(self, agent: str, session: str) -> Iterator[NewEvent]:
        """An agent's session opening, and its model calls when the agent is an LLM."""
        rng, llm = self.rng, self.llm
        yield self.new(AgentSessionStarted(session_id=session, agent=agent, proposer="llm" if llm else "library",
                                           model="synthetic-model" if llm else None), agent_stream(agent), agent_stream(agent))
        for call in range(rng.randint(1, 3) if llm else 0):
            usage = Usage(input_tokens=rng.randint(2000, 9000), output_tokens=rng.randint(100, 900))
            yield self.new(LlmExchanged(
                session_id=session, agent=agent, call_seq=call, provider="synthetic", model="synthetic-model",
                request=self.put(f"request {session} {call}".encode()),
                request_hash=hashlib.sha256(f"{session}:{call}".encode()).hexdigest(),
                response=self.put(f"response {session} {call}".encode()), usage=usage,
                cost_usd=usage.input_tokens * 1e-6 + usage.output_tokens * 4e-6,
                latency_s=round(rng.uniform(0.5, 20.0), 3), http_status=200), agent_stream(agent), agent_stream(agent))

    def claim(self, t: float) -> Iterator[NewEvent]:
        """Free executors take runnable trials, each due to finish 30 to 120 s later."""
        while self.free and self.runnable:
            tid, ex = self.runnable.pop(0), self.free.pop(0)
            self.attempts[tid] = self.attempts.get(tid, 0) + 1
            yield self.trial_event(tid, TrialClaimed(trial_id=tid, attempt=self.attempts[tid], executor=ex), ex)
            self.push(t + self.rng.uniform(30, 120), "done", (tid, ex))

    def done(self, t: float, tid: str, ex: str) -> Iterator[NewEvent]:
        """An attempt ends: lost (1%) and retried, or executed, judged and charged; then what comes next."""
        rng = self.rng
        self.free.append(ex)
        attempt = self.attempts[tid]
        if rng.random() < 0.01:
            yield self.trial_event(tid, TrialLost(trial_id=tid, attempt=attempt, reason="executor died"), "supervisor")
            yield self.trial_event(tid, TrialRetried(trial_id=tid, attempt=attempt + 1, reason="lost"), "supervisor")
            self.runnable.append(tid)
            return
        train = rng.uniform(20, 60)
        evals = rng.uniform(5, 30)
        yield self.trial_event(tid, TrialExecuted(
            trial_id=tid, attempt=attempt, executor=ex,
            phases=[Phase(name="smoke", exit_code=0, wall_s=1.5, cpu_s=1.2),
                    Phase(name="train", exit_code=0, wall_s=train, cpu_s=train * 1.9, budget_s=60.0),
                    Phase(name="eval", exit_code=0, wall_s=evals, cpu_s=evals * 1.9, budget_s=30.0)],
            measurements={"artifact_bytes": float(rng.randint(900_000, 1_100_000))}), ex)
        verdict, score = self.judged(tid)
        yield self.trial_event(tid, TrialEvaluated(
            trial_id=tid, attempt=attempt, evaluator="evaluator/0", evaluator_version="synthetic-1",
            verdict=verdict, score=score,
            metrics={"artifact_bytes": 1.0e6, **({"val_bpb": score} if score is not None else {})},
            checks=[Check(name="artifact_bytes", passed=verdict != "size_blocked", measured=1.0e6, limit=1.0e6)],
            feedback=f"synthetic {verdict}"), "evaluator/0")
        yield self.new(BudgetCharged(resource="usd", amount=round(train * 0.0003, 6), agent=self.owner[tid],
                                     trial_id=tid, reason="node hours"), "budget", ex)
        if verdict == "harness_abort":
            yield self.trial_event(tid, TrialRetried(trial_id=tid, attempt=attempt + 1, reason="harness_abort"),
                                   "supervisor")
            self.runnable.append(tid)
            return
        if verdict == "valid" and is_better(score, self.best[1], self.keep_rule):
            self.best[:] = [tid, score]
        yield from self.next_proposals(t, tid)

    def judged(self, tid: str) -> tuple[str, float | None]:
        """A verdict drawn from the reference mix (the baseline is valid), and a valid trial's score near its parent's."""
        rng = self.rng
        verdict = "valid" if self.owner[tid] == "baseline" else rng.choices(
            [o for o, _ in OUTCOMES], [w for _, w in OUTCOMES])[0]
        parent = self.parents[tid]
        score = None
        if verdict == "valid":
            base = self.scores.get(parent, 2.0) if parent else 2.0
            score = round(base + rng.gauss(0.004, 0.01), 6)
            self.scores[tid] = score
        return verdict, score

    def next_proposals(self, t: float, tid: str) -> Iterator[NewEvent]:
        """After the baseline every agent proposes; after an agent's trial that agent again, until the budget is spent."""
        if self.owner[tid] == "baseline":
            for agent in self.names:
                self.push(t + self.rng.uniform(5, 60), "propose", agent)
        elif self.proposed - 1 < self.trials:
            self.push(t + self.rng.uniform(5, 60), "propose", self.owner[tid])
        if self.proposed - 1 >= self.trials and not self.stopping:
            self.stopping = True
            yield self.new(RunStopRequested(reason="trial_budget", detail=f"{self.trials} trials", in_flight="finish"),
                           RUN, "supervisor")


def write(store_append: Callable, events: Iterator[NewEvent], batch: int = 100) -> int:
    """Append `events` in batches through `store_append` (EventStore.append); returns the count."""
    buf: list[NewEvent] = []
    n = 0
    for ev in events:
        buf.append(ev)
        if len(buf) >= batch:
            store_append(buf)
            n += len(buf)
            buf = []
    if buf:
        store_append(buf)
        n += len(buf)
    return n
