"""golf-mini data: Shakespeare as byte tokens (256 byte values + BOS = 256) in Parameter Golf's
shard format: 256 int32 header words (magic 20240520, version 1, token count), then uint16
tokens. Train documents go to train/; the four validation documents to heldout/ only."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from environments.shakespeare import VAL_DOCS, documents

MAGIC, VERSION, BOS = 20240520, 1, 256


def write_shard(path: Path, docs: list[bytes]) -> int:
    tokens = []
    for doc in docs:
        tokens.append(np.array([BOS], np.uint16))
        tokens.append(np.frombuffer(doc, np.uint8).astype(np.uint16))
    body = np.concatenate(tokens)
    header = np.zeros(256, np.int32)
    header[:3] = (MAGIC, VERSION, len(body))
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(body.tobytes())
    return len(body)


def build(out: Path, cache: Path, log=print) -> dict:
    docs = documents(cache, log)
    val = [docs[name] for name in VAL_DOCS]
    train = [text for name, text in docs.items() if name not in VAL_DOCS]
    (out / "train").mkdir()
    (out / "heldout").mkdir(mode=0o700)
    n_train = write_shard(out / "train" / "train_000.bin", train)
    n_val = write_shard(out / "heldout" / "val_000.bin", val)
    os.chmod(out / "heldout", 0o700)
    log(f"shakespeare: {n_train:,} train tokens, {n_val:,} val tokens ({sum(map(len, val)):,} val bytes)")
    return {"train_tokens": n_train, "val_tokens": n_val, "val_bytes": sum(map(len, val)), "val_docs": list(VAL_DOCS)}
