"""chat-mini optimizer. The opt specialist owns this file."""

import torch

LR = 3e-3
WEIGHT_DECAY = 0.0
BETAS = (0.9, 0.95)


def build(model):
    return torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY, betas=BETAS)
