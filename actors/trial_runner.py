"""Run one trial attempt: stage a private work dir, run the harness phases in the sandbox,
store what came out as blobs, and describe it as a `TrialExecuted` event. Plain Python, no Ray:
the executor actor, `autorecipe trial` and the tests all call `run_trial`. It measures; it never
scores.

Work dir layout (only out/ and tmp/ are writable by the trial):
    recipe/   the trial's recipe files, from the proposal's blobs
    harness/  a fresh copy of the environment's harness, every attempt
    data/     copies of the prepared train files; held-out data is never here
    out/      what the harness writes; declared outputs become blobs after each phase and repeat,
              and only what a phase declares it carries is there for the next
    tmp/      TMPDIR, fresh for every phase and repeat

Beside it, never inside any trial's view: <work>.judge/ (each judge's folder; its files become
the outputs judge/<name>) and <work>.carried/ (the carried files as their phase left them).
"""

from __future__ import annotations

import fnmatch
import os
import resource
import shutil
import stat
import subprocess
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from actors.sandbox import NOBODY, Limits, isolation_available, run, thread_env
from actors.scratch import remove_tree
from actors.trial_fs import OwnFilesystem, fresh, own_filesystem
from actors.trial_uid import trial_uid
from environments.spec import EnvironmentSpec
from events import BlobStore, Phase, TrialExecuted

COMMON_HARNESS = Path(__file__).resolve().parent.parent / "environments" / "common"
STARTUP_SLACK_S = 1.0  # interpreter start-up is not the recipe's fault; the budget check still counts it
WALL_BACKSTOP = 3.0  # a loaded machine stretches wall time, not CPU time
JUDGE_GRACE_S = 60.0  # a judge finishes this long after its model server has gone, or is killed
# which accelerators Ray gave this executor: the trial gets exactly those
DEVICE_VARIABLES = ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES")


class TrialStopped(Exception):
    pass


@dataclass(frozen=True)
class TrialPaths:
    data: Path  # the environment's prepared folder (train/ and heldout/)
    scratch: Path  # where work dirs are made
    protected: tuple[Path, ...] = ()  # further paths a trial must never touch (run dir, ...)


def stage(spec: EnvironmentSpec, code: dict[str, bytes], paths: TrialPaths, name: str, uid: int = NOBODY) -> Path:
    work = paths.scratch / name
    if work.exists():
        remove_tree(work)
    for sub in ("recipe", "harness", "data", "out", "tmp"):
        (work / sub).mkdir(parents=True, mode=0o755)
    os.chmod(work, 0o755)
    if spec.recipe_tree is not None:  # the rest of an upstream checkout, under the editable files
        shutil.copytree(spec.recipe_tree, work / "recipe", dirs_exist_ok=True, symlinks=True,
                        ignore=shutil.ignore_patterns(".git", "__pycache__"))
    for rel, data in code.items():
        target = (work / "recipe" / rel).resolve()
        if not str(target).startswith(str((work / "recipe").resolve()) + os.sep):
            raise ValueError(f"recipe path {rel!r} leaves the recipe folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    for rel in spec.harness_files:
        shutil.copy2(spec.root / "harness" / rel, work / "harness" / rel)
    for name in ("audit.py", "wire.py"):
        shutil.copy2(COMMON_HARNESS / name, work / "harness" / name)
    for rel in spec.train_data:
        shutil.copy2(paths.data / "train" / rel, work / "data" / rel)
    for root, dirs, files in os.walk(work):
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    if isolation_available():
        for sub in ("out", "tmp"):
            os.chown(work / sub, uid, uid)
    else:  # the trial runs as this user: the modes alone keep an ordinary write out, as another uid would be kept
        for sub in ("recipe", "harness", "data"):
            read_only(work / sub)
    return work


def read_only(folder: Path) -> None:
    """Take the write bits off `folder`, the folders in it and their files (links are left alone)."""
    for root, dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, 0o444)
        os.chmod(root, 0o555)


def read_output(path: Path) -> bytes | None:
    """A file the trial wrote, or None if it is anything else: a symlink (to /etc/shadow, say) or a
    hard link is never followed by this root process."""
    try:  # O_NONBLOCK: opening a FIFO with no writer would wait forever; a regular file ignores it
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


def run_trial(spec: EnvironmentSpec, tier_name: str, code: dict[str, bytes], paths: TrialPaths, blobs: BlobStore,
              trial_id: str, attempt: int = 1, executor: str = "local", keep_work: bool = False,
              log=lambda msg: None, should_stop=None, seed: int | None = None, progress=None) -> TrialExecuted:
    """Raises TrialStopped when `should_stop()` said yes mid-phase (the trial was cancelled).
    `seed` (AUTORECIPE_SEED for the harness) re-runs a recipe with other randomness; None: the
    harness's fixed default, so the loop's trials compare like with like. The trial runs as a uid
    no other trial on this machine holds while it runs (actors/trial_uid.py). `progress`
    (actors/progress.py) is told each phase and reads its output lines."""
    with trial_uid() if isolation_available() else nullcontext(NOBODY) as uid:
        return _run_trial(spec, tier_name, code, paths, blobs, trial_id, attempt, executor, keep_work, log,
                          should_stop, seed, uid, progress)


def _run_trial(spec, tier_name, code, paths, blobs, trial_id, attempt, executor, keep_work, log, should_stop, seed,
               uid, progress=None) -> TrialExecuted:
    tier = spec.tier(tier_name)
    work = stage(spec, code, paths, f"{trial_id}-a{attempt}", uid)
    try:
        with own_filesystem(work, spec.resources.disk_bytes, uid, keep=keep_work, warn=log) as fs:
            return _run_phases(spec, tier, code, paths, blobs, trial_id, attempt, executor, log, should_stop, seed,
                               uid, progress, work, fs)
    finally:  # after the filesystem is unmounted: out/ and tmp/ are its mount points till then
        if not keep_work:
            remove_tree(work)


def _run_phases(spec, tier, code, paths, blobs, trial_id, attempt, executor, log, should_stop, seed, uid,
                progress, work: Path, fs: OwnFilesystem | None) -> TrialExecuted:
    side = _private(work.parent / f"{work.name}.judge")  # root-only, outside what any trial sees
    carried = _private(work.parent / f"{work.name}.carried")
    base_env = _base_env(paths, seed)
    phases: list[Phase] = []
    outputs = {}
    final: set[str] = set()  # outputs recorded from a phase that declares them
    judge_seed = os.urandom(16).hex()  # one for the judges of every repeat of a phase; no recipe sees it
    try:
        for phase in spec.phases:
            budget = tier.budgets[phase.name]
            repeats = tier.repeats.get(phase.name, phase.repeats)
            failed = False
            for r in range(repeats):
                label = f"{phase.name}:{r}" if repeats > 1 else phase.name
                fresh_start(work, carried, phase, uid, fs)
                argv = [a.format(python=sys.executable, seed=r, repeat=r) for a in phase.argv]
                limits = _limits(spec, tier, phase, work, uid, fs)
                env = {**base_env, "AUTORECIPE_TIER": tier.name, "AUTORECIPE_BUDGET_S": str(budget.seconds), **tier.env}
                on_line = progress.phase(label, budget.seconds) if progress is not None else None
                if phase.judge:
                    done, judged, usage = judged_run(spec.root / phase.judge, side / label, argv, work, env,
                                                     _judge_env(tier, paths, carried, judge_seed, r, repeats), limits,
                                                     should_stop, on_line)
                    for name, data in judged.items():
                        outputs[f"judge/{name}"] = blobs.put(data)
                    log(f"{trial_id} {label} judge: cpu {usage['cpu_s']:.2f}s wall {usage['wall_s']:.2f}s")
                else:
                    done = run(argv, work, env, limits, should_stop, on_line=on_line)
                if done.cancelled:
                    raise TrialStopped(f"{trial_id} attempt {attempt} was stopped during {label}")
                phases.extend(_measured(phase, label, budget, tier, done, disk_bound(limits)))
                outputs[f"logs/{label}"] = blobs.put(done.log)
                if done.reports:
                    outputs[f"audit/{label}"] = blobs.put(("\n".join(done.reports) + "\n").encode())
                log(f"{trial_id} {label}: exit {done.exit_code} signal {done.signal} "
                    f"cpu {done.cpu_s:.2f}s wall {done.wall_s:.2f}s ({done.isolation}; {done.cpu_clock})")
                if not done.disk_over:  # past its cap, what it wrote is not read, let alone stored
                    record_outputs(outputs, harvest(spec, phase, work, carried, blobs, r), phase, final)
                if (done.exit_code != 0 or done.disk_over) and not phase.optional:
                    failed = True
                    break
            if failed:
                break
    finally:
        remove_tree(side)
        remove_tree(carried)
    wall = sum(p.wall_s for p in phases)
    return TrialExecuted(
        trial_id=trial_id, attempt=attempt, executor=executor, phases=phases, outputs=outputs,
        measurements={"cpu_s": round(sum(p.cpu_s for p in phases), 6), "wall_s": round(wall, 6)},
        gpu_s=round(wall * spec.resources.gpus, 6),  # the GPUs are held for the whole trial, busy or not
    )


def _base_env(paths, seed: int | None) -> dict[str, str]:
    """What every phase is told besides its tier and budget: the paths the audit hook protects, the
    devices it may use, and the trial's seed (not a device, but it travels the same way)."""
    env = {"AUTORECIPE_PROTECTED": os.pathsep.join(str(p) for p in (paths.data / "heldout", *paths.protected))}
    env.update({k: os.environ[k] for k in DEVICE_VARIABLES if k in os.environ})
    if seed is not None:
        env["AUTORECIPE_SEED"] = str(seed)
    return env


def _judge_env(tier, paths, carried: Path, seed: str, repeat: int, repeats: int) -> dict[str, str]:
    """What a phase's judge is told: the tier, where the held-out data and the carried outputs are,
    and, the same for the judges of every repeat, the attempt's seed, so that they draw one plan."""
    return {**tier.env, "AUTORECIPE_TIER": tier.name, "AUTORECIPE_HELDOUT": str(paths.data / "heldout"),
            "AUTORECIPE_CARRIED": str(carried), "AUTORECIPE_JUDGE_SEED": seed, "AUTORECIPE_REPEAT": str(repeat),
            "AUTORECIPE_REPEATS": str(repeats)}


def _private(path: Path) -> Path:
    if path.exists():
        remove_tree(path)
    path.mkdir(mode=0o700, parents=True)
    return path


def _fresh(work: Path, sub: str, uid: int, fs: OwnFilesystem | None) -> None:
    """A new, empty out/ or tmp/ (`sub`): a folder that was only emptied would keep what was set on
    it (extended attributes, ACLs, times), a channel from one phase to the next."""
    if fs is not None:
        fresh(work, sub, uid)
        return
    remove_tree(work / sub)
    (work / sub).mkdir(mode=0o755)
    if isolation_available():
        os.chown(work / sub, uid, uid)


def fresh_start(work: Path, carried: Path, phase, uid: int, fs: OwnFilesystem | None = None) -> None:
    """Before each phase and each repeat: a fresh tmp/; and, where the phase declares what crosses,
    a fresh out/ that holds only the files earlier phases carried, root-owned and read-only."""
    _fresh(work, "tmp", uid, fs)
    if phase.carries is None:
        return
    _fresh(work, "out", uid, fs)
    for f in sorted(carried.iterdir()):
        shutil.copy2(f, work / "out" / f.name)
        os.chmod(work / "out" / f.name, 0o444)


def harvest(spec: EnvironmentSpec, phase, work: Path, carried: Path, blobs: BlobStore, repeat: int = 0) -> dict:
    """After each phase and repeat: the declared outputs it wrote become blobs (a file carried in
    keeps the blob of the phase that made it), and the files it carries are copied aside, where
    only this process can change them. A phase that declares its own outputs records only those
    (with `{seed}` and `{repeat}` substituted): a smoke run that writes every seed's predictions
    does not stand in for seeds that then write nothing."""
    patterns = spec.outputs if phase.outputs is None else \
        tuple(p.format(seed=repeat, repeat=repeat) for p in phase.outputs)
    got = {}
    for f in sorted((work / "out").iterdir()):
        if not _nameable(f.name):
            continue  # the event that records outputs could not be written: as if it wrote nothing
        if phase.carries is not None and (carried / f.name).exists():
            continue  # carried in: recorded when it was made
        wanted = any(fnmatch.fnmatch(f.name, pat) for pat in patterns)
        carries = phase.carries is not None and any(fnmatch.fnmatch(f.name, pat) for pat in phase.carries)
        data = read_output(f) if wanted or carries else None  # what nobody asked for is not read
        if data is None:
            continue
        if wanted:
            got[f"out/{f.name}"] = blobs.put(data)
        if carries:
            (carried / f.name).write_bytes(data)
    return got


def record_outputs(outputs: dict, got: dict, phase, final: set[str]) -> None:
    """Enter what a phase harvested into the trial's outputs. An output recorded from a phase that
    declares its outputs is final: a later phase that leaves a file of that name in out/ (recipe
    code run after a harness-only phase, rewriting what the harness made) does not replace it."""
    outputs.update({name: ref for name, ref in got.items() if name not in final})
    if phase.outputs is not None:
        final.update(got)


def _nameable(name: str) -> bool:
    """Whether a file name the trial chose can name an output in the log: bytes that are not
    UTF-8 arrive as surrogates, which no event encodes."""
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


def judged_run(script: Path, side: Path, argv, work: Path, env: dict, judge_env: dict, limits: Limits,
               should_stop, on_line=None) -> tuple:
    """Run the phase's process (the recipe's model server) in the sandbox and its judge beside it,
    as this process's user, joined by two pipes. Returns what the sandbox measured and the files the
    judge wrote (name -> bytes), and the judge's own CPU and wall seconds (never the recipe's)."""
    side.mkdir(mode=0o700)
    started = time.monotonic()
    to_server_r, to_server_w = os.pipe()
    to_judge_r, to_judge_w = os.pipe()
    judge = subprocess.Popen(
        [sys.executable, str(script)], cwd=side, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, pass_fds=(to_server_w, to_judge_r), close_fds=True,
        preexec_fn=_judge_limits(limits.address_space),
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
             **thread_env(1), **judge_env, "AUTORECIPE_JUDGE_TO": str(to_server_w),
             "AUTORECIPE_JUDGE_FROM": str(to_judge_r)})
    os.close(to_server_w)
    os.close(to_judge_r)
    try:
        done = run(argv, work, env, limits, should_stop, on_line=on_line,
                   fds={"AUTORECIPE_JUDGE_IN": to_server_r, "AUTORECIPE_JUDGE_OUT": to_judge_w})
    finally:
        os.close(to_server_r)
        os.close(to_judge_w)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:  # the server is gone, so the judge reads the end of its pipe and finishes
        said = judge.communicate(timeout=JUDGE_GRACE_S)[0]
    except subprocess.TimeoutExpired:
        judge.kill()
        said = judge.communicate()[0]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    files = {f.name: f.read_bytes() for f in sorted(side.iterdir()) if f.is_file()}
    if judge.returncode != 0:
        files["judge.log"] = said[-64 * 1024:]
    usage = {"cpu_s": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
             "wall_s": time.monotonic() - started}
    return done, files, usage


def _judge_limits(address_space: int | None):
    """A judge runs outside the sandbox and reads what the recipe's server sends (arrays whose
    size the server chooses within the protocol, a checkpoint it wrote): it gets no more memory
    than the phase it judges, so a reply built to be huge fails the judge, the recipe's crash,
    never the host's memory."""
    def apply() -> None:
        if address_space is not None:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    return apply


def _limits(spec: EnvironmentSpec, tier, phase, work: Path, uid: int = NOBODY, fs: OwnFilesystem | None = None) -> Limits:
    budget = tier.budgets[phase.name]
    stages = tuple((st.name, st.starts, tier.budgets[st.name].seconds * tier.budgets[st.name].kill_factor)
                   for st in phase.stages)
    hard = budget.seconds * budget.kill_factor + STARTUP_SLACK_S
    return Limits(  # a CPU budget is enforced on the CPU clock; wall time is only a backstop
        kill_after_s=hard * WALL_BACKSTOP if budget.measure == "cpu" else hard,
        cpu_kill_s=hard if budget.measure == "cpu" else None,
        address_space=spec.resources.memory_bytes,
        file_size=spec.resources.file_bytes,
        processes=spec.resources.processes,
        threads=spec.resources.threads,
        stages=stages,
        reach=tuple(str(p) for p in spec.reach),
        # a judged phase serves the model it was given: the training data in view would let it train on,
        # past the train budget, with bytes no artifact cap counts
        hide=tuple(str(p) for p in phase.hidden) + ((str(work / "data"),) if phase.judge else ()),
        uid=uid,
        disk_bytes=spec.resources.disk_bytes,
        disk_paths=(str(work / "out"), str(work / "tmp")),
        disk_fs=fs.mount if fs is not None else None,
        disk_fs_base=fs.base if fs is not None else 0,
        memory_bytes=ram_bytes(spec.resources),
    )


def ram_bytes(resources) -> int:
    """The memory cgroup's limit for one phase: what the environment says, or its address-space
    limit plus room for its tmpfs, or (GPU trials, no address-space limit) most of the machine."""
    if resources.ram_bytes is not None:
        return resources.ram_bytes
    if resources.memory_bytes is not None:
        return resources.memory_bytes + 1024**3
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.8)


def disk_bound(limits: Limits) -> str:
    """What kept the phase under its disk cap, as its Phase records it ("" with no cap)."""
    if limits.disk_bytes is None:
        return ""
    return "filesystem" if limits.disk_fs is not None else "walk"


def _measured(phase, label: str, budget, tier, done, bound: str) -> list[Phase]:
    """The phase as measured; a phase with stages is one record per stage it reached, each against
    its own budget (earlier stages ended when the next began, so they count as exit 0)."""
    measured = done.cpu_s if budget.measure == "cpu" else done.wall_s
    whole = Phase(name=label, exit_code=done.exit_code, wall_s=round(done.wall_s, 6), cpu_s=round(done.cpu_s, 6),
                  budget_s=budget.seconds, timed_out=done.killed_by_watchdog or measured > budget.seconds,
                  signal=done.signal, peak_rss_bytes=done.peak_rss_bytes, disk_bytes=done.disk_over,
                  cpu_clock=done.cpu_clock, disk_bound=bound, isolation=done.isolation)
    if not phase.stages:
        return [whole]
    out = []
    for i, (name, wall) in enumerate(done.stages):
        last = i == len(done.stages) - 1
        allowed = tier.budgets[name].seconds
        out.append(Phase(name=name, exit_code=done.exit_code if last else 0, wall_s=round(wall, 6),
                         cpu_s=round(done.cpu_s, 6) if last else 0.0, budget_s=allowed,
                         timed_out=done.killed_in == name or wall > allowed or (last and done.killed_by_watchdog),
                         signal=done.signal if last else None, peak_rss_bytes=done.peak_rss_bytes,
                         disk_bytes=done.disk_over if last else None, cpu_clock=done.cpu_clock,
                         disk_bound=bound, isolation=done.isolation))
    return out
