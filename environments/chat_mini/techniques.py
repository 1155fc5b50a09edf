"""Known-good edits and the technique library for chat-mini.

Measured at the standard tier (BENCHMARKS.md): the baseline spends about 30% of its CPU cap,
so the winning move, as in the reference run, is spending the headroom on more tokens. At the
micro tier the model is still at chance on the tasks, so these are not micro-tier claims."""

from environments.spec import Edit, Technique

T, O = "train.py", "optim.py"
RATIO = '"standard": 6,'

KNOWN_GOOD: dict[str, tuple[Edit, ...]] = {
    "twice_the_tokens": (Edit(T, RATIO, '"standard": 12,'),),
    "twice_the_tokens_higher_lr": (Edit(T, RATIO, '"standard": 12,'), Edit(O, "LR = 3e-3", "LR = 6e-3")),
    "twice_the_tokens_lower_lr": (Edit(T, RATIO, '"standard": 12,'), Edit(O, "LR = 3e-3", "LR = 2e-3")),
}

TECHNIQUES = (
    Technique("ratio", "sched", "train on {value} tokens per parameter", (Edit(T, RATIO, '"standard": {value},'),),
              values=("9", "12", "18")),
    Technique("warmdown", "sched", "warm down over the last {value} of steps",
              (Edit(T, "WARMDOWN_FRAC = 0.3", "WARMDOWN_FRAC = {value}"),), values=("0.5", "0.7")),
    Technique("lr", "opt", "learning rate {value}", (Edit(O, "LR = 3e-3", "LR = {value}"),), values=("2e-3", "6e-3")),
    Technique("batch", "data", "batch size {value}", (Edit(T, "BATCH = 16", "BATCH = {value}"),), values=("8", "32")),
)
