"""chat-mini model: a GPT at fixed depth (the analog of nanochat's --depth 12). Width is
depth x ASPECT. The arch specialist owns this file; DEPTH must stay 4."""

import os

import torch
import torch.nn as nn
import torch.nn.functional as F

TIER = os.environ.get("AUTORECIPE_TIER", "standard")
VOCAB = 257  # bytes + BOS
DEPTH = 4
ASPECT = {"micro": 8, "standard": 16, "full": 32}[TIER]
HEAD_DIM = 16
CONTEXT = {"micro": 64, "standard": 128, "full": 256}[TIER]


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.heads = dim // HEAD_DIM
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)
        self.up = nn.Linear(dim, 4 * dim, bias=False)
        self.down = nn.Linear(4 * dim, dim, bias=False)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.down.weight)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(F.rms_norm(x, (d,))).view(b, t, 3, self.heads, HEAD_DIM).unbind(2)
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.down(F.relu(self.up(F.rms_norm(x, (d,)))).square())


class GPT(nn.Module):
    def __init__(self, depth=DEPTH, dim=DEPTH * ASPECT, context=CONTEXT):
        super().__init__()
        self.config = {"depth": depth, "dim": dim, "context": context}
        self.context = context
        self.embed = nn.Embedding(VOCAB, dim)
        self.pos = nn.Parameter(torch.zeros(context, dim))
        self.blocks = nn.ModuleList(Block(dim) for _ in range(depth))
        self.head = nn.Linear(dim, VOCAB, bias=False)
        nn.init.normal_(self.embed.weight, std=0.02)
        nn.init.zeros_(self.head.weight)

    def forward(self, idx):
        x = self.embed(idx) + self.pos[: idx.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.head(F.rms_norm(x, (x.shape[-1],)))


def save(model, path):
    torch.save({"config": model.config, "state": model.state_dict()}, path)


def load(path):
    saved = torch.load(path, weights_only=True)
    model = GPT(**saved["config"])
    model.load_state_dict(saved["state"])
    return model.eval()
