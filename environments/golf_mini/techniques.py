"""Known-good edits and the technique library for golf-mini."""

from environments.spec import Edit, Technique

R = "train_gpt_mini.py"

# Measured at the micro tier, where the baseline's bpb varies by about +-0.05 from run to run
# (training stops on the CPU clock); each of these gains 0.1 or more.
KNOWN_GOOD: dict[str, tuple[Edit, ...]] = {
    "smaller_batch": (Edit(R, "BATCH = 16", "BATCH = 8"),),
    "smaller_batch_higher_lr": (Edit(R, "BATCH = 16", "BATCH = 8"), Edit(R, "LR = 3e-3", "LR = 6e-3")),
    "narrow_mlp_smaller_batch": (Edit(R, "BATCH = 16", "BATCH = 8"), Edit(R, "MLP_MULT = 2", "MLP_MULT = 1")),
}

TECHNIQUES = (
    Technique("lr", "opt", "learning rate {value}", (Edit(R, "LR = 3e-3", "LR = {value}"),), values=("2e-3", "5e-3", "8e-3")),
    Technique("warmdown", "opt", "warm down over the last {value} of the budget",
              (Edit(R, "WARMDOWN = 0.3", "WARMDOWN = {value}"),), values=("0.5", "0.7")),
    Technique("batch", "opt", "batch size {value}", (Edit(R, "BATCH = 16", "BATCH = {value}"),), values=("8", "32")),
    Technique("mlp", "arch", "MLP multiple {value}", (Edit(R, "MLP_MULT = 2", "MLP_MULT = {value}"),), values=("1", "3")),
)
