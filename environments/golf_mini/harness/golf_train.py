"""golf-mini harness, train phase: train the recipe within the CPU budget, export its model.
Staged fresh for every trial; the recipe cannot change it."""

import argparse
import os
import sys
import time

from audit import install_audit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    install_audit(frameworks=("numpy", "torch"))
    import numpy as np

    budget = float(os.environ["AUTORECIPE_BUDGET_S"])
    sys.path.insert(0, "recipe")
    import train_gpt_mini as recipe

    header = np.fromfile("data/train_000.bin", np.int32, 256)
    tokens = np.fromfile("data/train_000.bin", np.uint16, offset=1024)[: header[2]]
    remaining = 0.85 * budget - time.process_time()  # imports count: the executor measures the whole process
    model = recipe.train(tokens, max_seconds=max(remaining, 0.05), seed=int(os.environ.get("AUTORECIPE_SEED", "0")), smoke=args.smoke)
    blob = recipe.export(model)
    with open("out/model_smoke.bin" if args.smoke else "out/model.bin", "wb") as f:
        f.write(blob)
    print(f"harness: model blob {len(blob):,} bytes")


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # skip torch's teardown: about a second of CPU the recipe should not be charged
