"""The audit hook reports what the recipe does, not what a framework does while it starts.

PyPI's CUDA build of torch runs `/sbin/ldconfig -p` while it is imported (cuda.pathfinder calls
ctypes.util.find_library). With the hook installed first, every golf-mini and chat-mini trial on a
machine with that build was disqualified for "started another process". Here a stand-in framework
does what that build does at import, through the same ctypes.util call."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autorecipe.scaffold import frameworks

ROOT = Path(__file__).resolve().parent.parent
AUDIT = ROOT / "environments" / "common" / "audit.py"
SPAWNING_FRAMEWORK = "import ctypes.util\nctypes.util.find_library('dl')  # runs /sbin/ldconfig -p, as torch+cu130 does\n"


def reports(tmp_path: Path, script: str) -> list[dict]:
    """Run `script` beside audit.py with the framework on its path; the hook's reports."""
    (tmp_path / "audit.py").write_text(AUDIT.read_text())
    (tmp_path / "site").mkdir(exist_ok=True)
    (tmp_path / "site" / "spawning_framework.py").write_text(SPAWNING_FRAMEWORK)
    (tmp_path / "main.py").write_text(script)
    read, write = os.pipe()
    env = {**os.environ, "AUTORECIPE_REPORT_FD": str(write), "PYTHONPATH": str(tmp_path / "site")}
    done = subprocess.run([sys.executable, "main.py"], cwd=tmp_path, env=env, pass_fds=(write,),
                          capture_output=True, text=True, timeout=60)
    os.close(write)
    with os.fdopen(read) as f:
        lines = f.read().splitlines()
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in lines]


@pytest.mark.skipif(not os.path.exists("/sbin/ldconfig"), reason="find_library starts no ldconfig here")
def test_a_framework_named_to_the_hook_starts_unreported_and_the_recipe_is_still_watched(tmp_path):
    named = reports(tmp_path, "from audit import install_audit\n"
                              "install_audit(frameworks=('spawning_framework', 'not_installed_anywhere'))\n"
                              "import spawning_framework\n")
    assert named == []
    unnamed = reports(tmp_path, "from audit import install_audit\ninstall_audit()\nimport spawning_framework\n")
    assert unnamed and {r["kind"] for r in unnamed} == {"spawn"} and "ldconfig" in unnamed[0]["detail"]
    recipe_spawns = reports(tmp_path, "from audit import install_audit\n"
                                      "install_audit(frameworks=('spawning_framework',))\n"
                                      "import subprocess\nsubprocess.run(['true'])\n")
    assert recipe_spawns and {r["kind"] for r in recipe_spawns} == {"spawn"}  # 3.13: Popen, then posix_spawn


def _named_frameworks(harness: Path) -> set[str] | None:
    """What the harness's install_audit call names (None: it calls no install_audit)."""
    for node in ast.walk(ast.parse(harness.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "install_audit":
            for kw in node.keywords:
                if kw.arg == "frameworks":
                    value = kw.value.orelse if isinstance(kw.value, ast.IfExp) else kw.value
                    return set(ast.literal_eval(value))
            return set()
    return None


MINI = ("golf_mini", "chat_mini", "airbench_mini", "dryrun")


@pytest.mark.parametrize("env", MINI)
def test_every_mini_harness_imports_what_its_recipe_imports_before_the_hook(env):
    folder = ROOT / "environments" / env
    wanted = set()
    for source in (folder / "recipe").rglob("*.py"):
        wanted |= set(frameworks(source.read_text(), source.parent))
    harnesses = {h.name: _named_frameworks(h) for h in (folder / "harness").glob("*.py")}
    audited = {name: named for name, named in harnesses.items() if named is not None}
    assert audited, f"{env}: no harness installs the audit hook"
    for name, named in audited.items():
        assert wanted <= named, f"{env}/harness/{name} leaves {sorted(wanted - named)} to start under the hook"


def test_the_scaffold_names_the_installed_packages_a_recipe_imports(tmp_path):
    (tmp_path / "helpers.py").write_text("X = 1\n")
    source = ("from __future__ import annotations\nimport os, json\nimport numpy as np\n"
              "import torch.nn as nn\nfrom torch.optim import AdamW\nimport helpers\nfrom . import sibling\n"
              "def f():\n    import einops\n")
    assert frameworks(source, tmp_path) == ("einops", "numpy", "torch")


def test_a_scaffolded_harness_imports_them_before_its_hook(tmp_path):
    from autorecipe.scaffold import scaffold

    script = tmp_path / "train.py"
    script.write_text("import numpy as np\nimport torch\nLR = 0.1\nprint('loss: 1.0')\n")
    folder = scaffold("fw_env", script, tmp_path / "pkgs")
    assert _named_frameworks(folder / "harness" / "run.py") == {"numpy", "torch"}
