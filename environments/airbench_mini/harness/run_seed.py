"""airbench-mini harness: one cold process, one seed. Staged fresh for every trial; the recipe
cannot change it. Writes the predicted test labels to out/pred_<seed>.npy; judging is done
elsewhere, with labels this process never sees."""

import argparse
import os
import sys
import time

from audit import install_audit  # noqa: E402  (staged beside this file)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    install_audit(frameworks=("numpy",))
    import numpy as np

    train = np.load("data/train.npz")
    x_test = np.load("data/test_images.npy")
    sys.path.insert(0, "recipe")
    import airbench_mini  # the recipe

    t = time.perf_counter()
    seed = args.seed + 1000 * int(os.environ.get("AUTORECIPE_SEED", "0"))  # autorecipe confirm draws new sets
    pred = np.asarray(airbench_mini.train_and_predict(train["x"], train["y"], x_test, seed, args.smoke))
    if pred.shape != (len(x_test),):
        raise SystemExit(f"harness: recipe returned predictions of shape {pred.shape}, expected ({len(x_test)},)")
    np.save(f"out/pred_{args.seed}{'_smoke' if args.smoke else ''}.npy", pred.astype(np.int64))
    print(f"harness: seed {args.seed} done in {time.perf_counter() - t:.3f} s (informational)")


if __name__ == "__main__":
    main()
