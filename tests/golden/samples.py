"""One sample of every event type. The encoded bytes of each, as first written, live beside this
file as <tag>.v<schema>.msgpack and must decode with today's code into the sample (new fields take
their defaults). Run `python -m tests.golden.samples` to write samples for new types; it never
overwrites an existing file."""

from __future__ import annotations

import math
from pathlib import Path

from events.envelope import SCHEMA_VERSION, Record, encode_record
from events.schema import (
    AgentSessionEnded,
    AgentSessionStarted,
    BlobRef,
    BudgetCharged,
    Check,
    ClaimTested,
    Fingerprint,
    KeepRule,
    LlmExchanged,
    Phase,
    RunStarted,
    RunStopped,
    RunStopRequested,
    TrialCancelled,
    TrialClaimed,
    TrialEvaluated,
    TrialExecuted,
    TrialLost,
    TrialProgress,
    TrialProposed,
    TrialRetried,
    Usage,
    tag_of,
)

BLOB = BlobRef(sha256="ab" * 32, size=123)

_events = [
    RunStarted(run_id="run-1", environment="golf-mini", tier="micro", config={"trials": 3, "llm": None},
               seed=1, keep_rule=KeepRule(metric="val_bpb", direction="minimize", noise_margin=0.001),
               fingerprint=Fingerprint(hostname="h", platform="linux", python="3.11.7", packages={"torch": "2.13.0"},
                                       git_commit="deadbeef", accelerators=["cpu"], env_vars={"PYTHONHASHSEED": "0"}),
               baseline_code={"train.py": BLOB}),
    RunStopRequested(reason="patience", detail="20 trials without a new best", in_flight="cancel"),
    RunStopped(reason="patience", detail="done"),
    TrialProposed(trial_id="t1", agent="opt", surface="opt", parent_id="t0", hypothesis="lr up",
                  expected_delta=-0.002, code={"train.py": BLOB}, diff=BLOB, notes="n", session_id="s1"),
    TrialClaimed(trial_id="t1", attempt=1, executor="executor/0", node="node-a", resources={"CPU": 1.0, "GPU": 0.5}),
    TrialExecuted(trial_id="t1", attempt=1, executor="executor/0",
                  phases=[Phase(name="train", exit_code=0, wall_s=1.5, cpu_s=2.5, budget_s=60.0, peak_rss_bytes=10),
                          Phase(name="eval", exit_code=None, wall_s=31.0, cpu_s=30.0, budget_s=30.0, timed_out=True, signal=9)],
                  outputs={"model": BLOB}, log=BLOB, measurements={"artifact_bytes": 1.5e6}, gpu_s=0.0),
    TrialEvaluated(trial_id="t1", attempt=1, evaluator="evaluator/golf", evaluator_version="1",
                   verdict="eval_budget_overrun", score=math.nan, metrics={"val_bpb": math.inf},
                   checks=[Check(name="eval_budget", passed=False, evidence="31.0 s > 30.0 s", measured=31.0, limit=30.0)],
                   feedback="eval phase over budget"),
    TrialLost(trial_id="t1", attempt=1, reason="executor died"),
    TrialRetried(trial_id="t1", attempt=2, reason="lost"),
    TrialCancelled(trial_id="t1", reason="run stopped"),
    AgentSessionStarted(session_id="s1", agent="opt", proposer="llm", model="m", lineage_view=BLOB),
    AgentSessionEnded(session_id="s1", agent="opt", outcome="submitted", trial_id="t1", turns=5, detail=""),
    LlmExchanged(session_id="s1", agent="opt", call_seq=0, provider="openai", model="m", request=BLOB,
                 request_hash="cd" * 32, response=BLOB,
                 usage=Usage(input_tokens=10, cached_input_tokens=2, output_tokens=3, reasoning_tokens=1),
                 cost_usd=0.25, latency_s=1.5, http_status=200),
    BudgetCharged(resource="cpu_s", amount=12.5, agent=None, trial_id=None, reason="prepare"),
    ClaimTested(trial_id="t0007", parent_id="t0003", metric="val_loss", direction="minimize", seeds=[1, 2, 3],
                trial_scores=[2.061, 2.059, None], parent_scores=[2.069, 2.068, 2.070], improvement=0.0085,
                t_stat=6.9, p_value=0.004, min_delta=0.005, alpha=0.01, passed=True,
                detail="seed 3 of the trial was not valid (eval_budget_overrun)"),
    TrialProgress(trial_id="t1", attempt=1, phase="train", elapsed_s=12.5, budget_s=60.0, step=400, total_steps=1000,
                  metrics={"train_loss": 2.25}),
]

SAMPLES = {tag_of(type(e)): e for e in _events}
HERE = Path(__file__).parent


def sample_record(tag: str) -> Record:
    return Record(offset=42, stream="trial/t1", stream_version=3, event_id="0" * 32, producer="golden",
                  causation_id="1" * 32, wall_time_ns=1_700_000_000_000_000_000, event=SAMPLES[tag])


def golden_path(tag: str) -> Path:
    return HERE / f"{tag}.v{SCHEMA_VERSION}.msgpack"


if __name__ == "__main__":
    for tag in SAMPLES:
        path = golden_path(tag)
        if not path.exists():
            path.write_bytes(encode_record(sample_record(tag)))
            print("wrote", path)
