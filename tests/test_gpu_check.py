"""benchmarks/gpu_check.sh on a machine without a GPU: it refuses clearly, and its dry run shows
the trials it would run (it cannot run for real here)."""

import os
import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "gpu_check.sh"
CHECKOUTS = {"PG_UPSTREAM": "/opt/parameter-golf", "NC_UPSTREAM": "/opt/nanochat", "AB_UPSTREAM": "/opt/arr"}


def run(tmp_path, *args, extra=None, **env):
    bin_dir = tmp_path / "bin"  # a PATH with the basic tools and no nvidia-smi
    bin_dir.mkdir(exist_ok=True)
    for tool in ("dirname", "grep", "head", "mkdir", "tee"):
        if not (bin_dir / tool).exists():
            os.symlink(shutil.which(tool), bin_dir / tool)
    for name, text in (extra or {}).items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return subprocess.run([shutil.which("bash"), str(SCRIPT), *args], capture_output=True, text=True, timeout=30,
                          env={"PATH": str(bin_dir), "HOME": str(tmp_path), **env})


def test_its_syntax_is_valid():
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0


def test_without_nvidia_smi_it_refuses_with_exit_2(tmp_path):
    done = run(tmp_path, **CHECKOUTS)
    assert done.returncode == 2 and "no nvidia-smi on PATH" in done.stderr and "==" not in done.stdout


def test_with_no_gpu_listed_it_refuses(tmp_path):
    done = run(tmp_path, extra={"nvidia-smi": "#!/bin/sh\necho 'No devices were found'\n"}, **CHECKOUTS)
    assert done.returncode == 2 and "lists no GPU" in done.stderr


def test_the_dry_run_shows_one_short_trial_of_each_adapter_on_one_gpu(tmp_path):
    done = run(tmp_path, "--dry-run", **CHECKOUTS)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["== parameter-golf", "== nanochat-d12", "== airbench96"]
    assert "trial parameter-golf --env-opt upstream=/opt/parameter-golf --env-opt gpus=1" in lines[0]
    assert "--env-opt gpus=1" in lines[1] and "--num-iterations=20" in lines[1] and "--max-per-task=50" in lines[1]
    assert "trial airbench96 --env-opt upstream=/opt/arr --env-opt seeds=2" in lines[2]


def test_with_no_checkout_given_it_says_which_to_set(tmp_path):
    done = run(tmp_path, "--dry-run")
    assert done.returncode == 2 and "set PG_UPSTREAM, NC_UPSTREAM and/or AB_UPSTREAM" in done.stderr
