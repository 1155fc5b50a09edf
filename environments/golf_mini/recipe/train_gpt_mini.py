"""golf-mini: the best bits-per-byte on held-out Shakespeare from an artifact (this code plus the
compressed model) under a byte cap, trained within a CPU-time budget.

The harness calls train() once and stores export(model); the evaluator's driver calls
load(blob) and asks model.logprobs(tokens) for full next-token distributions. Tokens are bytes
(0..255) plus BOS (256) between documents.
"""

import io
import math
import os
import time
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

TIER = os.environ.get("AUTORECIPE_TIER", "standard")
VOCAB = 257

# region arch
CONFIG = {
    "micro": dict(layers=1, dim=32, heads=2, context=64),
    "standard": dict(layers=2, dim=96, heads=4, context=128),
    "full": dict(layers=3, dim=128, heads=4, context=256),
}[TIER]
MLP_MULT = 2


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)
        self.up = nn.Linear(dim, MLP_MULT * dim, bias=False)
        self.down = nn.Linear(MLP_MULT * dim, dim, bias=False)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(F.rms_norm(x, (d,))).view(b, t, 3, self.heads, d // self.heads).unbind(2)
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.down(F.relu(self.up(F.rms_norm(x, (d,)))).square())


class GPT(nn.Module):
    def __init__(self, layers, dim, heads, context):
        super().__init__()
        self.context = context
        self.embed = nn.Embedding(VOCAB, dim)
        self.pos = nn.Parameter(torch.zeros(context, dim))
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(layers))
        nn.init.normal_(self.embed.weight, std=0.02)  # tied with the head: small logits at the start
        for block in self.blocks:
            nn.init.zeros_(block.proj.weight)  # each block starts as the identity
            nn.init.zeros_(block.down.weight)

    def forward(self, idx):
        x = self.embed(idx) + self.pos[: idx.shape[1]]
        for block in self.blocks:
            x = block(x)
        return F.rms_norm(x, (x.shape[-1],)) @ self.embed.weight.T  # tied head

    def logprobs(self, idx):
        return F.log_softmax(self.forward(idx).float(), dim=-1)
# endregion arch

# region opt
LR = 3e-3
WARMDOWN = 0.3  # fraction of the run (steps or time, whichever ends it) spent decaying the LR to zero
ITERATIONS = {"micro": 300, "standard": 1_000_000, "full": 10_000_000}[TIER]  # and a time cap, as upstream
BATCH = 16
WEIGHT_DECAY = 0.0
# endregion opt

# region quant
def export(model) -> bytes:
    """int8 per-row for matrices, fp16 for the rest, zlib level 9."""
    state = {}
    for name, t in model.state_dict().items():
        t = t.detach().float()
        if t.ndim == 2:
            scale = t.abs().amax(dim=1, keepdim=True).clamp(min=1e-8) / 127
            state[name] = ((t / scale).round().to(torch.int8), scale.half())
        else:
            state[name] = t.half()
    buf = io.BytesIO()
    torch.save({"config": CONFIG, "state": state}, buf)
    return zlib.compress(buf.getvalue(), 9)


def load(blob: bytes):
    saved = torch.load(io.BytesIO(zlib.decompress(blob)), weights_only=True)
    model = GPT(**saved["config"])
    state = {k: (v[0].float() * v[1].float() if isinstance(v, tuple) else v.float()) for k, v in saved["state"].items()}
    model.load_state_dict(state)
    return model.eval()
# endregion quant


def train(tokens: np.ndarray, max_seconds: float, seed: int = 0, smoke: bool = False):
    """Train for ITERATIONS steps or until `max_seconds` of this process's CPU time have passed,
    whichever comes first (upstream's iterations and wallclock-aware self-stop, on the clock the
    harness measures)."""
    start = time.process_time()
    torch.manual_seed(seed)
    torch.set_num_threads(int(os.environ.get("AUTORECIPE_THREADS", "1")))
    model = GPT(**CONFIG)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY, betas=(0.9, 0.95))
    data = torch.from_numpy(tokens.astype(np.int64))
    rng = np.random.default_rng(seed)
    ctx, step = CONFIG["context"], 0
    while True:
        used = max((time.process_time() - start) / max_seconds, step / ITERATIONS)
        if used >= 1.0 or (smoke and step >= 3):
            break
        lr_scale = min(1.0, (1.0 - used) / WARMDOWN) if WARMDOWN > 0 else 1.0
        for group in opt.param_groups:
            group["lr"] = LR * lr_scale
        ix = torch.from_numpy(rng.integers(0, len(data) - ctx - 1, BATCH))
        x = torch.stack([data[i: i + ctx] for i in ix])
        y = torch.stack([data[i + 1: i + ctx + 1] for i in ix])
        loss = F.cross_entropy(model(x).view(-1, VOCAB), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 100 == 0:
            print(f"step {step} loss {loss.item():.3f} ({used:.0%} of budget)", flush=True)
    print(f"trained {step} steps, last loss {loss.item():.3f}, {math.log2(math.e) * loss.item():.3f} bits/token")
    return model
