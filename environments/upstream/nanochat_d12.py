"""nanochat-d12: karpathy/nanochat pretraining at depth 12, from a checkout, scored by CORE.

A trial is the reference harness's preflight (a few iterations on one GPU, no eval), the real
`scripts.base_train --depth=12` under torchrun on `gpus` GPUs with the 90-minute wall cap, and
an evaluator-owned CORE run: the checkout's own scripts/base_eval.py and nanochat/core_eval.py,
which no specialist can edit, on the final checkpoint, with the eval bundle visible only then.
The depth rule is checked on the checkpoint's weights. The five file-owning specialists are the
reference system's (reference-system.md §5.3).

What is read, from upstream karpathy/nanochat (line numbers at 92d63d4; the paper pins 0aaca56):
  - the launch, `torchrun --standalone --nproc_per_node=N -m scripts.base_train -- --depth=12`
    (README, runs/speedrun.sh), checkpoints in $NANOCHAT_BASE_DIR/base_checkpoints/<model-tag>/
    model_{step:06d}.pt (nanochat/checkpoint_manager.py:45), blocks as transformer.h.<i>
    (nanochat/gpt.py:175);
  - `Step 00012 | Validation bpb: 0.857600` (scripts/base_train.py:427) for val bpb, and
    `CORE metric: 0.1618` from scripts/base_eval.py:237 for the score.
Attention. Upstream loads Flash Attention 3 from the Hugging Face kernel hub at import
(nanochat/flash_attention.py:23-46) and falls back to SDPA on any failure. Trials have no network
(and HF_HUB_OFFLINE=1 makes the hub fail at once rather than retry), so they run on SDPA; the
adapter offers no way yet to reach a pre-cached kernel. NANOCHAT_DISABLE_REMOTE_FA3, which the harness also
sets, is read only by the published system's vendored copy (multi_agent_nc/vendor/nanochat/
nanochat/flash_attention.py:34); upstream ignores it. Without FA3, upstream's default window
pattern SSSL sends three layers in four through SDPA's masked path (base_train.py:114-116 warns:
"Your GPU utilization will be terrible"), so option window_pattern passes `--window-pattern L`
by default: full context, SDPA's flash path, the change the paper's first NanoChat keep made
(exp_007). window_pattern=SSSL reproduces the paper's calibrated baseline (0.1618, SSSL without
FA3); window_pattern= (empty) leaves it to the recipe's base_train.py.
Seeds. base_train.py has no seed flag; nanochat/common.py:186 seeds torch with 42 every run. So
`autorecipe confirm`'s fresh seed sets do not reach nanochat: its repeats differ only by GPU
nondeterminism (and the launcher says so in the log).

    autorecipe prepare nanochat-d12 --env-opt upstream=~/nanochat --dry-run
    autorecipe run --address auto --env nanochat-d12 --tier full --env-opt upstream=~/nanochat
"""

from __future__ import annotations

import sys
from pathlib import Path

from environments.spec import Budget, EnvironmentSpec, Phase, Resources, Specialist, Surface, Tier
from environments.upstream.briefs import brief as long_brief
from environments.upstream.commands import Command, prepare_upstream, run_commands
from environments.upstream.options import Option, resolve

ROOT = Path(__file__).parent
TAG = "d12"
CLONE = "git clone https://github.com/karpathy/nanochat (the paper pins 0aaca56)"
OPTIONS = {
    "upstream": Option("a checkout of karpathy/nanochat (the paper pins 0aaca568)", kind="dir"),
    "base_dir": Option("NANOCHAT_BASE_DIR with tokenizer/, the pretraining shards and eval_bundle/",
                       "~/.cache/nanochat"),
    "shards": Option("pretraining shards to download (speedrun.sh: 170)", "170", "int"),
    "gpus": Option("GPUs per trial (torchrun --nproc_per_node)", "8", "int"),
    "cpus": Option("CPUs per trial (data loading, the launcher)", "8", "float"),
    "wall_s": Option("the wall cap on training (the paper: 90 minutes)", "5400", "float"),
    "smoke_s": Option("the preflight's budget", "2400", "float"),
    "eval_s": Option("the CORE evaluation's budget", "1800", "float"),
    "train_args": Option("arguments to scripts.base_train after --depth=12",
                         f"--run=dummy --model-tag={TAG} --core-metric-every=-1 --sample-every=-1 --save-every=-1"),
    "smoke_args": Option("the preflight's arguments",
                         "--run=dummy --model-tag=smoke --num-iterations=3 --device-batch-size=1 "
                         "--total-batch-size=4096 --max-seq-len=512 --core-metric-every=-1 --eval-every=-1 "
                         "--sample-every=-1 --save-every=-1"),
    "window_pattern": Option("--window-pattern for training and the preflight ('' leaves it to base_train.py, "
                             "whose default SSSL needs FA3 to be fast)", "L"),
    "eval_args": Option("arguments to scripts.base_eval", f"--eval=core --model-tag={TAG} --max-per-task=500"),
}
# (specialist, files it owns, brief); a file missing from the checkout is left out
SPECIALISTS = (
    ("arch", ("nanochat/gpt.py",), "The model within depth 12: aspect ratio and head dim, value embeddings, "
                                   "activations, logit softcap and bias. Keep --depth 12."),
    ("opt", ("nanochat/optim.py",), "Muon and AdamW: Newton-Schulz, parameter groups, weight decay, betas, eps."),
    ("data", ("nanochat/dataloader.py", "nanochat/tokenizer.py"), "Packing, BOS handling, sharding, sequence "
                                                                   "length. The vocabulary is frozen."),
    ("sched", ("scripts/base_train.py",), "Schedules and horizon: LR multiplier, Muon momentum, weight decay, "
                                          "target param-data ratio, batch and LR scaling. Spend the wall clock."),
    ("sys", ("nanochat/fp8.py", "nanochat/flash_attention.py", "nanochat/common.py"),
     "Same model, same recipe, faster or steadier execution: FP8, attention backend, compile, precision."),
)


def build(given: dict[str, str]) -> EnvironmentSpec:
    o = resolve("nanochat-d12", given, OPTIONS)
    up = o["upstream"]
    if not (up / "scripts" / "base_train.py").is_file():
        raise ValueError(f"nanochat-d12: {up} has no scripts/base_train.py (option upstream)")
    base = Path(o["base_dir"]).expanduser().resolve()
    specialists = []
    for name, files, brief in SPECIALISTS:
        present = tuple(f for f in files if (up / f).is_file())
        if present:
            specialists.append(Specialist(name, Surface(files=present), long_brief("nanochat-d12", name, brief)))
    recipe = tuple(f for s in specialists for f in s.surface.files)
    env = {"AUTORECIPE_NC_BASE_DIR": str(base), "AUTORECIPE_NC_GPUS": str(o["gpus"]), "AUTORECIPE_NC_TAG": TAG,
           "AUTORECIPE_NC_TRAIN_ARGS": o["train_args"], "AUTORECIPE_NC_SMOKE_ARGS": o["smoke_args"],
           "AUTORECIPE_NC_EVAL_ARGS": o["eval_args"], "AUTORECIPE_NC_WINDOW": o["window_pattern"]}
    budgets = {"smoke": Budget(o["smoke_s"], kill_factor=1.0, measure="wall"),
               "train": Budget(o["wall_s"], kill_factor=1.0, measure="wall"),
               "eval": Budget(o["eval_s"], kill_factor=1.0, measure="wall")}
    # the CORE tasks, and the archive they came in (upstream's download leaves it beside them)
    held_out = (base / "eval_bundle", base / "eval_bundle.zip")
    return EnvironmentSpec(
        name="nanochat-d12",
        description="maximize CORE of nanochat at depth 12 under a 90-minute wall cap on 8 GPUs",
        root=ROOT,
        recipe_files=recipe,
        harness_files=("nc_run.py", "nc_eval.py"),
        phases=(
            Phase("smoke", ("{python}", "harness/nc_run.py", "--smoke"), hidden=held_out),
            Phase("train", ("{python}", "harness/nc_run.py"), hidden=held_out),
            Phase("eval", ("{python}", "harness/nc_eval.py")),
        ),
        tiers={"full": Tier("full", budgets, env=env, limits={"depth": 12.0})},
        resources=Resources(cpus=o["cpus"], gpus=o["gpus"], memory_bytes=None, processes=65536, file_bytes=256 * 1024**3,
                            disk_bytes=256 * 1024**3),
        specialists=tuple(specialists),
        metric="core",
        direction="maximize",
        evaluator="evaluators.nanochat_d12:evaluate",
        prepare=lambda folder, cache, log=print: prepare_upstream(folder, lambda log: _check_data(o, base, log), log),
        train_data=(),
        noise_margin=0.005,  # the reference's INIT.md: about 0.005 CORE of seed noise
        recipe_root=up,
        recipe_tree=up,
        reach=(base,),
    )


def data_commands(given: dict[str, str]) -> list[Command]:
    """nanochat's own data steps (README, speedrun.sh): the shards, the tokenizer, the CORE bundle."""
    return [c for _, _, commands in _steps(resolve("nanochat-d12", given, OPTIONS)) for c in commands]


def _steps(o: dict) -> list[tuple[str, object, list[Command]]]:
    """(what, is it there already?, the commands that make it)."""
    base = Path(o["base_dir"]).expanduser().resolve()
    env, py, up = {"NANOCHAT_BASE_DIR": str(base)}, sys.executable, o["upstream"]
    return [
        ("pretraining shards", lambda: any(base.glob("base_data*/*.parquet")),
         [Command((py, "-m", "nanochat.dataset", "-n", str(o["shards"])), up, env)]),
        ("tokenizer", lambda: (base / "tokenizer").is_dir(), [Command((py, "-m", "scripts.tok_train"), up, env)]),
        ("eval bundle", lambda: (base / "eval_bundle" / "core.yaml").is_file(), [
            Command(("curl", "-fL", "-o", "eval_bundle.zip",
                     "https://karpathy-public.s3.us-west-2.amazonaws.com/eval_bundle.zip"), base, env),
            Command(("unzip", "-q", "-o", "eval_bundle.zip"), base, env),
            Command(("rm", "-f", "eval_bundle.zip"), base, env)]),
    ]


def describe_data(given: dict[str, str]) -> list[str]:
    """What `prepare --dry-run` says before the commands: the checkout, the base dir, and which
    steps are missing now (prepare runs only those)."""
    o = resolve("nanochat-d12", given, OPTIONS)
    base = Path(o["base_dir"]).expanduser().resolve()
    return ([f"# checkout (option upstream): {o['upstream']}, from {CLONE}",
             f"# NANOCHAT_BASE_DIR (option base_dir): {base}",
             f"# trials pass --window-pattern={o['window_pattern']} (option window_pattern)" if o["window_pattern"]
             else "# trials leave --window-pattern to the recipe's base_train.py (option window_pattern)"]
            + [f"# {what}: {'present' if present() else 'missing: prepare runs its commands below'}"
               for what, present, _ in _steps(o)])


def _check_data(o: dict, base: Path, log) -> dict:
    """This node's data, made by nanochat's own commands where a piece is missing."""
    base.mkdir(parents=True, exist_ok=True)
    for what, present, commands in _steps(o):
        if not present():
            log(f"nanochat-d12: no {what} in {base}")
            run_commands(commands, log)
            if not present():
                raise OSError(f"nanochat-d12: still no {what} in {base} after the commands above")
    return {"base_dir": str(base), "shards": len(list(base.glob("base_data*/*.parquet")))}
