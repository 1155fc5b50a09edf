"""An environment of your own, complete and small: fit a curve to noisy samples.

The recipe (recipe/fit.py) gets training points and must predict the curve at test points;
the evaluator scores the predictions against held-out targets the trial never sees.

    autorecipe trial examples.polyfit:SPEC
"""

from pathlib import Path

import numpy as np

from environments.data import prepare_once
from environments.spec import Budget, EnvironmentSpec, Phase, Resources, Specialist, Surface, Tier

ROOT = Path(__file__).parent


def build(out: Path) -> dict:
    """Make the data: deterministic, no download. train/ is staged into trials, heldout/ never."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, 400)
    y = np.sin(x) + 0.3 * x + rng.normal(0, 0.1, 400)
    (out / "train").mkdir()
    (out / "heldout").mkdir(mode=0o700)
    np.savez(out / "train" / "points.npz", x=x[:300], y=y[:300], x_test=x[300:])
    np.save(out / "heldout" / "y_test.npy", y[300:])
    return {"train": 300, "test": 100}


SPEC = EnvironmentSpec(
    name="polyfit",
    description="minimize test MSE of a curve fit to 300 noisy points",
    root=ROOT,
    recipe_files=("fit.py",),
    harness_files=("run.py",),
    phases=(Phase("smoke", ("{python}", "harness/run.py", "--smoke")), Phase("train", ("{python}", "harness/run.py"))),
    tiers={"micro": Tier("micro", {"smoke": Budget(5), "train": Budget(5)})},
    resources=Resources(cpus=1, threads=1, memory_bytes=1024**3),
    specialists=(Specialist("model", Surface(files=("fit.py",)), "The model family and its fitting."),),
    metric="mse",
    direction="minimize",
    evaluator="examples.polyfit.evaluate:evaluate",
    prepare=lambda folder, cache, log=print: prepare_once(folder, build, log),
    train_data=("points.npz",),
    outputs=("pred.npy",),
)
