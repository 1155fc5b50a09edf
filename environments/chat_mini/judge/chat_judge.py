"""chat-mini's judge: it alone reads the CORE-mini items. For each item it sends the recipe's
model server (harness/chat_eval.py, in the sandbox) the candidate sequences, in an order it
chooses and never saying which is gold, gets log-distributions back, and scores them the way
nanochat scores CORE: lowest mean loss over the continuation for multiple choice, exact
teacher-forced greedy match for language modelling. Counts per task, the probes (normalization;
causality on 8 changed copies mixed in) and the checkpoint's depth go to core.json in its own
folder. The depth is read from the trained checkpoint's tensor names, without unpickling it."""

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
    counts: dict[str, list[int]] = {}
    norm_err = causal = 0.0
    probed = 0  # the probes really mixed in (a row of one token has no later token to change)
    for k in rng.permutation(len(chosen)):
        item = chosen[k]
        right, errors, changed_by = _judge(pipes, rng, item, ctx, k in probe_items)
        for error in errors:
            norm_err = max(norm_err, error)
        if changed_by is not None:
            causal, probed = max(causal, changed_by), probed + 1
        tally = counts.setdefault(item["task"], [0, 0])
        tally[0] += 1
        tally[1] += int(right)
    return {"depth": depth, "config": {"depth": depth}, "context": ctx, "normalization_error": norm_err,
            "causality_diff": causal, "probes": probed,
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


def _judge(pipes, rng, item: dict, ctx: int, probed: bool) -> tuple[bool, list[float], float | None]:
    """One item: whether the model got it right, the normalization error of each row it was sent,
    and, where a changed copy was mixed in, how far the rows before the change moved."""
    candidates = item["choices"] if "choices" in item else [item["continuation"]]
    order = rng.permutation(len(candidates))
    seqs = []
    for c in order:
        ids = ([BOS] + encode(item["context"]) + encode(candidates[c]))[-ctx - 1:]
        seqs.append((ids, min(len(encode(candidates[c])), len(ids) - 1)))  # a continuation may fill the context
    rows = [ids[:-1] for ids, _ in seqs]
    probe = _mix_in_probe(rng, rows) if probed and len(rows[0]) >= 2 else None  # two tokens can look ahead
    width = max(len(r) for r in rows)
    x = np.full((len(rows), width), BOS, np.int64)  # padded after the text: a causal model ignores it
    for j, r in enumerate(rows):
        x[j, : len(r)] = r
    lp = judging.ask(pipes, x)
    errors = [judging.logsumexp_error(lp[j, : len(r)]) for j, r in enumerate(rows)]
    lp = judging.normalized(lp)  # scored as distributions, whatever slack the probe allowed
    changed_by = None
    if probe is not None:
        j, t = probe
        original = next(i for i, r in enumerate(rows) if i != j and r == seqs[0][0][:-1])
        changed_by = float(np.abs(lp[j, : t + 1] - lp[original, : t + 1]).max())
    answers = [i for i in range(len(rows)) if probe is None or i != probe[0]]
    return _right(item, order, seqs, lp, answers), errors, changed_by


def _mix_in_probe(rng, rows: list[list[int]]) -> tuple[int, int]:
    """Insert, at a random place, a copy of the first row changed after a random position t;
    returns (its row, t): a causal model gives both rows the same distributions up to t."""
    t = int(rng.integers(0, len(rows[0]) - 1))
    changed = list(rows[0])
    changed[t + 1:] = rng.integers(0, 256, len(changed) - t - 1).tolist()
    rows.insert(int(rng.integers(0, len(rows) + 1)), changed)
    return rows.index(changed), t


def _right(item: dict, order, seqs, lp, answers: list[int]) -> bool:
    """Multiple choice: the lowest mean loss is gold's; language modelling: greedy decoding matches."""
    losses, greedy = [], []
    for (ids, n), j in zip(seqs, answers):
        y = np.array(ids[1:])
        got = lp[j, len(y) - n: len(y)]
        losses.append(-float(got[np.arange(n), y[-n:]].mean()))
        greedy.append(bool((got.argmax(-1) == y[-n:]).all()))
    if "choices" in item:
        return int(order[int(np.argmin(losses))]) == item["gold"]
    return greedy[0]


if __name__ == "__main__":
    judging.run(main, "core.json")
