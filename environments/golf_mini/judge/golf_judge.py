"""golf-mini's judge: it alone reads the validation shard. It drives the recipe's model server
(harness/golf_eval.py, in the sandbox) over pipes: token windows in, in an order it chooses, full
next-token log-distributions out, and computes the nats over every held-out byte and the
legality probes itself, into its own folder, where no recipe process can write.

Probes: normalization (the logsumexp of every distribution returned is 0) and causality (for 8
windows, a copy with the tokens after a random position changed leaves the distributions up to
that position unchanged).

The eval phase runs as two cold processes (repeats), each with a judge of its own; the two judges
draw the same windows and probes from the seed the runner gives them both, and each serves half
of the windows. A probe's copy is served by the other process than its original: a server that
remembers what it served could otherwise answer the copy from the original it had seen, and pass
the probe while it looks ahead everywhere else. Each judge writes eval_<repeat>.json (each of its
windows' nats, its tokens) and probes_<repeat>.npz (the rows up to each probe's position that it
served); the evaluator adds the halves and compares each probe's rows across the two files."""

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
    repeat, repeats = int(os.environ.get("AUTORECIPE_REPEAT", "0")), int(os.environ.get("AUTORECIPE_REPEATS", "1"))
    said = judging.hello(pipes)
    ctx = int(said.reshape(-1)[0]) if said.size else 0
    if not 1 <= ctx <= 65536:
        raise judging.Refused(f"model server says its context is {ctx}")
    rng = judging.rng()
    starts = list(range(0, len(tokens) - 1, ctx))
    # rows: (start, width, perturbed-after or None); a probe is a changed copy of a real window
    rows = [(s, min(ctx, len(tokens) - 1 - s), None) for s in starts]
    probe_of: dict[int, int] = {}  # a probe's row -> its original's
    for i in rng.choice(len(rows), size=min(PROBES, len(rows)), replace=False):
        s, width, _ = rows[i]
        if width >= 2:  # a window of two tokens can look one ahead: a context of 2 is probed too
            probe_of[len(rows)] = int(i)
            rows.append((s, width, int(rng.integers(0, width - 1))))
    order = rng.permutation(len(rows))
    suffixes = {i: rng.integers(0, 256, rows[i][1] - rows[i][2] - 1) for i in probe_of}
    # originals are dealt to the processes in turn; a probe goes to the one after its original's
    server = {int(i): k % repeats for k, i in enumerate(i for i in order if rows[i][2] is None)}
    server.update({i: (server[o] + 1) % repeats for i, o in probe_of.items()})
    key = {i: f"{n}" for n, i in enumerate(sorted(probe_of))}  # a probe's name in both files
    key.update({o: key[i] for i, o in probe_of.items()})
    by_width: dict[int, list[int]] = {}
    for i in order:
        if server[int(i)] == repeat:
            by_width.setdefault(rows[i][1], []).append(int(i))
    window_nats, scored, norm_err = [], 0, 0.0
    served: dict[str, np.ndarray] = {}
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
                if i in key:  # a probe, or a probed original: its rows up to the probe's position
                    t_probe = t if t is not None else rows[next(p for p, o in probe_of.items() if o == i)][2]
                    served[("copy/" if t is not None else "original/") + key[i]] = lp[j][: t_probe + 1]
                if t is None:
                    y = tokens[s + 1: s + width + 1]
                    mask = y != BOS  # document separators are not text
                    window_nats.append(-float(lp[j][np.arange(width), y][mask].sum()))
                    scored += int(mask.sum())
    np.savez(f"probes_{repeat}.npz", **served)
    # each window's nats, added by the evaluator with math.fsum: exactly rounded, so the score does
    # not depend on which process served which window, nor in what order
    return {"window_nats": window_nats, "scored_tokens": scored, "context": ctx, "normalization_error": norm_err,
            "val_tokens": int(len(tokens)), "windows": len(starts), "probes": len(probe_of),
            "repeat": repeat, "repeats": repeats}


if __name__ == "__main__":
    judging.run(main, f"eval_{os.environ.get('AUTORECIPE_REPEAT', '0')}.json")
