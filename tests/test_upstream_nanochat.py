"""The nanochat-d12 adapter against a stand-in nanochat checkout that reproduces upstream's entry
points, log lines and checkpoint layout (tests/fixtures/upstream/nanochat): a valid run and
every outcome the task's classifier can produce, each caused by an edit a specialist could make,
run for real (torchrun on CPU ranks, in the sandbox, under the wall caps)."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from actors.sandbox import isolation_available
from agents.changes import apply_edits
from autorecipe.cli import main
from autorecipe.cli_envs import recipe_key
from autorecipe.local_trial import local_trial, prepared_data
from environments import registry
from environments.spec import Edit
from events import BlobStore

# without root, trials run as this user in its view of the files: a documented gap, not a failure
NEEDS_OWN_ROOT = pytest.mark.skipif(not isolation_available(),
                                    reason="the folder it was prepared in is hidden by the trial's own root "
                                    "(namespaces: root only; README, containment)")
FIXTURE = Path(__file__).parent / "fixtures" / "upstream" / "nanochat"
OPTIONS = dict(gpus="1", wall_s="120", smoke_s="120", eval_s="120", shards="2")  # room for a loaded machine
# the bundle's format (scripts/base_eval.py:68-83): core.yaml's icl_tasks, eval_meta_data.csv's random baselines
BUNDLE = "icl_tasks:\n" + "".join(f"- label: task{i}\n  dataset_uri: task{i}.jsonl\n  num_fewshot: [0]\n"
                                  f"  icl_task_type: multiple_choice\n" for i in range(22))
META = "Eval Task,Random baseline\n" + "".join(f"task{i},25.0\n" for i in range(22))


@pytest.fixture(scope="module")
def chat(tmp_path_factory):
    root = tmp_path_factory.mktemp("nc")
    upstream, base = root / "nanochat", root / "base"
    shutil.copytree(FIXTURE, upstream)
    (base / "eval_bundle").mkdir(parents=True)  # S3 is out of reach here: the bundle is pre-staged
    (base / "eval_bundle" / "core.yaml").write_text(BUNDLE)
    (base / "eval_bundle" / "eval_meta_data.csv").write_text(META)
    with zipfile.ZipFile(base / "eval_bundle.zip", "w") as z:  # left beside it, as upstream's download leaves it
        z.writestr("eval_bundle/core.yaml", BUNDLE)
    spec = registry.get("nanochat-d12", {**OPTIONS, "upstream": str(upstream), "base_dir": str(base)})
    said = []
    data = prepared_data(spec, root=root / "prepared", log=said.append)
    blobs = BlobStore(root / "blobs")

    def trial(*edits, **changed):  # `changed` options: a tighter cap for the overrun cases
        s = registry.get("nanochat-d12", {**trial.options, **changed}) if changed else spec
        return local_trial(s, "full", apply_edits(s.baseline_code(), list(edits)), blobs, root / "work", data)

    trial.spec, trial.said, trial.base, trial.blobs, trial.data = spec, said, base, blobs, data
    trial.options = {**OPTIONS, "upstream": str(upstream), "base_dir": str(base)}
    return trial


def test_prepare_runs_the_missing_upstream_steps_only(chat):
    said = "\n".join(chat.said)
    assert "-m nanochat.dataset -n 2" in said and "-m scripts.tok_train" in said
    assert "eval_bundle.zip" not in said  # it was there already
    # two train shards and the validation shard, always the last (nanochat/dataset.py:147-149)
    assert sorted(p.name for p in chat.base.glob("base_data_climbmix/*.parquet")) == [
        "shard_00000.parquet", "shard_00001.parquet", "shard_06542.parquet"]


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
    train = chat.blobs.get(executed.outputs["logs/train"]).decode()
    # no FA3 offline: --window-pattern L keeps every layer off SDPA's masked path (base_train.py:114-116)
    assert "--depth=12 " in train and train.splitlines()[0].endswith("--window-pattern=L")
    assert "Flash Attention 3 not available" in train and "SDPA has no support for sliding window" not in train
    assert "Step 00060 | Validation bpb: 0.857600" in train  # base_train.py:427, the last step
    assert "CORE metric: 0.1618" in chat.blobs.get(executed.outputs["logs/eval"]).decode()


def test_without_a_window_pattern_the_recipes_own_applies_and_seeds_are_said_not_to_reach_nanochat(chat, tmp_path):
    spec = registry.get("nanochat-d12", {**chat.options, "window_pattern": ""})
    executed, ev = local_trial(spec, "full", spec.baseline_code(), chat.blobs, tmp_path, chat.data, seed=3)
    assert ev.verdict == "valid", ev.feedback
    train = chat.blobs.get(executed.outputs["logs/train"]).decode()
    assert "--window-pattern" not in train.splitlines()[1]
    assert "WARNING: SDPA has no support for sliding window attention (window_pattern='SSSL')" in train
    assert train.startswith("autorecipe-seed: 3 not passed: base_train.py has no seed flag")


def test_trial_recipe_takes_a_nested_upstream_path(chat, tmp_path):
    edited = tmp_path / "edited" / "scripts" / "base_train.py"
    edited.parent.mkdir(parents=True)
    edited.write_text(chat.spec.baseline_code()["scripts/base_train.py"].decode()
                      .replace("CRASH_AT_STEP = -1", "CRASH_AT_STEP = 10"))
    opts = [a for k, v in chat.options.items() for a in ("--env-opt", f"{k}={v}")]
    result = CliRunner().invoke(main, ["trial", "nanochat-d12", "--recipe", str(edited), *opts, "--scratch",
                                       str(tmp_path / "scratch")], env={"AUTORECIPE_DATA": str(chat.data.parent)})
    assert result.exit_code == 1, result.output  # trial exits 1 for anything but a valid verdict
    assert "verdict   crash" in result.output and "NaN loss at step 10" in result.output


def test_recipe_paths_match_by_the_recipe_path_they_end_with():
    code = {"scripts/base_train.py": b"", "nanochat/gpt.py": b"", "a/__init__.py": b"", "b/__init__.py": b""}
    assert recipe_key(code, "/home/u/edits/scripts/base_train.py") == "scripts/base_train.py"
    assert recipe_key(code, "base_train.py") == "scripts/base_train.py"  # a name only one recipe file has
    assert recipe_key(code, "/x/b/__init__.py") == "b/__init__.py"
    with pytest.raises(ValueError, match="a/__init__.py, b/__init__.py"):
        recipe_key(code, "/x/c/__init__.py")
    with pytest.raises(ValueError, match="none of the recipe files"):
        recipe_key(code, "/x/train.py")


@pytest.mark.parametrize("edits,changed,status,evidence", [
    # a horizon that never ends (step 10 of 60 hangs) under a 10 s cap
    ([Edit("scripts/base_train.py", "CRASH_AT_STEP = -1", "CRASH_AT_STEP = 10"),
      Edit("scripts/base_train.py", 'raise RuntimeError("NaN loss at step %d" % (step + 1))', "time.sleep(600)")],
     {"wall_s": "10"}, "train_budget_overrun", "wall cap"),
    ([Edit("scripts/base_train.py", "CRASH_AT_STEP = -1", "CRASH_AT_STEP = 10")], {}, "crash", "NaN loss"),
    ([Edit("nanochat/dataloader.py", "READ_EVAL_BUNDLE = False", "READ_EVAL_BUNDLE = True")], {}, "preflight_crash",
     "core.yaml"),
    ([Edit("nanochat/dataloader.py", 'READ_EVAL_ZIP = ""', 'READ_EVAL_ZIP = "trial"')], {}, "preflight_crash",
     "eval_bundle.zip"),
    pytest.param([Edit("nanochat/dataloader.py", 'READ_EVAL_ZIP = ""', 'READ_EVAL_ZIP = "prepared"')], {},
                 "preflight_crash", "eval_bundle.zip", marks=NEEDS_OWN_ROOT),
    ([Edit("nanochat/gpt.py", "EXTRA_BLOCKS = 0", "EXTRA_BLOCKS = 1")], {}, "disqualified", "13 transformer blocks"),
    ([Edit("nanochat/gpt.py", "FORWARD_DELAY_S = 0.0", "FORWARD_DELAY_S = 1.0")], {"eval_s": "8"}, "eval_budget_overrun",
     "core ran"),  # 22 tasks of 1 s each under an 8 s budget
], ids=["wall-cap", "train-crash", "smoke-crash: eval data is hidden while training",
        "smoke-crash: so is the archive it came in", "smoke-crash: also where it was prepared", "depth",
        "eval-overrun"])
def test_each_failure_gets_its_label_and_evidence(chat, edits, changed, status, evidence):
    executed, ev = chat(*edits, **changed)
    assert ev.verdict == status, ev.feedback
    text = (ev.feedback + " " + " ".join(c.evidence for c in ev.checks)).lower()
    assert evidence.lower() in text, text
    assert ev.score is None


# lines of the real nanochat (92d63d4) as they came out of a CPU run through this adapter
# (BENCHMARKS.md, "The real tasks on CPU"): base_train.py:427 and :567, base_eval.py:115 and :237
REAL_TRAIN = """Step 00000 | Validation bpb: 2.009245
step 00000/00002 (0.00%) | loss: 5.914726 | lrm: 0.03 | dt: 74399.12ms | tok/sec: 1 | bf16_mfu: 0.00 | epoch: 2 pq: 0 rg: 4 | total time: 0.00m
step 00001/00002 (50.00%) | loss: 5.913667 | lrm: 0.05 | dt: 57195.42ms | tok/sec: 2 | bf16_mfu: 0.00 | epoch: 2 pq: 0 rg: 4 | total time: 0.00m
Step 00002 | Validation bpb: 2.007685
Peak memory usage: 0.00MiB
Total training time: 0.00m
Minimum validation bpb: 2.007685
"""
REAL_EVAL = """Evaluating: synthetic_mc (0-shot, type: multiple_choice)... accuracy: 0.5000 | centered: 0.0000 | time: 2.45s

Results written to: /tmp/nc/work/t0-a1/out/base/base_eval/base_model_000002.csv
CORE metric: 0.0000
"""


def test_the_evaluator_reads_the_real_lines():
    from evaluators.nanochat_d12 import CORE, VAL_BPB

    assert VAL_BPB.findall(REAL_TRAIN)[-1] == "2.007685"  # the last step's, not the minimum's line
    assert CORE.findall(REAL_EVAL) == ["0.0000"]
