"""chat-mini's judge: it alone reads the CORE-mini items. For each item it sends the recipe's
model server (harness/chat_eval.py, in the sandbox) the candidate sequences, in an order it
chooses and never saying which is gold, gets log-distributions back, and scores them the way
nanochat scores CORE: lowest mean loss over the continuation for multiple choice, exact
teacher-forced greedy match for language modelling. Counts per task, the probes (normalization;
causality on 8 changed copies) and the checkpoint's depth go to its own folder. The depth is read
from the trained checkpoint's tensor names, without unpickling it.

The eval phase runs as two cold processes (repeats), each with a judge of its own, which draw the
same plan from the seed the runner gives them both and each serve half the items. A probe's
copy is sent by the other process than its item: a server that saw the original (or had it in
the same request) could answer the copy from it, and pass while it looks ahead everywhere else.
Each judge writes core_<repeat>.json (its counts) and probes_<repeat>.npz (the rows up to each
probe's position it served); the evaluator adds the counts and compares the rows."""

import os
import pickletools
import re
import sys
import zipfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "common"))
import judging  # noqa: E402

BOS, PROBES = 256, 8
BLOCK = re.compile(r"^blocks\.(\d+)\.")
# a state dict's data.pkl names its tensors and points at their storage: kilobytes. The recipe
# wrote the zip, and this process has no memory limit: a member that inflates past this is not read
PICKLE_BYTES = 16 * 1024**2


def checkpoint_depth(path: str) -> int:
    """Blocks named in a torch.save checkpoint (a zip whose data.pkl holds the state's keys),
    read from the pickle's opcodes: nothing in it is run. -1 if it is no such file, or its
    data.pkl inflates past PICKLE_BYTES (a zip bomb would fill this process's memory)."""
    try:
        with zipfile.ZipFile(path) as z:
            info = next(i for i in z.infolist() if i.filename.endswith("/data.pkl") or i.filename == "data.pkl")
            if info.file_size > PICKLE_BYTES:
                return -1
            with z.open(info) as f:  # reads stop at the declared size, whatever the stream holds
                data = f.read(PICKLE_BYTES + 1)
            if len(data) > PICKLE_BYTES:
                return -1
            blocks = {int(m.group(1)) for _, arg, _ in pickletools.genops(data)
                      if isinstance(arg, str) and (m := BLOCK.match(arg))}
    except (OSError, zipfile.BadZipFile, StopIteration, ValueError):
        return -1
    return len(blocks)


def encode(text: str) -> list[int]:
    return list(text.encode("ascii", "replace"))


def main(pipes) -> dict:
    heldout = os.environ["AUTORECIPE_HELDOUT"]
    import json

    repeat, repeats = int(os.environ.get("AUTORECIPE_REPEAT", "0")), int(os.environ.get("AUTORECIPE_REPEATS", "1"))
    items = [json.loads(line) for line in open(os.path.join(heldout, "tasks.jsonl"))]
    limit = int(os.environ.get("AUTORECIPE_TASK_ITEMS", "0"))
    depth = checkpoint_depth(os.path.join(os.environ["AUTORECIPE_CARRIED"], "ckpt.pt"))
    said = judging.hello(pipes)
    ctx = int(said.reshape(-1)[0]) if said.size else 0
    if not 1 <= ctx <= 65536:
        raise judging.Refused(f"model server says its context is {ctx}")
    rng = judging.rng()
    chosen = _chosen(items, limit)
    probe_items = set(rng.choice(len(chosen), size=min(PROBES, len(chosen)), replace=False).tolist())
    plans = [_plan(rng, chosen[k], ctx, k in probe_items) for k in rng.permutation(len(chosen))]
    counts: dict[str, list[int]] = {}
    norm_err = 0.0
    served: dict[str, np.ndarray] = {}
    for n, (item, order, seqs, rows, probe) in enumerate(plans):
        home = n % repeats  # items are dealt to the processes in turn; a probe goes to the next one
        if home == repeat:
            lp, errors = _ask(pipes, rows)
            norm_err = max(norm_err, *errors)
            tally = counts.setdefault(item["task"], [0, 0])
            tally[0] += 1
            tally[1] += int(_right(item, order, seqs, lp))
            if probe is not None:
                served[f"original/{n}"] = lp[0, : probe[0] + 1]
        if probe is not None and (home + 1) % repeats == repeat:
            lp, errors = _ask(pipes, [probe[1]])
            norm_err = max(norm_err, *errors)
            served[f"copy/{n}"] = lp[0, : probe[0] + 1]
    np.savez(f"probes_{repeat}.npz", **served)
    return {"depth": depth, "config": {"depth": depth}, "context": ctx, "normalization_error": norm_err,
            "probes": sum(plan[4] is not None for plan in plans), "repeat": repeat, "repeats": repeats,
            "tasks": {t: {"n": n, "correct": c} for t, (n, c) in counts.items()}}


def _chosen(items: list[dict], limit: int) -> list[dict]:
    """The items judged: all of them, or the first `limit` of each task."""
    chosen, seen = [], {}
    for item in items:
        n = seen.get(item["task"], 0)
        if not limit or n < limit:
            chosen.append(item)
            seen[item["task"]] = n + 1
    return chosen


def _plan(rng, item: dict, ctx: int, probed: bool) -> tuple:
    """What is asked about one item, drawn alike by every process's judge: (the item, the order of
    its candidates, each one's ids and continuation length, the rows sent, and the probe: a copy
    of the first row changed after a random position t, as (t, row), or None)."""
    candidates = item["choices"] if "choices" in item else [item["continuation"]]
    order = rng.permutation(len(candidates))
    seqs = []
    for c in order:
        ids = ([BOS] + encode(item["context"]) + encode(candidates[c]))[-ctx - 1:]
        seqs.append((ids, min(len(encode(candidates[c])), len(ids) - 1)))  # a continuation may fill the context
    rows = [ids[:-1] for ids, _ in seqs]
    probe = None
    if probed and len(rows[0]) >= 2:  # two tokens can look ahead
        t = int(rng.integers(0, len(rows[0]) - 1))
        changed = list(rows[0])
        changed[t + 1:] = rng.integers(0, 256, len(changed) - t - 1).tolist()
        probe = (t, changed)
    return item, order, seqs, rows, probe


def _ask(pipes, rows: list[list[int]]) -> tuple[np.ndarray, list[float]]:
    """The rows sent as one request: their log-distributions, normalized, and each row's
    normalization error before that."""
    width = max(len(r) for r in rows)
    x = np.full((len(rows), width), BOS, np.int64)  # padded after the text: a causal model ignores it
    for j, r in enumerate(rows):
        x[j, : len(r)] = r
    lp = judging.ask(pipes, x)
    errors = [judging.logsumexp_error(lp[j, : len(r)]) for j, r in enumerate(rows)]
    return judging.normalized(lp), errors  # scored as distributions, whatever slack the probe allowed


def _right(item: dict, order, seqs, lp) -> bool:
    """Multiple choice: the lowest mean loss is gold's; language modelling: greedy decoding matches."""
    losses, greedy = [], []
    for j, (ids, n) in enumerate(seqs):
        y = np.array(ids[1:])
        got = lp[j, len(y) - n: len(y)]
        losses.append(-float(got[np.arange(n), y[-n:]].mean()))
        greedy.append(bool((got.argmax(-1) == y[-n:]).all()))
    if "choices" in item:
        return int(order[int(np.argmin(losses))]) == item["gold"]
    return greedy[0]


if __name__ == "__main__":
    judging.run(main, f"core_{os.environ.get('AUTORECIPE_REPEAT', '0')}.json")
