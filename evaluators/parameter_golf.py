"""The Parameter Golf evaluator, from the upstream run's log and artifact files.

Priority, first match wins (the reference harness's VALID / DQ_SIZE / DQ_TRAIN / DQ_EVAL /
CRASH / INCOMPLETE, in our labels):
  1. disqualified          a forbidden behaviour was reported by the sandbox's audit
  2. size_blocked          the smoke run's packed artifact was over the cap (the full run was skipped)
  3. preflight_crash       the smoke run failed otherwise
  4. train_budget_overrun  the train watchdog fired, or the logged train_time passed the cap by more
                           than the tolerance (a forced last step can overshoot: never trust steps)
  5. crash                 the run failed, or wrote no artifact
  6. size_blocked          code bytes + compressed model bytes > the decimal cap, from the files
  7. eval_budget_overrun   the eval watchdog fired
  8. crash (incomplete)    no final metric line (or none of the name option score_line gives)
  9. valid                 score = the scored line's val_bpb: the record's last final metric line
                           (round trip, sliding window, legal TTT, ...; evaluators/parameter_golf_log.py)

Code bytes are those the launcher counted by the record's rule (harness/pg_pack.py), printed on
the phase's first line before the recipe ran; model bytes are the artifact files' sizes.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from environments.spec import Tier
from evaluators import parameter_golf_log as pglog
from evaluators.verdict import failed, legality_checks, log_text, run_failure, verdict
from events import BlobStore, Check, TrialEvaluated, TrialExecuted

NAME, VERSION = "parameter-golf", "2"
FORBIDDEN = ("read_protected", "network", "write_outside", "edit_harness")
CODE_LINE = re.compile(r"^autorecipe-code: train_gpt.py bytes=(\d+) sha256=([0-9a-f]{64})"
                       r"(?: counted=(\d+) rule=(\S+))?$")
SMOKE_PACK = re.compile(r"^smoke_pack_bytes: total=(\d+) code=(\d+) model=(\d+) cap=(\d+)", re.M)


def evaluate(executed: TrialExecuted, blobs: BlobStore, data: Path, tier: Tier) -> TrialEvaluated:
    checks = legality_checks(executed, blobs, FORBIDDEN)
    broken = [c for c in checks if not c.passed]
    if broken:
        return _v(executed, "disqualified", "Disqualified: " + "; ".join(f"{c.name} ({c.evidence})" for c in broken)
                  + ".", checks)
    phases = {p.name: p for p in executed.phases}
    cap = int(tier.limits["artifact_bytes"])
    stopped = _smoke_gate(executed, blobs, phases.get("smoke"), cap, checks)
    if stopped is not None:
        return stopped
    log = log_text(executed, blobs, "run")
    train, evals = phases.get("train"), phases.get("eval")
    logged = pglog.train_time_s(log)
    metrics = {"train_s": logged or 0.0}
    stopped = _train_gate(executed, train, logged, tier, checks, metrics)
    if stopped is not None:
        return stopped

    artifacts = {k: ref for k, ref in executed.outputs.items()
                 if k.startswith("out/") and fnmatch.fnmatch(k[4:], _artifact_glob(tier)) and k != "out/train_gpt.py"}
    ended_in_eval = evals is not None and evals.timed_out
    run_phase = evals or train
    if run_phase is None or (failed(run_phase) and not ended_in_eval) or not artifacts:
        why = run_failure(run_phase, log) if run_phase is not None and failed(run_phase) else \
            "it wrote no compressed model file"
        checks.append(Check(name="run", passed=False, evidence=why))
        return _v(executed, "crash", f"Crash: {why}.", checks, metrics)
    stopped, total = _size_gate(executed, log, artifacts, cap, checks, metrics)
    if stopped is not None:
        return stopped
    if ended_in_eval:
        checks.append(Check(name="eval_watchdog", passed=False, measured=evals.wall_s, limit=evals.budget_s,
                            evidence=f"evaluation ran {evals.wall_s:.0f} s wall; cap {evals.budget_s:.0f} s"))
        return _v(executed, "eval_budget_overrun", f"Evaluation ran over: {checks[-1].evidence}. Cut eval work: "
                  "a longer stride, fewer TTT epochs or chunks.", checks, metrics)
    return _scored(executed, log, evals, tier, f"artifact {total:,} of {cap:,} bytes; train_time {logged:.1f} s",
                   checks, metrics)


def _smoke_gate(executed: TrialExecuted, blobs: BlobStore, smoke, cap: int, checks: list[Check]
                ) -> TrialEvaluated | None:
    """The smoke run (a short run up to the artifact): a verdict if it failed, else None and a passed check."""
    smoke_log = log_text(executed, blobs, "smoke")
    if smoke is None or failed(smoke) or smoke.timed_out:
        packed = SMOKE_PACK.search(smoke_log)
        if packed and int(packed[1]) > int(packed[4]):
            total, code, model = (int(packed[i]) for i in (1, 2, 3))
            checks.append(_size_check(total, code, model, cap))
            return _v(executed, "size_blocked", f"Size blocked at the smoke run: the artifact is {total - cap:,} bytes "
                      f"over the {cap:,}-byte cap (code {code:,}, model {model:,}); the full run was skipped. Cut "
                      "bytes: fewer parameters, fewer bits, a better compressor, or shorter code.", checks,
                      {"artifact_bytes": float(total)})
        why = run_failure(smoke, smoke_log)
        checks.append(Check(name="smoke", passed=False, evidence=why))
        return _v(executed, "preflight_crash", f"The smoke run (a short run up to the artifact) failed: {why}. "
                  "No full run was spent.", checks)
    checks.append(Check(name="smoke", passed=True, evidence=(SMOKE_PACK.search(smoke_log) or [""])[0]))
    return None


def _train_gate(executed: TrialExecuted, train, logged: float | None, tier: Tier, checks: list[Check],
                metrics: dict) -> TrialEvaluated | None:
    """The training time: the watchdog's, then the logged train_time against the cap plus tolerance."""
    limit_s, tol = tier.limits["train_s"], tier.limits["tolerance_s"]
    if train is not None and train.timed_out:
        checks.append(Check(name="train_watchdog", passed=False, measured=train.wall_s, limit=train.budget_s,
                            evidence=f"training had not ended after {train.wall_s:.0f} s wall (watchdog at "
                                     f"{train.budget_s:.0f} s, start-up included)"))
        return _v(executed, "train_budget_overrun", f"Training ran over: {checks[-1].evidence}. Keep the "
                  "wallclock stop (MAX_WALLCLOCK_SECONDS) working.", checks, metrics)
    if logged is None:  # a run that trained prints train_time; one that did not is not trusted
        checks.append(Check(name="train_time", passed=False, limit=limit_s + tol,
                            evidence="the log has no train_time: line, so the training time cannot be checked"))
        return _v(executed, "crash", "Crash: the run printed no train_time: line; keep the training loop's "
                  "step/stop logging.", checks, metrics)
    checks.append(Check(name="train_time", passed=logged <= limit_s + tol, measured=logged, limit=limit_s + tol,
                        evidence=f"logged train_time {logged:.3f} s; cap {limit_s:g} s + {tol:g} s tolerance"))
    if logged > limit_s + tol:
        return _v(executed, "train_budget_overrun", f"Training ran over: {checks[-1].evidence}. A forced last step "
                  "or a late stop check pushes past the cap.", checks, metrics)
    return None


def _size_gate(executed: TrialExecuted, log: str, artifacts: dict, cap: int, checks: list[Check], metrics: dict
               ) -> tuple[TrialEvaluated | None, int]:
    """Code bytes (the launcher's count) plus model bytes (the artifact files) against the cap:
    (a verdict if over or uncounted, else None; the total)."""
    code = CODE_LINE.match(log.split("\n", 1)[0])
    if code is None:
        return _v(executed, "crash", "Crash: the launcher's code line is missing from the run's log.", checks,
                  metrics), 0
    code_bytes, model_bytes = int(code[3] or code[1]), sum(ref.size for ref in artifacts.values())
    rule = code[4] or "raw"
    total = code_bytes + model_bytes
    checks.append(_size_check(total, code_bytes, model_bytes, cap))
    metrics |= {"artifact_bytes": float(total), "code_bytes": float(code_bytes), "model_bytes": float(model_bytes)}
    if total > cap:
        return _v(executed, "size_blocked", f"Size blocked: the artifact is {total - cap:,} bytes over the {cap:,}-byte "
                  f"cap (code {code_bytes:,} by the {rule} rule, model {model_bytes:,}). Cut bytes: fewer parameters, "
                  "fewer bits, a better compressor, or shorter code.", checks, metrics), total
    return None, total


def _scored(executed: TrialExecuted, log: str, evals, tier: Tier, spent: str, checks: list[Check],
            metrics: dict) -> TrialEvaluated:
    """The scored line's val_bpb: valid, or incomplete where the run printed none."""
    want = tier.env.get("AUTORECIPE_PG_SCORE_LINE", "last")
    scored = pglog.score(log, want)
    if scored is None:
        which = "final metric line" if want == "last" else f"{want} line (option score_line)"
        return _v(executed, "crash", f"Incomplete: the run ended without a {which} carrying val_bpb after "
                  "quantization.", checks, metrics)
    line, bpb = scored.line, scored.val_bpb
    metrics |= {"val_bpb": bpb, "eval_s": evals.wall_s if evals else 0.0}
    if scored.val_loss is not None:  # nats: the unit of the record bar (autorecipe confirm)
        metrics["val_loss"] = scored.val_loss
    return _v(executed, "valid", f"Valid: {bpb:.6f} val_bpb ({line}); {spent}, eval {metrics['eval_s']:.1f} s wall.",
              checks, metrics, score=bpb)


def _artifact_glob(tier: Tier) -> str:
    return tier.env.get("AUTORECIPE_PG_ARTIFACT", "final_model*.ptz")


def _size_check(total: int, code: int, model: int, cap: int) -> Check:
    return Check(name="artifact_bytes", passed=total <= cap, measured=float(total), limit=float(cap),
                 evidence=f"{total:,} bytes = code {code:,} + model {model:,}; cap {cap:,}"
                          + (f"; over by {total - cap:,}" if total > cap else f"; {cap - total:,} to spare"))


def _v(executed, status, feedback, checks, metrics=None, score=None) -> TrialEvaluated:
    return verdict(executed, NAME, VERSION, status, feedback, checks, score=score, metrics=metrics)
