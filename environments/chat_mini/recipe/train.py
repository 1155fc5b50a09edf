"""chat-mini training: the horizon is set by tokens per parameter (nanochat's
target_param_data_ratio), not by the clock; the harness enforces a CPU cap of about 3x the
baseline. The data and sched specialists own their regions; sys owns the threads line."""

import os

import model as M
import numpy as np
import optim
import torch
import torch.nn.functional as F

# region data
BATCH = 16
SEQ = M.CONTEXT
# endregion data

# region sched
TARGET_PARAM_DATA_RATIO = {"micro": 6, "standard": 6, "full": 12}[M.TIER]
WARMUP_FRAC = 0.02
WARMDOWN_FRAC = 0.3
FINAL_LR_FRAC = 0.0


def lr_multiplier(step, total):
    warm, down = int(WARMUP_FRAC * total), int(WARMDOWN_FRAC * total)
    if step < warm:
        return (step + 1) / warm
    if step >= total - down:
        return FINAL_LR_FRAC + (1 - FINAL_LR_FRAC) * (total - step) / max(down, 1)
    return 1.0
# endregion sched

# region sys
THREADS = int(os.environ.get("AUTORECIPE_THREADS", "1"))
# endregion sys


def train(tokens: np.ndarray, smoke: bool = False):
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    model = M.GPT()
    opt = optim.build(model)
    params = sum(p.numel() for p in model.parameters())
    total = 3 if smoke else max(1, TARGET_PARAM_DATA_RATIO * params // (BATCH * SEQ))
    data = torch.from_numpy(tokens.astype(np.int64))
    rng = np.random.default_rng(0)
    for step in range(total):
        for group in opt.param_groups:
            group["lr"] = optim.LR * lr_multiplier(step, total)
        ix = rng.integers(0, len(data) - SEQ - 1, BATCH)
        x = torch.stack([data[i: i + SEQ] for i in ix])
        y = torch.stack([data[i + 1: i + SEQ + 1] for i in ix])
        loss = F.cross_entropy(model(x).view(-1, M.VOCAB), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 200 == 0 or step == total - 1:
            print(f"step {step}/{total} loss {loss.item():.3f}", flush=True)
    print(f"{params:,} parameters, {total * BATCH * SEQ:,} tokens ({TARGET_PARAM_DATA_RATIO} per parameter)")
    return model
