"""Known-good edits and the technique library for golf-mini."""

from environments.spec import Edit, Technique

R = "train_gpt_mini.py"

# Each beats the baseline at the micro tier, where training is capped at 300 steps and so
# repeats exactly (tests/test_env_contract.py). They do not carry over to the standard tier,
# where training is time-capped and a higher LR diverges over 50 s (BENCHMARKS.md).
KNOWN_GOOD: dict[str, tuple[Edit, ...]] = {
    "higher_lr": (Edit(R, "LR = 3e-3", "LR = 8e-3"),),
    "higher_lr_more_steps": (Edit(R, "LR = 3e-3", "LR = 6e-3"), Edit(R, '{"micro": 300,', '{"micro": 400,')),
    "higher_lr_weight_decay": (Edit(R, "LR = 3e-3", "LR = 6e-3"), Edit(R, "WEIGHT_DECAY = 0.0", "WEIGHT_DECAY = 0.1")),
}

TECHNIQUES = (
    Technique("lr", "opt", "learning rate {value}", (Edit(R, "LR = 3e-3", "LR = {value}"),), values=("2e-3", "5e-3", "8e-3")),
    Technique("warmdown", "opt", "warm down over the last {value} of the budget",
              (Edit(R, "WARMDOWN = 0.3", "WARMDOWN = {value}"),), values=("0.5", "0.7")),
    Technique("batch", "opt", "batch size {value}", (Edit(R, "BATCH = 16", "BATCH = {value}"),), values=("8", "32")),
    Technique("mlp", "arch", "MLP multiple {value}", (Edit(R, "MLP_MULT = 2", "MLP_MULT = {value}"),), values=("1", "3")),
)
