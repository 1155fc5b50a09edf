"""golf-mini harness, eval phase: the recipe's model as a server. It loads the exported model and
answers the judge's token windows with full next-token log-distributions, over pipes; it never
sees the validation shard, what the windows are for, or the score. The judge
(environments/golf_mini/judge/golf_judge.py) runs in another process, as another user."""

import os
import sys

from audit import install_audit


def main() -> None:
    install_audit(frameworks=("numpy", "torch"))
    import numpy as np
    import torch
    import wire

    torch.set_num_threads(int(os.environ.get("AUTORECIPE_THREADS", "1")))
    sys.path.insert(0, "recipe")
    import train_gpt_mini as recipe

    model = recipe.load(open("out/model.bin", "rb").read())

    def logprobs(windows):
        with torch.no_grad():
            return model.logprobs(torch.from_numpy(windows)).float().numpy()

    n = wire.serve(np.array([int(model.context)], np.int64), logprobs)
    print(f"harness: answered {n} requests of the judge")


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # skip torch's teardown: about a second of CPU the recipe should not be charged
