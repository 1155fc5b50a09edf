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


def generate(trials: int = 50, seed: int = 0, executors: int = 4, agents: int = 10,
             blobs: BlobStore | None = None, llm: bool = True) -> Iterator[NewEvent]:
    """Yield the events of a simulated run in the order its producers would append them."""
    rng = random.Random(seed)
    names = AGENTS[:agents] if agents <= len(AGENTS) else tuple(f"agent{i}" for i in range(agents))
    counter = iter(range(1 << 62))
    clock = [1_800_000_000_000_000_000]

    def put(data: bytes) -> BlobRef:
        if blobs is not None:
            return blobs.put(data)
        return BlobRef(sha256=hashlib.sha256(data).hexdigest(), size=len(data))

    def new(event, stream, producer, expected=None, cause=None) -> NewEvent:
        n = next(counter)
        return NewEvent(event=event, stream=stream, producer=producer, causation_id=cause,
                        event_id=hashlib.blake2b(f"{seed}:{n}".encode(), digest_size=16).hexdigest(),
                        expected_version=expected, wall_time_ns=clock[0])

    keep_rule = KeepRule(metric="val_bpb", direction="minimize", noise_margin=0.0)
    baseline = put(b"# baseline recipe\nlr = 0.02\n")
    yield new(RunStarted(
        run_id=f"synthetic-{seed}", environment="golf-mini", tier="synthetic", seed=seed,
        keep_rule=keep_rule, baseline_code={"train_gpt.py": baseline},
        config={"synthetic": True, "trials": trials, "executors": executors, "agents": list(names)},
        fingerprint=Fingerprint(hostname="synthetic", platform="synthetic", python="3.11")),
        RUN, "supervisor", NO_STREAM)

    scores: dict[str, float] = {}
    versions: dict[str, int] = {}
    best: list = [None, None]  # id, score
    pending: list = []  # heap of (time, seq, kind, payload)
    runnable: list[str] = []
    free = [f"executor/{i}" for i in range(executors)]
    proposed = 0

    def push(t, kind, payload):
        heapq.heappush(pending, (t, next(counter), kind, payload))

    def trial_event(tid, event, producer):
        v = versions[tid]
        versions[tid] = v + 1
        return new(event, trial_stream(tid), producer, v)

    def propose(agent: str | None):
        nonlocal proposed
        tid = f"t{proposed:06d}"
        proposed += 1
        idea = rng.choice(IDEAS)
        parent = best[0]
        session = f"{agent or 'baseline'}-s{proposed}"
        if agent:
            yield new(AgentSessionStarted(session_id=session, agent=agent, proposer="llm" if llm else "library",
                                          model="synthetic-model" if llm else None), agent_stream(agent), agent_stream(agent))
            for call in range(rng.randint(1, 3) if llm else 0):
                usage = Usage(input_tokens=rng.randint(2000, 9000), output_tokens=rng.randint(100, 900))
                yield new(LlmExchanged(
                    session_id=session, agent=agent, call_seq=call, provider="synthetic", model="synthetic-model",
                    request=put(f"request {session} {call}".encode()),
                    request_hash=hashlib.sha256(f"{session}:{call}".encode()).hexdigest(),
                    response=put(f"response {session} {call}".encode()), usage=usage,
                    cost_usd=usage.input_tokens * 1e-6 + usage.output_tokens * 4e-6,
                    latency_s=round(rng.uniform(0.5, 20.0), 3), http_status=200), agent_stream(agent), agent_stream(agent))
        versions[tid] = -1
        yield trial_event(tid, TrialProposed(
            trial_id=tid, agent=agent or "baseline", surface=agent or "baseline", parent_id=parent,
            hypothesis=f"{idea} ({agent or 'baseline'} #{proposed})" if agent else "the baseline recipe",
            expected_delta=round(rng.uniform(-0.01, 0.0), 4) if agent else None,
            code={"train_gpt.py": put(f"# {tid}\n{idea}\n".encode())},
            diff=put(f"--- a\n+++ b\n+{idea}\n".encode()) if agent else None,
            notes="", session_id=session if agent else None), agent and agent_stream(agent) or "supervisor")
        if agent:
            yield new(AgentSessionEnded(session_id=session, agent=agent, outcome="submitted", trial_id=tid, turns=4),
                      agent_stream(agent), agent_stream(agent))
        runnable.append(tid)
        parents[tid] = parent

    parents: dict[str, str | None] = {}
    attempts: dict[str, int] = {}
    owner: dict[str, str] = {}
    yield from propose(None)
    owner["t000000"] = "baseline"
    stopping = False
    t = 0.0
    while True:
        while free and runnable:
            tid, ex = runnable.pop(0), free.pop(0)
            attempts[tid] = attempts.get(tid, 0) + 1
            yield trial_event(tid, TrialClaimed(trial_id=tid, attempt=attempts[tid], executor=ex), ex)
            push(t + rng.uniform(30, 120), "done", (tid, ex))
        if not pending:
            break
        t, _, kind, payload = heapq.heappop(pending)
        clock[0] = 1_800_000_000_000_000_000 + int(t * 1e9)
        if kind == "propose":
            if not stopping and proposed - 1 < trials:
                yield from propose(payload)
                owner[f"t{proposed - 1:06d}"] = payload
            continue
        tid, ex = payload
        free.append(ex)
        attempt = attempts[tid]
        if rng.random() < 0.01:
            yield trial_event(tid, TrialLost(trial_id=tid, attempt=attempt, reason="executor died"), "supervisor")
            yield trial_event(tid, TrialRetried(trial_id=tid, attempt=attempt + 1, reason="lost"), "supervisor")
            runnable.append(tid)
            continue
        train = rng.uniform(20, 60)
        evals = rng.uniform(5, 30)
        yield trial_event(tid, TrialExecuted(
            trial_id=tid, attempt=attempt, executor=ex,
            phases=[Phase(name="smoke", exit_code=0, wall_s=1.5, cpu_s=1.2),
                    Phase(name="train", exit_code=0, wall_s=train, cpu_s=train * 1.9, budget_s=60.0),
                    Phase(name="eval", exit_code=0, wall_s=evals, cpu_s=evals * 1.9, budget_s=30.0)],
            measurements={"artifact_bytes": float(rng.randint(900_000, 1_100_000))}), ex)
        verdict = "valid" if owner[tid] == "baseline" else rng.choices(
            [o for o, _ in OUTCOMES], [w for _, w in OUTCOMES])[0]
        parent = parents[tid]
        score = None
        if verdict == "valid":
            base = scores.get(parent, 2.0) if parent else 2.0
            score = round(base + rng.gauss(0.004, 0.01), 6)
            scores[tid] = score
        yield trial_event(tid, TrialEvaluated(
            trial_id=tid, attempt=attempt, evaluator="evaluator/0", evaluator_version="synthetic-1",
            verdict=verdict, score=score,
            metrics={"artifact_bytes": 1.0e6, **({"val_bpb": score} if score is not None else {})},
            checks=[Check(name="artifact_bytes", passed=verdict != "size_blocked", measured=1.0e6, limit=1.0e6)],
            feedback=f"synthetic {verdict}"), "evaluator/0")
        yield new(BudgetCharged(resource="usd", amount=round(train * 0.0003, 6), agent=owner[tid],
                                trial_id=tid, reason="node hours"), "budget", ex)
        if verdict == "harness_abort":
            yield trial_event(tid, TrialRetried(trial_id=tid, attempt=attempt + 1, reason="harness_abort"), "supervisor")
            runnable.append(tid)
            continue
        if verdict == "valid" and is_better(score, best[1], keep_rule):
            best[:] = [tid, score]
        if owner[tid] == "baseline":
            for agent in names:
                push(t + rng.uniform(5, 60), "propose", agent)
        elif proposed - 1 < trials:
            push(t + rng.uniform(5, 60), "propose", owner[tid])
        if proposed - 1 >= trials and not stopping:
            stopping = True
            yield new(RunStopRequested(reason="trial_budget", detail=f"{trials} trials", in_flight="finish"),
                      RUN, "supervisor")
    yield new(RunStopped(reason="trial_budget"), RUN, "supervisor")


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
