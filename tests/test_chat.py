"""chat-mini specifics (the shared promises are in test_env_contract.py): CORE-mini is the mean
of the centered task accuracies, task items come from held-out documents only, and training is
deterministic."""

import json

import pytest

from environments.chat_mini.prepare import RANDOM_BASELINE

pytestmark = pytest.mark.slow


def test_baseline_is_scored_per_task_and_leaves_headroom(harness):
    executed, ev = harness("chat-mini").baseline
    assert ev.score == pytest.approx(sum(ev.metrics[f"{t}_centered"] for t in RANDOM_BASELINE) / 3)
    train = next(p for p in executed.phases if p.name == "train")
    assert train.cpu_s < train.budget_s / 2  # the cap leaves room to spend on more tokens
    assert next(c for c in ev.checks if c.name == "depth").passed


def test_task_items_come_from_held_out_documents_only(harness):
    data = harness("chat-mini").data
    items = [json.loads(line) for line in open(data / "heldout" / "tasks.jsonl")]
    assert {i["task"] for i in items} == set(RANDOM_BASELINE) and len(items) >= 590
    assert all(len(i["choices"]) == 4 for i in items if i["task"] == "next_line")
    assert not (data / "train" / "tasks.jsonl").exists()
    train = (data / "train" / "train_000.bin").read_bytes()
    sample = [i["choices"][i["gold"]] for i in items if i["task"] == "next_line"][:20]
    assert not any(line.encode() in train for line in sample if len(line) > 40)


def test_training_is_deterministic_so_scores_repeat(harness):
    env = harness("chat-mini")
    _, first = env.baseline
    _, again = env.trial(env.spec.baseline_code(), trial_id="again")
    assert again.score == first.score
