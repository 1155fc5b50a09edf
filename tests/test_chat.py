"""chat-mini end to end on the micro tier: the baseline, every fault, the known-good edits, task
construction, determinism and evaluator purity."""

import json

import msgspec
import pytest

from autorecipe.local_trial import evaluator_of, local_trial
from environments.chat_mini.faults import FAULTS
from environments.chat_mini.prepare import RANDOM_BASELINE
from environments.chat_mini.techniques import KNOWN_GOOD
from environments.edits import apply_edits
from environments.registry import get
from events import BlobStore

SPEC = get("chat-mini")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(chat_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("chat")
    return {"data": chat_data, "blobs": BlobStore(root / "blobs"), "scratch": root / "work"}


def trial(env, code, **kw):
    return local_trial(SPEC, "micro", code, env["blobs"], env["scratch"], env["data"], **kw)


@pytest.fixture(scope="module")
def baseline(env):
    return trial(env, SPEC.baseline_code())


def test_baseline_is_valid_and_scored_per_task(baseline):
    executed, ev = baseline
    assert ev.verdict == "valid", ev.feedback
    assert ev.score == pytest.approx(sum(ev.metrics[f"{t}_centered"] for t in RANDOM_BASELINE) / 3)
    train = next(p for p in executed.phases if p.name == "train")
    assert train.cpu_s < train.budget_s / 2  # the cap leaves room to spend on more tokens
    assert next(c for c in ev.checks if c.name == "depth").passed


def test_task_items_come_from_held_out_documents_only(chat_data):
    items = [json.loads(line) for line in open(chat_data / "heldout" / "tasks.jsonl")]
    assert {i["task"] for i in items} == set(RANDOM_BASELINE) and len(items) >= 590
    assert all(len(i["choices"]) == 4 for i in items if i["task"] == "next_line")
    assert not (chat_data / "train" / "tasks.jsonl").exists()
    # a task line never appears in the training shard
    train = (chat_data / "train" / "train_000.bin").read_bytes()
    sample = [i["choices"][i["gold"]] for i in items if i["task"] == "next_line"][:20]
    assert not any(line.encode() in train for line in sample if len(line) > 40)


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_each_fault_gets_exactly_its_status_and_evidence(env, name):
    expected, edits, needle = FAULTS[name]
    _, ev = trial(env, apply_edits(SPEC.baseline_code(), edits), trial_id=name)
    text = (ev.feedback + " " + " ".join(c.evidence for c in ev.checks)).lower()
    assert ev.verdict == expected, ev.feedback
    assert needle.lower() in text, ev.feedback


def test_training_is_deterministic_so_scores_repeat(env, baseline):
    _, first = baseline
    _, again = trial(env, SPEC.baseline_code(), trial_id="again")
    assert again.score == first.score


def test_evaluator_is_pure(env, baseline):
    executed, first = baseline
    again = evaluator_of(SPEC)(executed, BlobStore(env["blobs"].root), env["data"], SPEC.tier("micro"))
    assert msgspec.msgpack.encode(again) == msgspec.msgpack.encode(first)


@pytest.mark.parametrize("name", sorted(KNOWN_GOOD))
def test_known_good_edits_beat_the_baseline(env, baseline, name):
    _, base = baseline
    _, ev = trial(env, apply_edits(SPEC.baseline_code(), KNOWN_GOOD[name]), trial_id=name)
    assert ev.verdict == "valid", ev.feedback
    assert ev.score > base.score + SPEC.noise_margin, (ev.score, base.score)
