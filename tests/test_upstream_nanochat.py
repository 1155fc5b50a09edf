"""The nanochat-d12 adapter against a stand-in nanochat checkout that reproduces upstream's entry
points, log lines and checkpoint layout (tests/fixtures/upstream/nanochat): a valid run and
every outcome the task's classifier can produce, each caused by an edit a specialist could make,
run for real (torchrun on CPU ranks, in the sandbox, under the wall caps)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autorecipe.local_trial import local_trial, prepared_data
from environments import registry
from environments.edits import apply_edits
from environments.spec import Edit
from events import BlobStore

FIXTURE = Path(__file__).parent / "fixtures" / "upstream" / "nanochat"
OPTIONS = dict(gpus="1", wall_s="10", smoke_s="20", eval_s="8", shards="2")
BUNDLE = "".join(f"- label: task{i}\n" for i in range(22))


@pytest.fixture(scope="module")
def chat(tmp_path_factory):
    root = tmp_path_factory.mktemp("nc")
    upstream, base = root / "nanochat", root / "base"
    shutil.copytree(FIXTURE, upstream)
    (base / "eval_bundle").mkdir(parents=True)  # S3 is out of reach here: the bundle is pre-staged
    (base / "eval_bundle" / "core.yaml").write_text(BUNDLE)
    spec = registry.get("nanochat-d12", {**OPTIONS, "upstream": str(upstream), "base_dir": str(base)})
    said = []
    data = prepared_data(spec, root=root / "prepared", log=said.append)
    blobs = BlobStore(root / "blobs")

    def trial(*edits):
        return local_trial(spec, "full", apply_edits(spec.baseline_code(), list(edits)), blobs, root / "work", data)

    trial.spec, trial.said, trial.base = spec, said, base
    return trial


def test_prepare_runs_the_missing_upstream_steps_only(chat):
    said = "\n".join(chat.said)
    assert "-m nanochat.dataset -n 2" in said and "-m scripts.tok_train" in said
    assert "eval_bundle.zip" not in said  # it was there already
    assert len(list(chat.base.glob("base_data_climbmix/*.parquet"))) == 2


def test_the_five_specialists_own_the_upstream_files():
    spec = registry.get("nanochat-d12", {"upstream": str(FIXTURE)})
    owned = {s.name: s.surface.files for s in spec.specialists}
    assert owned == {"arch": ("nanochat/gpt.py",), "opt": ("nanochat/optim.py",),
                     "data": ("nanochat/dataloader.py", "nanochat/tokenizer.py"), "sched": ("scripts/base_train.py",),
                     "sys": ("nanochat/flash_attention.py", "nanochat/common.py")}
    assert "nanochat/core_eval.py" not in spec.recipe_files and "scripts/base_eval.py" not in spec.recipe_files


def test_a_valid_run_is_scored_by_core_from_the_evaluators_run(chat):
    executed, ev = chat()
    assert ev.verdict == "valid", ev.feedback
    assert ev.score == pytest.approx(0.1618)
    assert ev.metrics["val_bpb"] == pytest.approx(0.8576)
    assert [p.name for p in executed.phases] == ["smoke", "train", "eval"]
    assert next(c for c in ev.checks if c.name == "depth").measured == 12


@pytest.mark.parametrize("edits,status,evidence", [
    ([Edit("scripts/base_train.py", "TARGET_PARAM_DATA_RATIO = 12", "TARGET_PARAM_DATA_RATIO = 100")],
     "train_budget_overrun", "wall cap"),
    ([Edit("scripts/base_train.py", "CRASH_AT_STEP = -1", "CRASH_AT_STEP = 10")], "crash", "NaN loss"),
    ([Edit("nanochat/dataloader.py", "READ_EVAL_BUNDLE = False", "READ_EVAL_BUNDLE = True")], "preflight_crash",
     "core.yaml"),
    ([Edit("nanochat/gpt.py", "EXTRA_BLOCKS = 0", "EXTRA_BLOCKS = 1")], "disqualified", "13 transformer blocks"),
    ([Edit("nanochat/gpt.py", "FORWARD_DELAY_S = 0.0", "FORWARD_DELAY_S = 0.5")], "eval_budget_overrun", "core ran"),
], ids=["wall-cap", "train-crash", "smoke-crash: eval data is hidden while training", "depth", "eval-overrun"])
def test_each_failure_gets_its_label_and_evidence(chat, edits, status, evidence):
    executed, ev = chat(*edits)
    assert ev.verdict == status, ev.feedback
    text = (ev.feedback + " " + " ".join(c.evidence for c in ev.checks)).lower()
    assert evidence.lower() in text, text
    assert ev.score is None
