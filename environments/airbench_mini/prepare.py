"""airbench-mini data: scikit-learn's digits (1,797 8x8 images), straight from the wheel's CSV.

Nothing is imported from scikit-learn: the wheel is downloaded (no dependencies, not installed)
and read as a zip. The split is fixed: numpy's default_rng(0) permutation, 500 test images and
1,297 train. Test labels go to heldout/ (root-only); a trial sees train/ alone.
"""

from __future__ import annotations

import gzip
import io
import os
import zipfile
from pathlib import Path

import numpy as np

from environments.data import pip_download, require_sha256

WHEEL = "scikit-learn==1.5.2"
CSV_MEMBER = "sklearn/datasets/data/digits.csv.gz"
CSV_SHA256 = "6ebb3d2fee246a4e99363262ddf8a00a3c41bee6014c373ed9d9216ba7f651b8"
N_TEST = 500


def digits_csv(cache: Path, log=print) -> bytes:
    wheel = pip_download(WHEEL, cache, log)
    with zipfile.ZipFile(wheel) as z:
        raw = gzip.decompress(z.read(CSV_MEMBER))
    return require_sha256(raw, CSV_SHA256, f"{CSV_MEMBER} in {wheel.name}")


def build(out: Path, cache: Path, log=print) -> dict:
    table = np.loadtxt(io.BytesIO(digits_csv(cache, log)), delimiter=",", dtype=np.float32)
    x, y = table[:, :64] / 16.0, table[:, 64].astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    test, train = order[:N_TEST], order[N_TEST:]
    (out / "train").mkdir()
    (out / "heldout").mkdir(mode=0o700)
    np.savez(out / "train" / "train.npz", x=x[train], y=y[train])
    np.save(out / "train" / "test_images.npy", x[test])
    np.save(out / "heldout" / "test_labels.npy", y[test])
    os.chmod(out / "heldout", 0o700)
    log(f"digits: {len(train)} train, {len(test)} test images")
    return {"source": f"{WHEEL} {CSV_MEMBER}", "csv_sha256": CSV_SHA256, "train": int(len(train)), "test": int(len(test))}
