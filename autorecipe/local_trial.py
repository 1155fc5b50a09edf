"""One trial on this machine, without Ray: prepare, run in the sandbox, evaluate."""

from __future__ import annotations

from pathlib import Path

from actors.judge import evaluator_of
from actors.trial_runner import TrialPaths, run_trial
from environments.data import prepared_data
from environments.spec import EnvironmentSpec
from events import BlobStore, TrialEvaluated, TrialExecuted

__all__ = ["evaluator_of", "local_trial", "prepared_data"]


def local_trial(spec: EnvironmentSpec, tier: str, code: dict[str, bytes], blobs: BlobStore, scratch: Path,
                data: Path, trial_id: str = "t0", keep_work: bool = False,
                log=lambda m: None, seed: int | None = None) -> tuple[TrialExecuted, TrialEvaluated]:
    executed = run_trial(spec, tier, code, TrialPaths(data=data, scratch=scratch), blobs, trial_id,
                         keep_work=keep_work, log=log, seed=seed)
    evaluated = evaluator_of(spec)(executed, blobs, data, spec.tier(tier))
    return executed, evaluated
