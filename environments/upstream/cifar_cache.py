"""`python -m environments.upstream.cifar_cache FOLDER`: FOLDER/train.pt and test.pt from
FOLDER/cifar-10-batches-py/, as the airbench scripts save them on first use.

The fork's multi_agent_cifar/airbench96.py:180-187 (upstream airbench96_faster.py:136-141 the
same) does, where the file is missing:
    dset = torchvision.datasets.CIFAR10(path, download=False, train=train)
    torch.save({'images': torch.tensor(dset.data), 'labels': torch.tensor(dset.targets),
                'classes': dset.classes}, data_path)
and torchvision's CIFAR10 reads the python batches as below (torchvision/datasets/cifar.py:
pickle with latin1, `data` stacked and reshaped to N x 32 x 32 x 3 uint8, `labels`, and the
`label_names` of batches.meta). Done here, before any trial, because trials see the data
read-only; without torchvision, so that preparing needs only torch. torchvision's md5 check of
the batches is not repeated: its own download (the step before) already made it.
"""

from __future__ import annotations

import os
import pickle
import sys

import numpy as np
import torch

TRAIN = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5")


def load_batches(folder: str, names) -> tuple[np.ndarray, list[int]]:
    data, targets = [], []
    for name in names:
        with open(os.path.join(folder, name), "rb") as f:
            entry = pickle.load(f, encoding="latin1")
        data.append(entry["data"])
        targets.extend(entry["labels"] if "labels" in entry else entry["fine_labels"])
    return np.vstack(data).reshape(-1, 3, 32, 32).transpose((0, 2, 3, 1)), targets


def cache(path: str) -> list[str]:
    batches = os.path.join(path, "cifar-10-batches-py")
    with open(os.path.join(batches, "batches.meta"), "rb") as f:
        classes = pickle.load(f, encoding="latin1")["label_names"]
    made = []
    for train in (True, False):
        data_path = os.path.join(path, "train.pt" if train else "test.pt")
        if os.path.exists(data_path):
            continue
        images, labels = load_batches(batches, TRAIN if train else ("test_batch",))
        tmp = data_path + ".partial"
        torch.save({"images": torch.tensor(images), "labels": torch.tensor(labels), "classes": classes}, tmp)
        os.replace(tmp, data_path)  # an interrupted save never looks like a cache
        made.append(f"saved {data_path} {tuple(images.shape)}")
    return made


if __name__ == "__main__":
    for line in cache(sys.argv[1]):
        print(line, flush=True)
