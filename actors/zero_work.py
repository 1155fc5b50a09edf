"""A trial that runs nothing: each recipe file comes back as out/<name>, every phase took no time.
For measuring the loop itself, with an environment whose evaluator scores the recipe
(environments/dryrun)."""

from __future__ import annotations

from pathlib import Path

from environments.spec import EnvironmentSpec
from events import Phase, TrialExecuted


def zero_work(spec: EnvironmentSpec, code: dict[str, bytes], blobs, trial_id: str, attempt: int,
              executor: str) -> TrialExecuted:
    outputs = {f"out/{Path(p).name}": blobs.put(data) for p, data in sorted(code.items())}
    phases = [Phase(name=p.name, exit_code=0, wall_s=0.0, cpu_s=0.0) for p in spec.phases]
    return TrialExecuted(trial_id=trial_id, attempt=attempt, executor=executor, phases=phases, outputs=outputs)
