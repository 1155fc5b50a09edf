import json

from click.testing import CliRunner

from agents.changes import apply_edits
from autorecipe.cli import main
from environments.airbench_mini.faults import FAULTS
from environments.registry import get


def invoke(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def test_envs_lists_tiers_budgets_and_specialists():
    out = invoke("envs").output
    assert "airbench-mini" in out and "micro" in out and "gate=0.965" in out and "arch, opt, aug, loss, reg" in out


def test_trial_prints_the_verdict(airbench_data, data_root, tmp_path):
    env = {"AUTORECIPE_DATA": str(data_root)}
    result = invoke("trial", "airbench-mini", "--scratch", tmp_path, env=env)
    assert result.exit_code == 0, result.output
    assert "verdict   valid" in result.output and "accuracy_gate" in result.output
    spec = get("airbench-mini")
    bad = tmp_path / "airbench_mini.py"
    bad.write_bytes(apply_edits(spec.baseline_code(), FAULTS["gate_miss"][1])["airbench_mini.py"])
    result = invoke("trial", "airbench-mini", "--recipe", bad, "--json", "--scratch", tmp_path, env=env)
    data = json.loads(result.output[result.output.index("{"):])
    assert data["evaluated"]["verdict"] == "disqualified" and data["executed"]["phases"][0]["name"] == "smoke"


def test_unknown_environment_and_tier_are_usage_errors():
    assert "unknown environment 'nope'" in invoke("trial", "nope").output
    assert "has no tier 'huge'" in invoke("trial", "airbench-mini", "--tier", "huge").output
