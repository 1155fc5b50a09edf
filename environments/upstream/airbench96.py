"""airbench96: Keller Jordan's CIFAR-10 Airbench96, from a checkout, scored by time.

The score is the mean wall time of N cold processes, one seed each, measured by the executor
from outside (the reference harness's protocol: start-up, data loading, compilation, every eval
and the TTA all count). The gate is mean accuracy >= 0.96 over the N seeds; below it the trial is
disqualified and its time is not a score. The recipe is the script (option `script`), which must
speak the reference harness's protocol: SEED and RUNS=1 from the environment, SMOKE_TEST=1 for
a one-epoch shake-out, data from CIFAR_DATA_DIR, and one JSON line per run appended to
AIRBENCH_RESULT with accuracy, status "OK" and smoke false (the paper's fork does this).
Accuracy is the recipe's own report there, as in the paper; test labels cannot be withheld
from a script that loads CIFAR-10 itself. The five specialists are the reference's (§5.2).

    autorecipe prepare airbench96 --env-opt upstream=~/cifar10-airbench --dry-run
    autorecipe run --address auto --env airbench96 --tier full --env-opt upstream=~/cifar10-airbench
"""

from __future__ import annotations

import sys
from pathlib import Path

from environments.spec import Budget, EnvironmentSpec, Phase, Resources, Specialist, Surface, Tier
from environments.upstream.briefs import brief as long_brief
from environments.upstream.commands import Command, prepare_upstream, run_commands
from environments.upstream.options import Option, resolve

ROOT = Path(__file__).parent
BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")
OPTIONS = {
    "upstream": Option("a checkout of KellerJordan/cifar10-airbench (or the reference's fork)", kind="dir"),
    "script": Option("the recipe script, relative to the checkout", "airbench96_faster.py"),
    "data": Option("CIFAR_DATA_DIR: the folder holding cifar-10-batches-py/ (default: the checkout's cifar10/)", ""),
    "seeds": Option("cold processes per trial (the reference: 10)", "10", "int"),
    "seed_s": Option("the wall cap on one seed's process", "240", "float"),
    "smoke_s": Option("the smoke run's budget", "600", "float"),
    "gate": Option("the mean-accuracy gate", "0.96", "float"),
    "gpus": Option("GPUs per trial", "1", "int"),
    "cpus": Option("CPUs per trial (data loading, the launcher)", "4", "float"),
}
SPECIALISTS = (
    ("arch", "Network widths and depth, the whitening layer, TTA level."),
    ("opt", "SGD learning rate, momentum, Nesterov, weight decay, warmup and decay; Muon."),
    ("aug", "Flip, translate, cutout, test-time augmentation."),
    ("loss", "Label smoothing, PolyLoss, focal loss."),
    ("reg", "EMA / Lookahead, weight-decay schedule, stochastic depth; the epoch count against the gate."),
)


def build(given: dict[str, str]) -> EnvironmentSpec:
    o = resolve("airbench96", given, OPTIONS)
    script = o["script"]
    if not (o["upstream"] / script).is_file():
        raise ValueError(f"airbench96: {o['upstream'] / script} does not exist (options upstream and script)")
    data = _data(o)
    env = {"AUTORECIPE_AB_DATA": str(data), "AUTORECIPE_AB_SCRIPT": script}
    budgets = {"smoke": Budget(o["smoke_s"], kill_factor=1.0, measure="wall"),
               "run": Budget(o["seed_s"], kill_factor=1.0, measure="wall")}
    return EnvironmentSpec(
        name="airbench96",
        description="minimize mean wall time of N cold CIFAR-10 runs subject to mean accuracy >= 0.96",
        root=ROOT,
        recipe_files=(script,),
        harness_files=("ab_seed.py",),
        phases=(Phase("smoke", ("{python}", "harness/ab_seed.py", "--smoke")),
                Phase("run", ("{python}", "harness/ab_seed.py", "--seed", "{seed}"), repeats=o["seeds"])),
        tiers={"full": Tier("full", budgets, env=env, limits={"gate": o["gate"], "seeds": float(o["seeds"])})},
        resources=Resources(cpus=o["cpus"], gpus=o["gpus"], memory_bytes=None, processes=65536, file_bytes=16 * 1024**3,
                            disk_bytes=16 * 1024**3),
        specialists=tuple(Specialist(k, Surface(files=(script,)), long_brief("airbench96", k, b)) for k, b in SPECIALISTS),
        metric="train_s",
        direction="minimize",
        evaluator="evaluators.airbench96:evaluate",
        prepare=lambda folder, cache, log=print: prepare_upstream(folder, lambda log: _check_data(o, log), log),
        train_data=(),
        outputs=("result_*.jsonl",),
        noise_margin=0.05,
        timed_score=True,
        recipe_root=o["upstream"],
        reach=(data,),
    )


def _data(o: dict) -> Path:
    return Path(o["data"]).expanduser().resolve() if o["data"] else o["upstream"] / "cifar10"


def data_commands(given: dict[str, str]) -> list[Command]:
    """torchvision's own CIFAR-10 download, which the upstream scripts call on first use."""
    o = resolve("airbench96", given, OPTIONS)
    data = _data(o)
    return [Command((sys.executable, "-c", f"import torchvision; torchvision.datasets.CIFAR10({str(data)!r}, "
                                           "download=True)"), o["upstream"])]


def _check_data(o: dict, log) -> dict:
    folder = _data(o) / "cifar-10-batches-py"

    def missing():
        return [b for b in BATCHES if not (folder / b).is_file()]

    if missing():
        _data(o).mkdir(parents=True, exist_ok=True)
        run_commands(data_commands({k: str(v) for k, v in o.items()}), log)
    if missing():
        raise OSError(f"airbench96: {folder} lacks {', '.join(missing())} after the download")
    return {"data": str(folder), "bytes": sum((folder / b).stat().st_size for b in BATCHES)}
