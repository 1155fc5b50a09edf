"""The whole loop in one process, stepped in a fixed order: the same reactors the Ray actors wrap,
over an EventStore opened here. Given the same seed and proposers it appends the same domain
events in the same order every time, which is what the determinism test checks and what makes
it handy for debugging a proposer without Ray.
"""

from __future__ import annotations

from pathlib import Path

from actors.config import RunConfig
from actors.evaluator import Evaluator
from actors.executor import Executor
from actors.log_client import LocalLog
from actors.specialist import Specialist
from actors.start import run_started
from actors.supervisor import Supervisor
from agents.proposer import Proposer
from environments.spec import EnvironmentSpec
from events import Fingerprint, RunDir

MAX_ROUNDS = 1_000_000


def run_local(run_dir: Path, spec: EnvironmentSpec, config: RunConfig, proposers: dict[str, Proposer],
              data: Path | None = None, scratch: Path | None = None, executors: int = 1,
              fingerprint: Fingerprint | None = None, run_id: str = "local") -> Path:
    rd = RunDir(run_dir)
    with rd.store(fsync=config.fsync) as store:
        log = LocalLog(store, rd.blobs())
        if store.next_offset == 0:
            store.append([run_started(run_id, config, spec, fingerprint)])
        agents = list(proposers)
        reactors = [Supervisor(log, agents, spec.baseline_code())]
        reactors += [Specialist(log, spec, a, proposers[a]) for a in agents]
        work = scratch or Path(run_dir) / "work"
        reactors += [Executor(log, spec, f"executor/{i}", data, work / f"executor-{i}") for i in range(executors)]
        reactors += [Evaluator(log, spec, "evaluator/0", data)]
        for _ in range(MAX_ROUNDS):
            progressed = False
            for r in reactors:
                progressed |= r.step()
            if reactors[0].finished():
                return Path(run_dir)
            if not progressed:
                raise RuntimeError("the local loop is stuck: no reactor can act and the run has not stopped")
        raise RuntimeError(f"the local loop did not finish in {MAX_ROUNDS} rounds")
