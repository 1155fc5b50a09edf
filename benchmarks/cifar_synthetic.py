"""Tiny synthetic CIFAR-10 in the exact files torchvision downloads, for runs without internet.

    python benchmarks/cifar_synthetic.py FOLDER [--per-batch 410] [--seed 0]

Writes FOLDER/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}: pickles of
{'batch_label', 'labels', 'data' (N x 3072 uint8, channel-major rows), 'filenames'} and the
meta's 'label_names', as in the real archive. The images are not photographs: each class has a
colour, each image that colour with a per-image tint and per-pixel noise, so a simple classifier
gets most but not all of them right. `autorecipe prepare airbench96` turns them into train.pt and
test.pt as the fork's script would.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def batch(rng, colours, n: int, name: str) -> dict:
    labels = rng.integers(0, 10, n)
    tint = rng.normal(0, 4, (n, 3, 1))
    pixels = colours[labels][:, :, None] + tint + rng.normal(0, 40, (n, 3, 1024))
    data = np.clip(pixels, 0, 255).astype(np.uint8).reshape(n, 3072)
    return {"batch_label": name, "labels": labels.tolist(), "data": data,
            "filenames": [f"synthetic_{name}_{i}.png" for i in range(n)]}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("folder", type=Path)
    p.add_argument("--per-batch", type=int, default=410, help="images per batch (5 train batches, 1 test)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    colours = rng.uniform(90, 170, (10, 3))
    out = a.folder / "cifar-10-batches-py"
    out.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(out / name, "wb") as f:
            pickle.dump(batch(rng, colours, a.per_batch, name), f)
    with open(out / "batches.meta", "wb") as f:
        pickle.dump({"label_names": CLASSES, "num_cases_per_batch": a.per_batch, "num_vis": 3072}, f)
    print(f"wrote {out}: 5 x {a.per_batch} train, {a.per_batch} test images")


if __name__ == "__main__":
    main()
