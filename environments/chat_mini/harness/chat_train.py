"""chat-mini harness, train phase: train the recipe and save its checkpoint."""

import argparse
import os
import sys

from audit import install_audit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    install_audit(frameworks=("numpy", "torch"))
    import numpy as np

    sys.path.insert(0, "recipe")
    import model
    import train

    header = np.fromfile("data/train_000.bin", np.int32, 256)
    tokens = np.fromfile("data/train_000.bin", np.uint16, offset=1024)[: header[2]]
    trained = train.train(tokens, smoke=args.smoke)
    model.save(trained, "out/ckpt_smoke.pt" if args.smoke else "out/ckpt.pt")


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # skip torch's teardown: about a second of CPU the recipe should not be charged
