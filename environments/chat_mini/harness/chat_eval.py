"""chat-mini harness, eval phase: the recipe's checkpoint as a model server. It answers the
judge's token sequences with next-token log-distributions, over pipes; it never sees the task
items, which candidate is gold, or the score. The judge
(environments/chat_mini/judge/chat_judge.py) runs in another process, as another user."""

import os
import sys

from audit import install_audit


def main() -> None:
    install_audit(frameworks=("numpy", "torch"))
    import numpy as np
    import torch
    import torch.nn.functional as F
    import wire

    torch.set_num_threads(int(os.environ.get("AUTORECIPE_THREADS", "1")))
    sys.path.insert(0, "recipe")
    import model as M

    net = M.load("out/ckpt.pt")

    def logprobs(windows):
        with torch.no_grad():
            return F.log_softmax(net(torch.from_numpy(windows)).float(), dim=-1).numpy()

    n = wire.serve(np.array([int(net.context)], np.int64), logprobs)
    print(f"harness: answered {n} requests of the judge")


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)
