"""Known-good edits and the technique library for golf-mini."""

from environments.spec import Edit, Technique

R = "train_gpt_mini.py"

# Smaller batches at the same number of tokens: more optimizer steps for the same data. Each beats
# the baseline at the micro tier, where training is capped at 300 steps and so repeats exactly
# (tests/test_env_contract.py), and at the standard tier, where training is capped on CPU time
# and a smaller batch buys more steps in it (BENCHMARKS.md). The micro tier's step cap is raised
# with the batch cut so micro sees the same tokens; standard's cap is time, not steps.
# Raising the LR wins at micro but diverges at standard, so it is a technique, not a known good.
# Batch 12 won at standard by less than the baseline's run-to-run spread; batch 6 replaced it.
BATCH, STEPS = "BATCH = 16", '{"micro": 300,'
KNOWN_GOOD: dict[str, tuple[Edit, ...]] = {
    "batch8_same_tokens": (Edit(R, BATCH, "BATCH = 8"), Edit(R, STEPS, '{"micro": 600,')),
    "batch6_same_tokens": (Edit(R, BATCH, "BATCH = 6"), Edit(R, STEPS, '{"micro": 800,')),
    "batch8_same_tokens_longer_warmdown": (Edit(R, BATCH, "BATCH = 8"), Edit(R, STEPS, '{"micro": 600,'),
                                           Edit(R, "WARMDOWN = 0.3", "WARMDOWN = 0.5")),
}

TECHNIQUES = (
    Technique("lr", "opt", "learning rate {value}", (Edit(R, "LR = 3e-3", "LR = {value}"),), values=("5e-3", "8e-3", "2e-3")),
    Technique("warmdown", "opt", "warm down over the last {value} of the budget",
              (Edit(R, "WARMDOWN = 0.3", "WARMDOWN = {value}"),), values=("0.5", "0.7")),
    Technique("batch_same_tokens", "opt", "batch {value} with the micro step cap raised to keep the tokens",
              (Edit(R, BATCH, "BATCH = {value}"), Edit(R, STEPS, '{"micro": 4800 // {value},')), values=("12", "8")),
    Technique("weight_decay", "opt", "AdamW weight decay {value}",
              (Edit(R, "WEIGHT_DECAY = 0.0", "WEIGHT_DECAY = {value}"),), values=("0.05", "0.1")),
    Technique("mlp", "arch", "MLP multiple {value}", (Edit(R, "MLP_MULT = 2", "MLP_MULT = {value}"),), values=("3", "1")),
    Technique("relu_sq_to_gelu", "arch", "GELU instead of squared ReLU in the MLP",
              (Edit(R, "F.relu(self.up(F.rms_norm(x, (d,)))).square()", "F.gelu(self.up(F.rms_norm(x, (d,))))"),)),
    Technique("levels", "quant", "quantize matrices to {value} levels per sign instead of 127",
              (Edit(R, "/ 127", "/ {value}"),), values=("63", "31"), tags=("smaller",)),
)
