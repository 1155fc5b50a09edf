"""Known-good edits and the technique library for chat-mini.

The baseline spends about a quarter to a third of its CPU cap, so the winning move, as in the
reference run, is spending the headroom on more tokens. Each edit below beats the baseline at
the micro tier (tests/test_chat.py) and at the standard tier (BENCHMARKS.md)."""

from environments.spec import Edit, Technique

TRAIN, OPTIM = "train.py", "optim.py"
RATIO = '{"micro": 6, "standard": 6,'
TWICE = Edit(TRAIN, RATIO, '{"micro": 12, "standard": 12,')

KNOWN_GOOD: dict[str, tuple[Edit, ...]] = {
    "twice_the_tokens": (TWICE,),
    "twice_the_tokens_lower_lr": (TWICE, Edit(OPTIM, "LR = 3e-3", "LR = 2e-3")),
    "twice_the_tokens_longer_warmdown": (TWICE, Edit(TRAIN, "WARMDOWN_FRAC = 0.3", "WARMDOWN_FRAC = 0.5")),
}

TECHNIQUES = (
    Technique("ratio", "sched", "train on {value} tokens per parameter",
              (Edit(TRAIN, RATIO, '{"micro": {value}, "standard": {value},'),),
              values=("9", "12", "18")),
    Technique("warmdown", "sched", "warm down over the last {value} of steps",
              (Edit(TRAIN, "WARMDOWN_FRAC = 0.3", "WARMDOWN_FRAC = {value}"),), values=("0.5", "0.7")),
    Technique("lr", "opt", "learning rate {value}", (Edit(OPTIM, "LR = 3e-3", "LR = {value}"),), values=("2e-3", "6e-3")),
    Technique("batch", "data", "batch size {value}", (Edit(TRAIN, "BATCH = 16", "BATCH = {value}"),), values=("8", "32")),
)
