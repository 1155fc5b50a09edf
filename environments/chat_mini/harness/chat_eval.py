"""chat-mini harness, eval phase: score the checkpoint on the CORE-mini items (staged for this
phase only) the way nanochat scores CORE: lowest mean loss over the continuation for multiple
choice, exact teacher-forced greedy match for language modelling. Writes counts per task to
out/core.json; the evaluator centers and averages them."""

import json
import os
import sys

from audit import install_audit

BOS = 256


def main() -> None:
    install_audit()
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(int(os.environ.get("AUTORECIPE_THREADS", "1")))
    sys.path.insert(0, "recipe")
    import model as M

    net = M.load("out/ckpt.pt")
    limit = int(os.environ.get("AUTORECIPE_TASK_ITEMS", "0"))
    items = [json.loads(line) for line in open("data/tasks.jsonl")]
    counts: dict[str, list[int]] = {}

    def encode(text):
        return list(text.encode("ascii", "replace"))

    def run(context, continuation):
        ids = ([BOS] + encode(context) + encode(continuation))[-net.context - 1:]
        n = len(encode(continuation))
        x = torch.tensor(ids[:-1]).unsqueeze(0)
        y = torch.tensor(ids[1:])
        logits = net(x)[0, -n:]
        return F.cross_entropy(logits, y[-n:]).item(), bool((logits.argmax(-1) == y[-n:]).all())

    with torch.no_grad():
        for item in items:
            task = item["task"]
            seen = counts.setdefault(task, [0, 0])
            if limit and seen[0] >= limit:
                continue
            if "choices" in item:
                losses = [run(item["context"], c)[0] for c in item["choices"]]
                right = losses.index(min(losses)) == item["gold"]
            else:
                right = run(item["context"], item["continuation"])[1]
            seen[0] += 1
            seen[1] += int(right)
    result = {"depth": len(net.blocks), "config": net.config,
              "tasks": {t: {"n": n, "correct": c} for t, (n, c) in counts.items()}}
    with open("out/core.json", "w") as f:
        json.dump(result, f)
    print("harness:", {t: round(c / n, 3) for t, (n, c) in counts.items()}, "(informational)")


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)
