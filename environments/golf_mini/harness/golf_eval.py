"""golf-mini harness, eval phase: drive the exported model over the held-out text (staged for
this phase only) and write per-document nats and the legality probes to out/eval.json. The
evaluator turns these into bits per byte; this driver only asks the model for full
distributions and reads off the targets, so a model sees each window once, scored first.

Probes: normalization (logsumexp of the distribution is 0 at 64 positions) and causality
(changing the tokens after position t leaves positions <= t unchanged, on 8 real windows)."""

import json
import os
import sys

from audit import install_audit

BOS = 256


def main() -> None:
    install_audit()
    import numpy as np
    import torch

    torch.set_num_threads(int(os.environ.get("AUTORECIPE_THREADS", "1")))
    sys.path.insert(0, "recipe")
    import train_gpt_mini as recipe

    model = recipe.load(open("out/model.bin", "rb").read())
    header = np.fromfile("data/val_000.bin", np.int32, 256)
    tokens = np.fromfile("data/val_000.bin", np.uint16, offset=1024)[: header[2]].astype(np.int64)
    limit = int(os.environ.get("AUTORECIPE_VAL_TOKENS", "0")) or len(tokens)
    tokens = torch.from_numpy(tokens[:limit])
    ctx = int(model.context)
    rng = np.random.default_rng(0)
    nats, scored, norm_err, causal = 0.0, 0, 0.0, 0.0
    starts = list(range(0, len(tokens) - 1, ctx))
    probe_windows = set(rng.choice(len(starts), size=min(8, len(starts)), replace=False).tolist())
    with torch.no_grad():
        for b in range(0, len(starts), 16):
            chunk = starts[b: b + 16]
            width = min(ctx, len(tokens) - 1 - chunk[-1])
            x = torch.stack([tokens[s: s + width] for s in chunk])
            y = torch.stack([tokens[s + 1: s + width + 1] for s in chunk])
            lp = model.logprobs(x)
            if lp.shape != (len(chunk), width, 257):
                raise SystemExit(f"harness: logprobs shape {tuple(lp.shape)}, expected {(len(chunk), width, 257)}")
            picked = lp.gather(-1, y.unsqueeze(-1)).squeeze(-1)
            mask = y != BOS  # document separators are not text
            nats -= picked[mask].double().sum().item()
            scored += int(mask.sum())
            rows = rng.integers(0, len(chunk), 4), rng.integers(0, width, 4)
            norm_err = max(norm_err, lp[rows].logsumexp(-1).abs().max().item())
            for i, s in enumerate(chunk):
                if b + i in probe_windows and width > 2:
                    t = int(rng.integers(0, width - 1))
                    changed = x[i].clone()
                    changed[t + 1:] = torch.from_numpy(rng.integers(0, 256, width - t - 1))
                    again = model.logprobs(changed.unsqueeze(0))[0, : t + 1]
                    causal = max(causal, (again - lp[i, : t + 1]).abs().max().item())
    result = {"nats": nats, "scored_tokens": scored, "context": ctx, "normalization_error": norm_err,
              "causality_diff": causal, "val_tokens": int(len(tokens))}
    with open("out/eval.json", "w") as f:
        json.dump(result, f)
    print(f"harness: {scored:,} bytes scored, {nats / scored / 0.6931471805599453:.4f} bits/byte (informational)")


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # skip torch's teardown: about a second of CPU the recipe should not be charged
