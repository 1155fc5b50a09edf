"""`autorecipe init NAME --recipe train.py` makes an environment package that `autorecipe check`
passes and `autorecipe run` runs, as a new user would do it: in a folder of their own, with
nothing but this checkout installed, through the real command line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autorecipe.scaffold import find_knob
from events import LogReader

TRAIN = '''\
import json
import os

LR = 0.4
STEPS = 20

w = 0.0
for _ in range(STEPS):
    w -= LR * 2 * (w - 1.0)
loss = (w - 1.0) ** 2 + (LR - 0.2) ** 2
os.makedirs("out", exist_ok=True)
with open("out/metrics.json", "w") as f:
    json.dump({"loss": loss}, f)
'''


def _cli(cwd: Path, *args, timeout=300):
    env = {**os.environ, "PYTHONPATH": str(cwd), "AUTORECIPE_DATA": str(cwd / "data"),
           "AUTORECIPE_SCRATCH": str(cwd / "scratch"), "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    return subprocess.run([sys.executable, "-m", "autorecipe.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_init_then_check_then_run_on_the_scaffolded_environment(tmp_path):
    (tmp_path / "train.py").write_text(TRAIN)
    made = _cli(tmp_path, "init", "my_env", "--recipe", "train.py")
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "my_env" / "recipe" / "train.py").read_text() == TRAIN
    checked = _cli(tmp_path, "check", "my_env:SPEC")
    assert checked.returncode == 0 and "my_env:SPEC: ok" in checked.stdout, checked.stdout + checked.stderr
    ran = _cli(tmp_path, "run", tmp_path / "runs" / "first", "--env", "my_env:SPEC", "--trials", "2", "-q")
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    verdicts = {r.event.trial_id: r.event for r in LogReader(tmp_path / "runs" / "first" / "log").iter_records()
                if r.type == "trial.evaluated"}
    assert set(verdicts) == {"t0000", "t0001", "t0002"} and all(v.verdict == "valid" for v in verdicts.values())
    assert verdicts["t0000"].score == pytest.approx(0.04)  # the script's own loss, measured in the sandbox
    assert {v.score for v in verdicts.values()} != {0.04}  # the technique changed LR, and the loss with it
    assert not any((tmp_path / "scratch").iterdir()), "work dirs were left behind"
    again = _cli(tmp_path, "init", "my_env", "--recipe", "train.py")
    assert again.returncode != 0 and "already exists" in again.stderr and "Traceback" not in again.stderr


def test_the_technique_is_the_scripts_first_numeric_constant():
    knob = find_knob("import os\nNAME = 'x'\nLR = 0.4\nSTEPS = 20\n")
    assert knob.name == "LR" and knob.line == "LR = 0.4" and knob.values == ("0.2", "0.8")
    assert find_knob("STEPS = 20\n").values == ("10", "40")
    assert find_knob("print('no constants')\n") is None


def test_a_scaffold_without_a_constant_still_checks(tmp_path):
    from autorecipe.check_env import check
    from autorecipe.scaffold import scaffold

    script = tmp_path / "fit.py"
    script.write_text("print('loss: 1.0')\n")
    folder = scaffold("plain_env", script, tmp_path / "pkgs")
    sys.path.insert(0, str(tmp_path / "pkgs"))
    try:
        from plain_env import SPEC

        report = check(SPEC, str(folder / "__init__.py"), data=False)
        assert report.ok, report.errors
        assert SPEC.techniques == ()
    finally:
        sys.path.remove(str(tmp_path / "pkgs"))
        for m in [m for m in sys.modules if m.startswith("plain_env")]:
            del sys.modules[m]
