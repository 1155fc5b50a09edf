"""airbench96: Keller Jordan's CIFAR-10 Airbench96 as the published system's fork runs it, scored by time.

The recipe is the fork's `multi_agent_cifar/airbench96.py` (cxcscmu/Auto-Research-Recipes), which
is upstream's `airbench96_faster.py` with four patches; the adapter speaks that script's protocol,
as its `multi_agent_cifar/run_trial.sh` does:
  - environment: CIFAR_DATA_DIR (airbench96.py:42, required), RUNS=1 (:53), SMOKE_TEST=1 for a
    one-epoch shake-out (:57, :104-106), MAGENT_SEED for the seed (:61, run = MAGENT_SEED + run at
    :779), WORKDIR for where results go (:795);
  - launch: `python airbench96.py`, one cold process per seed, cwd = WORKDIR (run_trial.sh:66,
    :89-90, :128-130); the preflight runs MAGENT_SEED=0 (run_trial.sh:89);
  - result: one JSON line, `{"status", "accuracy", "train_s", "warmup_s", "runs", "smoke",
    "kill_reason"}`, no seed field, in $WORKDIR/full_eval_results/<basename WORKDIR>/
    run_seed{MAGENT_SEED}.jsonl (airbench96.py:795-808);
  - data: CIFAR_DATA_DIR holds train.pt and test.pt, or cifar-10-batches-py/ from which the script
    saves them there on first use (airbench96.py:180-187). Trials see the data read-only, so
    `prepare` makes train.pt/test.pt beforehand in that same format (cifar_cache.py; the fork
    stages a writable copy in /dev/shm instead, run_trial.sh:37-52);
  - budgets: 600 s per seed and 600 s for the preflight (run_trial.sh:84, :118; the prompt's 240 s
    is not what the code enforced), N=10 seeds (run_trial.sh:31).
Upstream's own `airbench96_faster.py` reads no environment variable, runs `range(200)` runs in one
process (airbench96_faster.py:701-702, ~90 minutes) and downloads CIFAR-10 itself
(airbench96_faster.py:138): it cannot be a trial, and `build` refuses a script that does not speak
the protocol rather than letting every trial crash.

torch.compile's cache lives in the trial's tmp/ (TMPDIR), which its seeds share: the first seed
pays the cold compile and the later ones hit the cache, as in the fork (run_trial.sh:114-117);
nothing carries over from another trial.

The score is the mean wall time of the N seed processes, measured by the executor from outside
(the fork's shell timing, run_trial.sh:123-140; the script's own train_s is not read). The gate is
mean accuracy >= 0.96 over the N seeds (run_classify.py:48); the accuracy is the script's own
report, as in the paper. The five specialists are the reference's (§5.2).

    autorecipe prepare airbench96 --env-opt upstream=~/Auto-Research-Recipes --dry-run
    autorecipe run --address auto --env airbench96 --env-opt upstream=~/Auto-Research-Recipes
"""

from __future__ import annotations

import sys
from pathlib import Path

from environments.spec import Budget, EnvironmentSpec, Phase, Resources, Specialist, Surface, Tier
from environments.upstream.briefs import brief as long_brief
from environments.upstream.commands import Command, prepare_upstream, run_commands
from environments.upstream.options import Option, resolve

ROOT = Path(__file__).parent
CLONE = "git clone https://github.com/cxcscmu/Auto-Research-Recipes"  # the published system's fork
BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
           "batches.meta")
TENSORS = ("train.pt", "test.pt")
# what a script must read and write to be run this way (the fork's four patches)
PROTOCOL = ("CIFAR_DATA_DIR", "MAGENT_SEED", "SMOKE_TEST", "full_eval_results", "run_seed")
OPTIONS = {
    "upstream": Option("a checkout of cxcscmu/Auto-Research-Recipes (the published system's fork), or any folder "
                       "holding a script that speaks its protocol", kind="dir"),
    "script": Option("the recipe script, relative to the checkout", "multi_agent_cifar/airbench96.py"),
    "data": Option("CIFAR_DATA_DIR: train.pt + test.pt, or cifar-10-batches-py/ to make them from "
                   "(default: the checkout's data/cifar/data, where the fork's run_trial.sh looks)", ""),
    "seeds": Option("cold processes per trial, one seed each (the fork: 10)", "10", "int"),
    "seed_s": Option("the wall cap on one seed's process (the fork: 600, cold compile included)", "600", "float"),
    "smoke_s": Option("the one-epoch preflight's wall cap (the fork: 600)", "600", "float"),
    "gate": Option("the mean-accuracy gate", "0.96", "float"),
    "gpus": Option("GPUs per trial", "1", "int"),
    "cpus": Option("CPUs per trial (data loading, the launcher)", "4", "float"),
}
SPECIALISTS = (
    ("arch", "Network widths and depth, the whitening layer, TTA level."),
    ("opt", "SGD learning rate, momentum, Nesterov, weight decay, warmup and decay; Muon."),
    ("aug", "Flip, translate, cutout, test-time augmentation."),
    ("loss", "Label smoothing, PolyLoss, focal loss."),
    ("reg", "EMA / Lookahead, weight-decay schedule, stochastic depth; the epoch count against the gate."),
)


def build(given: dict[str, str]) -> EnvironmentSpec:
    o = resolve("airbench96", given, OPTIONS)
    script = o["script"]
    path = o["upstream"] / script
    if not path.is_file():
        raise ValueError(f"airbench96: {path} does not exist (options upstream and script)")
    missing = [w for w in PROTOCOL if w not in path.read_text(errors="replace")]
    if missing:
        raise ValueError(f"airbench96: {path} does not speak the fork's protocol (no {', '.join(missing)}): it must "
                         "read CIFAR_DATA_DIR, SMOKE_TEST and MAGENT_SEED and write full_eval_results/<dir>/"
                         "run_seed<N>.jsonl. Upstream's airbench96_faster.py runs 200 runs per process and downloads "
                         "CIFAR-10 itself; use multi_agent_cifar/airbench96.py from cxcscmu/Auto-Research-Recipes "
                         "(options upstream and script)")
    data = _data(o)
    env = {"AUTORECIPE_AB_DATA": str(data), "AUTORECIPE_AB_SCRIPT": script}
    budgets = {"smoke": Budget(o["smoke_s"], kill_factor=1.0, measure="wall"),
               "run": Budget(o["seed_s"], kill_factor=1.0, measure="wall")}
    return EnvironmentSpec(
        name="airbench96",
        description="minimize mean wall time of N cold CIFAR-10 runs subject to mean accuracy >= 0.96",
        root=ROOT,
        recipe_files=(script,),
        harness_files=("ab_seed.py",),
        phases=(Phase("smoke", ("{python}", "harness/ab_seed.py", "--smoke")),
                Phase("run", ("{python}", "harness/ab_seed.py", "--seed", "{seed}"), repeats=o["seeds"])),
        tiers={"full": Tier("full", budgets, env=env, limits={"gate": o["gate"], "seeds": float(o["seeds"])})},
        resources=Resources(cpus=o["cpus"], gpus=o["gpus"], memory_bytes=None, processes=65536, file_bytes=16 * 1024**3,
                            disk_bytes=16 * 1024**3),
        specialists=tuple(Specialist(k, Surface(files=(script,)), long_brief("airbench96", k, b)) for k, b in SPECIALISTS),
        metric="train_s",
        direction="minimize",
        evaluator="evaluators.airbench96:evaluate",
        prepare=lambda folder, cache, log=print: prepare_upstream(folder, lambda log: _check_data(o, log), log),
        train_data=(),
        outputs=("run_seed*.jsonl",),
        noise_margin=0.05,
        timed_score=True,
        recipe_root=o["upstream"],
        reach=(data,),
    )


def _data(o: dict) -> Path:
    return Path(o["data"]).expanduser().resolve() if o["data"] else o["upstream"] / "data" / "cifar" / "data"


def _steps(o: dict) -> list[tuple[str, object, list[Command]]]:
    """(what, is it there already?, the commands that make it)."""
    data, up = _data(o), o["upstream"]
    tensors = lambda: all((data / t).is_file() for t in TENSORS)  # noqa: E731
    batches = lambda: all((data / "cifar-10-batches-py" / b).is_file() for b in BATCHES)  # noqa: E731
    return [
        ("CIFAR-10 python batches (torchvision's download, as upstream's scripts do; not needed once train.pt "
         "and test.pt exist)",
         lambda: tensors() or batches(),
         [Command((sys.executable, "-c", f"import torchvision; torchvision.datasets.CIFAR10({str(data)!r}, "
                                         "download=True)"), up)]),
        ("train.pt and test.pt (what airbench96.py:180-187 saves on first use)", tensors,
         [Command((sys.executable, "-m", "environments.upstream.cifar_cache", str(data)), Path(__file__).parents[2])]),
    ]


def data_commands(given: dict[str, str]) -> list[Command]:
    return [c for _, _, commands in _steps(resolve("airbench96", given, OPTIONS)) for c in commands]


def describe_data(given: dict[str, str]) -> list[str]:
    """What `prepare --dry-run` says before the commands: the checkout, the data folder, and which
    steps are missing now (prepare runs only those; a trial reads the folder read-only)."""
    o = resolve("airbench96", given, OPTIONS)
    return ([f"# checkout (option upstream): {o['upstream']}, from {CLONE}", f"# recipe (option script): {o['script']}",
             f"# CIFAR_DATA_DIR: {_data(o)}"]
            + [f"# {what}: {'present' if present() else 'missing: prepare runs the command below'}"
               for what, present, _ in _steps(o)])


def _check_data(o: dict, log) -> dict:
    data = _data(o)
    for what, present, commands in _steps(o):
        if not present():
            log(f"airbench96: no {what} in {data}")
            data.mkdir(parents=True, exist_ok=True)
            run_commands(commands, log)
            if not present():
                raise OSError(f"airbench96: still no {what} in {data} after the commands above")
    return {"data": str(data), "bytes": sum((data / t).stat().st_size for t in TENSORS)}
