"""Known-good edits for airbench-mini (measured: each beats the baseline's CPU time at the
gate), and the parameterized technique library the offline proposer draws from."""

from environments.spec import Edit, Technique

R = "airbench_mini.py"

KNOWN_GOOD: dict[str, tuple[Edit, ...]] = {
    "higher_lr_fewer_epochs": (Edit(R, "EPOCHS = 48", "EPOCHS = 30"), Edit(R, "LR = 0.2", "LR = 0.5")),
    "label_smoothing_fewer_epochs": (Edit(R, "EPOCHS = 48", "EPOCHS = 30"),
                                     Edit(R, "LABEL_SMOOTHING = 0.0", "LABEL_SMOOTHING = 0.1"),
                                     Edit(R, "LR = 0.2", "LR = 0.3")),
    "narrower_hidden": (Edit(R, "HIDDEN = 256", "HIDDEN = 128"), Edit(R, "EPOCHS = 48", "EPOCHS = 36"),
                        Edit(R, "LR = 0.2", "LR = 0.4")),
}

TECHNIQUES = (
    Technique("fewer_epochs", "opt", "train for {value} epochs instead of 48",
              (Edit(R, "EPOCHS = 48", "EPOCHS = {value}"),), values=("40", "32", "24"), tags=("faster",)),
    Technique("lr", "opt", "learning rate {value}", (Edit(R, "LR = 0.2", "LR = {value}"),), values=("0.1", "0.3", "0.5")),
    Technique("batch", "opt", "batch size {value}", (Edit(R, "BATCH = 32", "BATCH = {value}"),), values=("16", "64")),
    Technique("hidden", "arch", "hidden width {value}", (Edit(R, "HIDDEN = 256", "HIDDEN = {value}"),),
              values=("128", "96"), tags=("faster",)),
    Technique("shift", "aug", "random +-1 px shifts on {value} of batches", (Edit(R, "SHIFT_PROB = 0.0", "SHIFT_PROB = {value}"),),
              values=("0.25", "0.5")),
    Technique("smoothing", "loss", "label smoothing {value}",
              (Edit(R, "LABEL_SMOOTHING = 0.0", "LABEL_SMOOTHING = {value}"),), values=("0.05", "0.1")),
    Technique("wd", "reg", "weight decay {value}", (Edit(R, "WEIGHT_DECAY = 0.0", "WEIGHT_DECAY = {value}"),),
              values=("1e-4", "5e-4")),
)
