"""What `autorecipe` does before any command: it lists every command without importing them all
into Ray, looks at a run without Ray or torch, and refuses to start, saying why and how to fix
it, when another project's package hides one of our top-level packages."""

import base64
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import autorecipe
from autorecipe.cli import COMMANDS, main
from autorecipe.shadowed import PACKAGES

HOME = Path(autorecipe.__file__).resolve().parent.parent
EVERY_COMMAND = {"calibrate", "check", "confirm", "envs", "export", "fork", "init", "log", "prepare", "replay",
                 "report", "run", "serve", "show", "stream", "synth", "trial"}


def cli(*args, env_extra=None, cwd=None):
    """`autorecipe ARGS` in a fresh interpreter."""
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-c", "from autorecipe.cli import main; main()", *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "demo"
    assert CliRunner().invoke(main, ["synth", str(path), "--trials", "30"]).exit_code == 0
    return path


def test_help_lists_every_command_with_its_summary():
    assert set(COMMANDS) == EVERY_COMMAND
    out = CliRunner().invoke(main, ["--help"]).output
    listed = out[out.index("Commands:"):].splitlines()[1:]
    assert {line.split()[0] for line in listed if line.strip()} == EVERY_COMMAND
    assert all(len(line.split()) > 2 for line in listed if line.strip())  # each with its short help


def test_python_dash_m_is_the_same_command_line():
    done = subprocess.run([sys.executable, "-m", "autorecipe", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: autorecipe ") and "replay" in done.stdout
    done = subprocess.run([sys.executable, "-m", "autorecipe", "replay", "/nonexistent/run"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr


def test_looking_at_a_run_imports_no_ray_and_no_torch(small_run):
    looks = [["--help"], *([name, "--help"] for name in sorted(EVERY_COMMAND)), ["replay", small_run],
             ["replay", small_run, "--json"], ["log", small_run, "--limit", "5"], ["export", small_run, "--tsv"]]
    code = ("import contextlib, io, sys\n"
            "from autorecipe.cli import main\n"
            f"for args in {[[str(a) for a in look] for look in looks]!r}:\n"
            "    with contextlib.redirect_stdout(io.StringIO()):\n"
            "        try:\n"
            "            main(args, standalone_mode=False)\n"
            "        except SystemExit as exc:\n"
            "            assert not exc.code, (args, exc.code)\n"
            "    heavy = [m for m in ('ray', 'torch') if m in sys.modules]\n"
            "    assert not heavy, (args, heavy)\n"
            "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


@pytest.mark.parametrize("shadow", ["events/__init__.py", "agents.py"])
def test_a_package_of_another_project_earlier_on_the_path_is_refused_by_name(small_run, tmp_path, shadow):
    other = tmp_path / "elsewhere"
    (other / shadow).parent.mkdir(parents=True, exist_ok=True)
    (other / shadow).write_text("VERSION = '1.0'  # someone else's\n")
    name = shadow.split("/")[0].removesuffix(".py")
    done = cli("replay", small_run, env_extra={"PYTHONPATH": str(other)}, cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert "Traceback" not in done.stderr and done.stderr.startswith("error: ")
    found = (other / (name if shadow.endswith("__init__.py") else shadow)).resolve()
    assert f"`{name}` resolves to {found}, not to autorecipe's own at {HOME / name}" in done.stderr
    assert "install autorecipe into an environment of its own" in done.stderr and "venv" in done.stderr


def _record_line(path: Path, rel: str) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(path.read_bytes()).digest()).rstrip(b"=").decode()
    return f"{rel},sha256={digest},{path.stat().st_size}"


def test_another_projects_package_installed_over_ours_is_refused(tmp_path):
    """A wheel install: site-packages holds our packages and RECORD; then `pip install events` of
    another project writes its own events/__init__.py over ours."""
    site = tmp_path / "site"
    for name in ("autorecipe", *PACKAGES):
        shutil.copytree(HOME / name, site / name, ignore=shutil.ignore_patterns("__pycache__"))
    ours = site / "autorecipe-0.1.0.dist-info"
    ours.mkdir()
    (ours / "RECORD").write_text("".join(_record_line(site / n / "__init__.py", f"{n}/__init__.py") + "\n"
                                         for n in PACKAGES))
    env = {"PYTHONPATH": str(site)}
    assert cli("--help", env_extra=env, cwd=tmp_path).returncode == 0  # our own install, untouched
    (site / "events" / "__init__.py").write_text("def fire(): ...\n")
    theirs = site / "events-0.5.dist-info"
    theirs.mkdir()
    (theirs / "RECORD").write_text(_record_line(site / "events" / "__init__.py", "events/__init__.py") + "\n")
    done = cli("--help", env_extra=env, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (f"`events` at {site / 'events'} is not the one autorecipe installed: another project's `events` "
            "(events-0.5) was installed over it") in done.stderr
