"""chat-mini data: Shakespeare train documents as byte shards, and CORE-mini task items built
deterministically from the held-out documents, which the trial never sees.

Tasks (nanochat's CORE shapes, centered by their random baseline rb):
  next_line  MC, rb 0.25: two lines of verse, then the true next line vs 3 other lines
  word_swap  MC, rb 0.5:  a line vs the same line with two adjacent words swapped
  last_word  LM, rb 0:    a line without its last word; greedy decoding must produce it
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from environments.golf_mini.prepare import write_shard
from environments.shakespeare import VAL_DOCS, documents

RANDOM_BASELINE = {"next_line": 0.25, "word_swap": 0.5, "last_word": 0.0}
ITEMS_PER_TASK = 200


def verse_lines(text: bytes) -> list[str]:
    """Lines of speech: indented or plain lines with at least four words, no stage directions."""
    out = []
    for raw in text.decode("ascii").splitlines():
        line = raw.strip()
        words = line.split()
        if len(words) >= 4 and not line.isupper() and not line.startswith(("[", "Enter", "Exit", "Exeunt")):
            out.append(line)
    return out


def make_tasks(docs: dict[str, bytes], n: int = ITEMS_PER_TASK) -> list[dict]:
    rng = random.Random(1337)
    lines = {name: verse_lines(docs[name]) for name in VAL_DOCS}
    items: list[dict] = []
    names = list(VAL_DOCS)
    for _ in range(n):
        doc = lines[rng.choice(names)]
        i = rng.randrange(2, len(doc))
        others = rng.sample([x for x in doc if x != doc[i]], 3)
        choices = [doc[i]] + others
        rng.shuffle(choices)
        items.append({"task": "next_line", "context": doc[i - 2] + "\n" + doc[i - 1] + "\n",
                      "choices": choices, "gold": choices.index(doc[i])})
    for _ in range(n):
        doc = lines[rng.choice(names)]
        words = rng.choice(doc).split()
        j = rng.randrange(len(words) - 1)
        swapped = words[:j] + [words[j + 1], words[j]] + words[j + 2:]
        choices = [" ".join(words), " ".join(swapped)]
        if choices[0] == choices[1]:
            continue
        gold = rng.randrange(2)
        if gold:
            choices.reverse()
        items.append({"task": "word_swap", "context": "", "choices": choices, "gold": gold})
    for _ in range(n):
        doc = lines[rng.choice(names)]
        line = rng.choice(doc).rstrip(".,;:!?'")
        head, _, last = line.rpartition(" ")
        items.append({"task": "last_word", "context": head, "continuation": " " + last})
    return items


def build(out: Path, cache: Path, log=print) -> dict:
    docs = documents(cache, log)
    train = [text for name, text in docs.items() if name not in VAL_DOCS]
    (out / "train").mkdir()
    (out / "heldout").mkdir(mode=0o700)
    n_train = write_shard(out / "train" / "train_000.bin", train)
    items = make_tasks(docs)
    with open(out / "heldout" / "tasks.jsonl", "w") as f:
        for item in items:
            f.write(json.dumps(item) + "\n")
    os.chmod(out / "heldout", 0o700)
    counts = {t: sum(1 for i in items if i["task"] == t) for t in RANDOM_BASELINE}
    log(f"shakespeare: {n_train:,} train tokens; CORE-mini items {counts}")
    return {"train_tokens": n_train, "tasks": counts, "task_docs": list(VAL_DOCS)}
