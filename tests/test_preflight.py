"""The cheap preflight (environments/preflight.py and each spec's hook): what it catches from the
code alone, and that it never fails a recipe the evaluator would accept (a wrong FAIL would send
an agent after a problem that is not there)."""

import dataclasses
import os
import subprocess
import sys

import pytest

from agents.changes import EditError, apply_edits
from environments import preflight, registry
from environments.dryrun import SIZE_CAP
from environments.golf_mini import packed_code
from environments.spec import Edit
from evaluators.dryrun import knobs as dryrun_knobs

MINIATURES = ("dryrun", "golf-mini", "chat-mini", "airbench-mini")


def _checks(name, edits=(), tier="micro", spec=None):
    spec = spec or registry.get(name)
    code = apply_edits(spec.baseline_code(), list(edits))
    return {c.name: c for c in preflight.run(spec, code, spec.tier(tier))}


def _evaluator_would_block(name, code):
    """What the evaluator is known to refuse from the code alone: dryrun's size rule."""
    if name != "dryrun":
        return set()
    k = dryrun_knobs(code["knobs.py"].decode())
    return {"artifact_bytes"} if k["WIDTH"] * k["PRECISION"] * 100 > SIZE_CAP else set()


@pytest.mark.parametrize("name", MINIATURES)
def test_baselines_pass_and_library_edits_fail_only_where_the_evaluator_would(name):
    spec = registry.get(name)
    for tier in spec.tiers:
        failed = [c for c in _checks(name, tier=tier).values() if not c.passed]
        assert not failed, (tier, failed)
    blocked = 0
    for t in spec.techniques:
        for v in t.values:
            edits = [Edit(e.path, e.search.replace("{value}", v), e.replace.replace("{value}", v)) for e in t.edits]
            try:
                code = apply_edits(spec.baseline_code(), edits)
            except EditError:
                continue  # an edit meant for a later recipe, not the baseline
            failed = {c.name for c in preflight.run(spec, code, spec.tier("micro")) if not c.passed}
            assert failed == _evaluator_would_block(name, code), (t.name, v, failed)
            blocked += bool(failed)
    assert (blocked > 0) == (name == "dryrun")  # dryrun's library holds too-wide values, to learn from


def test_a_file_the_parser_accepts_but_the_compiler_rejects_fails_compiles():
    bad = _checks("airbench-mini", [Edit("airbench_mini.py", "HIDDEN = 256", "HIDDEN = 256\nreturn HIDDEN")])
    assert not bad["compiles"].passed and "airbench_mini.py:12" in bad["compiles"].evidence
    assert "outside function" in bad["compiles"].evidence


def test_a_name_the_harness_reads_that_the_recipe_renamed_fails_harness_names():
    check = _checks("golf-mini", [Edit("train_gpt_mini.py", "def export(model)", "def export_model(model)")])[
        "harness_names"]
    assert not check.passed
    assert "train_gpt_mini.py: export (golf_train.py)" in check.evidence and "load" not in check.evidence.split(":", 1)[1]
    chat = _checks("chat-mini", [Edit("train.py", "def train(", "def fit(")])["harness_names"]
    assert not chat.passed and "train.py: train (chat_train.py)" in chat.evidence


def test_names_that_cannot_be_told_statically_are_not_reported_missing():
    star = Edit("train_gpt_mini.py", "def export(model)", "from math import *\n\n\ndef export_model(model)")
    check = _checks("golf-mini", [star])["harness_names"]
    assert check.passed and "not decidable for train_gpt_mini.py" in check.evidence
    assert preflight.top_level_names(b"if X:\n    def load(): pass\nelse:\n    from a import b as export\n"
                                     b"def f():\n    global train\n") >= {"load", "export", "train", "f"}


def test_golf_code_bytes_are_packed_exactly_as_the_pack_phase_packs_them(tmp_path):
    spec = registry.get("golf-mini")
    code = spec.baseline_code()
    (tmp_path / "recipe").mkdir()
    (tmp_path / "out").mkdir()
    for path, data in code.items():
        (tmp_path / "recipe" / path).write_bytes(data)
    pack = spec.root / "harness" / "golf_pack.py"
    subprocess.run([sys.executable, str(pack)], cwd=tmp_path, check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": ""})
    assert (tmp_path / "out" / "code.xz").read_bytes() == packed_code(code)


def test_golf_code_over_the_byte_cap_alone_fails_code_bytes():
    spec = registry.get("golf-mini")
    micro = spec.tier("micro")
    cramped = dataclasses.replace(spec, tiers={"micro": dataclasses.replace(micro, limits={"artifact_bytes": 2_000})})
    check = _checks("golf-mini", spec=cramped)["code_bytes"]
    size = len(packed_code(spec.baseline_code()))
    assert not check.passed and check.measured == size and f"over the 2,000-byte cap by {size - 2000:,}" in check.evidence
    assert _checks("golf-mini")["code_bytes"].evidence.endswith("left for the model")


def test_chat_depth_other_than_the_fixed_one_fails_depth():
    assert not _checks("chat-mini", [Edit("model.py", "DEPTH = 4", "DEPTH = 6")])["depth"].passed
    computed = _checks("chat-mini", [Edit("model.py", "DEPTH = 4", "DEPTH = int('4')")])["depth"]
    assert computed.passed and "not decidable" in computed.evidence


def test_dryrun_size_rule_is_decided_before_the_trial_with_the_evaluators_numbers():
    check = _checks("dryrun", [Edit("knobs.py", "WIDTH = 32", "WIDTH = 64")])["artifact_bytes"]
    assert not check.passed and "over the 60,000-byte cap by 42,400" in check.evidence  # the fault table's evidence
