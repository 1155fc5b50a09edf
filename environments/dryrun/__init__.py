"""dryrun: an environment that costs nothing, for exercising the loop itself.

The recipe is four constants; the score is a known function of them, computed by the evaluator
from the recipe it gets back; an artifact-size rule (WIDTH x PRECISION) gives size_blocked
failures to learn from. With the zero-work runner a trial starts no process at all, which is
how the loop's own latency and throughput are measured (benchmarks/bench_loop.py); with the
sandbox runner it runs one tiny phase. Try `autorecipe run --env dryrun`.
"""

import dataclasses
from pathlib import Path

from environments import preflight
from environments.data import prepare_once
from environments.spec import Budget, EnvironmentSpec, Phase, Resources, Specialist, Surface, Tier
from events import Check

from .techniques import TECHNIQUES

ROOT = Path(__file__).parent
SIZE_CAP = 60_000  # bytes: WIDTH * PRECISION * 100


def _build(out: Path) -> dict:
    (out / "train").mkdir()
    (out / "heldout").mkdir(mode=0o700)
    return {}


def _preflight(code, tier):
    # the artifact-size rule is a function of two constants: decide size_blocked before the trial
    cap = int(tier.limits["size_cap"])
    try:
        width, precision = (preflight.literal(code["knobs.py"], k) for k in ("WIDTH", "PRECISION"))
        size = int(float(width) * float(precision) * 100)
    except (LookupError, KeyError, SyntaxError, TypeError, ValueError) as exc:
        return [Check(name="artifact_bytes", passed=True, limit=float(cap),
                      evidence=f"not decidable from the code ({exc}); the evaluator reads knobs.py")]
    return [preflight.byte_cap("artifact_bytes", size, cap, f"WIDTH x PRECISION x 100 = {width} x {precision} x 100 =",
                               shared_with="")]


# The tiers differ only in how long a trial takes (with the sandbox runner): none, 2 s, 60 s.
_DELAYS = {"micro": 0, "standard": 2, "full": 60}


def _tier(name: str, delay: float) -> Tier:
    return Tier(name, {"train": Budget(delay + 10, measure="wall")}, env={"DRYRUN_DELAY_S": f"{delay:g}"},
                limits={"size_cap": SIZE_CAP})


def _with_delay(spec: EnvironmentSpec, value: str) -> EnvironmentSpec:
    """`--env-opt delay_s=S`: every tier's trial takes S seconds (the loop's timing tests)."""
    return dataclasses.replace(spec, tiers={name: _tier(name, float(value)) for name in spec.tiers})


OPTIONS = {"delay_s": _with_delay}

SPEC = EnvironmentSpec(
    name="dryrun",
    description="four constants scored directly: exercises the loop at no cost",
    root=ROOT,
    recipe_files=("knobs.py",),
    harness_files=("copy.py",),
    phases=(Phase("train", ("{python}", "harness/copy.py")),),
    tiers={name: _tier(name, delay) for name, delay in _DELAYS.items()},
    resources=Resources(cpus=0.0, threads=1, memory_bytes=1024**3),
    specialists=(
        Specialist("alpha", Surface(files=("knobs.py",), regions=("alpha",)), "A, WIDTH and PRECISION."),
        Specialist("beta", Surface(files=("knobs.py",), regions=("beta",)), "B."),
    ),
    metric="loss",
    direction="minimize",
    evaluator="evaluators.dryrun:evaluate",
    prepare=lambda folder, cache, log=print: prepare_once(folder, _build, log),
    train_data=(),
    outputs=("knobs.py", "seed.txt"),
    techniques=TECHNIQUES,
    preflight=_preflight,
)
