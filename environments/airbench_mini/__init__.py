"""airbench-mini: the CIFAR-10 Airbench96 shape on CPU. Minimize the CPU time of N cold,
seeded processes that each train a digits classifier, subject to a mean-accuracy gate that
the evaluator checks with test labels the trial never sees."""

from __future__ import annotations

from pathlib import Path

from environments.airbench_mini.techniques import TECHNIQUES
from environments.data import prepared_by
from environments.spec import Budget, EnvironmentSpec, Phase, Resources, Specialist, Surface, Tier

ROOT = Path(__file__).parent
RECIPE = "airbench_mini.py"



def _surface(region: str) -> Surface:
    return Surface(files=(RECIPE,), regions=(region,))


SPEC = EnvironmentSpec(
    name="airbench-mini",
    description="minimize mean CPU seconds of N cold seeded processes at mean test accuracy >= the gate",
    root=ROOT,
    recipe_files=(RECIPE,),
    harness_files=("run_seed.py",),
    phases=(
        # each seed from nothing, scored on the predictions it wrote itself
        Phase("smoke", ("{python}", "harness/run_seed.py", "--seed", "0", "--smoke"), carries=(),
              outputs=("pred_0_smoke.npy",)),
        Phase("train", ("{python}", "harness/run_seed.py", "--seed", "{seed}"), carries=(), outputs=("pred_{seed}.npy",)),
    ),
    tiers={
        "micro": Tier("micro", {"smoke": Budget(5), "train": Budget(2)}, repeats={"train": 3},
                      limits={"gate": 0.965}),
        "standard": Tier("standard", {"smoke": Budget(10), "train": Budget(10)}, repeats={"train": 10},
                         limits={"gate": 0.970}),
        "full": Tier("full", {"smoke": Budget(10), "train": Budget(10)}, repeats={"train": 30},
                     limits={"gate": 0.970}),
    },
    resources=Resources(cpus=1, threads=1, memory_bytes=2 * 1024**3),
    specialists=(
        Specialist("arch", _surface("arch"), "Model shape: width, depth, MLP vs a small conv net."),
        Specialist("opt", _surface("opt"), "Optimizer: lr, schedule, batch size, epochs, momentum."),
        Specialist("aug", _surface("aug"), "Augmentation: shift probability and range. Flips hurt digits."),
        Specialist("loss", _surface("loss"), "Loss: label smoothing and its variants."),
        Specialist("reg", _surface("reg"), "Regularization: weight decay, EMA, lookahead."),
    ),
    metric="cpu_s",
    direction="minimize",
    evaluator="evaluators.airbench:evaluate",
    prepare=prepared_by("environments.airbench_mini.prepare"),
    train_data=("train.npz", "test_images.npy"),
    outputs=("pred_*.npy",),
    techniques=TECHNIQUES,
    noise_margin=0.005,
    timed_score=True,
    progress=(r"^epoch \d+/\d+ step (?P<step>\d+)/(?P<total>\d+)",),
)
