"""Tiny synthetic nanochat data in the exact layout nanochat reads, for runs without internet.

    python benchmarks/nanochat_synthetic.py BASE_DIR [--docs 600]

Writes, under BASE_DIR (NANOCHAT_BASE_DIR):
  base_data_climbmix/shard_00000.parquet, shard_00001.parquet: a `text` column of documents
    (nanochat/dataset.py: DATA_DIR, index_to_filename, rg.column('text'); the last shard is val);
  eval_bundle/core.yaml, eval_data/synthetic_mc.jsonl, eval_meta_data.csv: one multiple-choice
    CORE task in the bundle's format (scripts/base_eval.py evaluate_core: icl_tasks with label,
    icl_task_type, dataset_uri, num_fewshot; items with query, choices, gold; 'Eval Task' and
    'Random baseline' columns).
The tokenizer is then trained by nanochat itself (`python -m scripts.tok_train --vocab-size=512`).
The text is sentences from a small grammar, not FineWeb: a run on it proves the plumbing, not a
CORE worth quoting.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SUBJECTS = ["the cat", "a dog", "the old man", "my sister", "the teacher", "a small bird", "the farmer"]
VERBS = ["sat on", "looked at", "walked to", "painted", "found", "carried", "sold"]
OBJECTS = ["the mat", "the red door", "a green field", "the market", "an apple", "the river", "a wooden box"]


def sentence(rng: random.Random) -> str:
    return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}."


def document(rng: random.Random) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(20, 60))).capitalize()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("base_dir", type=Path)
    p.add_argument("--docs", type=int, default=600, help="documents per shard")
    a = p.parse_args()
    rng = random.Random(0)
    shards = a.base_dir / "base_data_climbmix"
    shards.mkdir(parents=True, exist_ok=True)
    for i in range(2):
        table = pa.table({"text": [document(rng) for _ in range(a.docs)]})
        pq.write_table(table, shards / f"shard_{i:05d}.parquet", row_group_size=100)
    bundle = a.base_dir / "eval_bundle"
    (bundle / "eval_data").mkdir(parents=True, exist_ok=True)
    (bundle / "core.yaml").write_text(
        "icl_tasks:\n- label: synthetic_mc\n  dataset_uri: synthetic_mc.jsonl\n  num_fewshot: [0]\n"
        "  icl_task_type: multiple_choice\n  continuation_delimiter: ' '\n")
    with open(bundle / "eval_data" / "synthetic_mc.jsonl", "w") as f:
        for _ in range(8):
            s, v = rng.choice(SUBJECTS), rng.choice(VERBS)
            right, wrong = rng.choice(OBJECTS), "zebra quantum"
            choices = [right, wrong] if rng.random() < 0.5 else [wrong, right]
            f.write(json.dumps({"query": f"{s.capitalize()} {v}", "choices": choices, "gold": choices.index(right)}) + "\n")
    (bundle / "eval_meta_data.csv").write_text("Eval Task,Task Category,Task Type,#shots,#datapoints,"
                                               "Random baseline,Centered Metric?,Description\n"
                                               "synthetic_mc,synthetic,multiple_choice,0,8,50.0,,synthetic\n")
    print(f"wrote {shards} (2 x {a.docs} documents) and {bundle}")


if __name__ == "__main__":
    main()
