"""golf-mini's judge: it alone reads the validation shard. It drives the recipe's model server
(harness/golf_eval.py, in the sandbox) over pipes: token windows in, in an order it chooses, full
next-token log-distributions out, and computes the nats over every held-out byte and the
legality probes itself, into eval.json in its own folder, where no recipe process can write.

Probes: normalization (the logsumexp of every distribution returned is 0) and causality (for 8
windows, a copy with the tokens after a random position changed, mixed among the other windows,
leaves the distributions up to that position unchanged)."""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "common"))
import judging  # noqa: E402

BOS, BATCH, PROBES = 256, 16, 8


def validation_tokens() -> np.ndarray:
    path = os.path.join(os.environ["AUTORECIPE_HELDOUT"], "val_000.bin")
    header = np.fromfile(path, np.int32, 256)
    tokens = np.fromfile(path, np.uint16, offset=1024)[: header[2]].astype(np.int64)
    limit = int(os.environ.get("AUTORECIPE_VAL_TOKENS", "0")) or len(tokens)
    return tokens[:limit]


def main(pipes) -> dict:
    tokens = validation_tokens()
    said = judging.hello(pipes)
    ctx = int(said.reshape(-1)[0]) if said.size else 0
    if not 1 <= ctx <= 65536:
        raise judging.Refused(f"model server says its context is {ctx}")
    rng = judging.rng()
    starts = list(range(0, len(tokens) - 1, ctx))
    # rows: (start, width, perturbed-after or None); a probe is a changed copy of a real window
    rows = [(s, min(ctx, len(tokens) - 1 - s), None) for s in starts]
    for i in rng.choice(len(rows), size=min(PROBES, len(rows)), replace=False):
        s, width, _ = rows[i]
        if width >= 2:  # a window of two tokens can look one ahead: a context of 2 is probed too
            rows.append((s, width, int(rng.integers(0, width - 1))))
    order = rng.permutation(len(rows))
    by_width: dict[int, list[int]] = {}
    for i in order:
        by_width.setdefault(rows[i][1], []).append(int(i))
    suffixes = {i: rng.integers(0, 256, rows[i][1] - rows[i][2] - 1) for i in range(len(rows)) if rows[i][2] is not None}
    nats, scored, norm_err = 0.0, 0, 0.0
    answers: dict[int, np.ndarray] = {}
    probed = {(rows[i][0], rows[i][1]) for i in suffixes}
    for width, members in by_width.items():
        for b in range(0, len(members), BATCH):
            batch = members[b: b + BATCH]
            x = np.stack([tokens[rows[i][0]: rows[i][0] + width] for i in batch])
            for j, i in enumerate(batch):
                if i in suffixes:
                    x[j, rows[i][2] + 1:] = suffixes[i]
            lp = judging.ask(pipes, x)
            norm_err = max(norm_err, judging.logsumexp_error(lp))
            lp = judging.normalized(lp)
            for j, i in enumerate(batch):
                s, _, t = rows[i]
                if t is not None or (s, width) in probed:
                    answers[i] = lp[j]
                if t is None:
                    y = tokens[s + 1: s + width + 1]
                    mask = y != BOS  # document separators are not text
                    nats -= float(lp[j][np.arange(width), y][mask].sum())
                    scored += int(mask.sum())
    causal = 0.0
    originals = {(rows[i][0], rows[i][1]): i for i in range(len(rows)) if rows[i][2] is None}
    for i, t_i in ((i, rows[i][2]) for i in suffixes):
        original = answers[originals[(rows[i][0], rows[i][1])]]
        causal = max(causal, float(np.abs(answers[i][: t_i + 1] - original[: t_i + 1]).max()))
    return {"nats": nats, "scored_tokens": scored, "context": ctx, "normalization_error": norm_err,
            "causality_diff": causal, "val_tokens": int(len(tokens)), "windows": len(starts), "probes": len(suffixes)}


if __name__ == "__main__":
    judging.run(main, "eval.json")
