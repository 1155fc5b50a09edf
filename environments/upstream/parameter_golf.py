"""parameter-golf: OpenAI's Parameter Golf, from a checkout of openai/parameter-golf.

The recipe is a record's train_gpt.py (option `record`, a folder under the checkout; default the
top-level baseline). A trial is a smoke run (stops once the artifact is written; gates on its
size) and the real run: torchrun on `gpus` GPUs, training capped at 600 s by the script itself
and by the executor's train watchdog, then the round-trip evaluation under its own 600 s
watchdog. The artifact is the code bytes of train_gpt.py plus the compressed model file,
against the decimal 16,000,000-byte cap; the score is val_bpb from the final post-quantization
round-trip line. The ten specialists are the reference system's (reference-system.md §5.1);
they all edit the one file, so surfaces are kept by their briefs, as in the paper.

    autorecipe prepare parameter-golf --env-opt upstream=~/parameter-golf --dry-run
    autorecipe run --address auto --env parameter-golf --tier full \\
        --env-opt upstream=~/parameter-golf --env-opt record=records/track_10min_16mb/<record>
"""

from __future__ import annotations

import sys
from pathlib import Path

from environments import preflight
from environments.spec import Budget, EnvironmentSpec, Phase, Resources, Specialist, Stage, Surface, Tier
from environments.upstream.briefs import brief as long_brief
from environments.upstream.commands import Command, prepare_upstream, run_commands
from environments.upstream.options import Option, resolve

ROOT = Path(__file__).parent
RECIPE = "train_gpt.py"
OPTIONS = {
    "upstream": Option("a checkout of openai/parameter-golf", kind="dir"),
    "record": Option("the record folder whose train_gpt.py is the recipe, relative to the checkout", "."),
    "data": Option("where data/cached_challenge_fineweb.py puts datasets/ and tokenizers/ (default: the "
                   "checkout's data/)", ""),
    "variant": Option("the dataset variant (sp1024, sp8192, ...)", "sp1024"),
    "train_shards": Option("train shards to download (100M tokens each)", "80", "int"),
    "gpus": Option("GPUs per trial (torchrun --nproc_per_node)", "8", "int"),
    "cpus": Option("CPUs per trial (data loading, the launcher)", "8", "float"),
    "train_s": Option("the training cap (MAX_WALLCLOCK_SECONDS)", "600", "float"),
    "eval_s": Option("the evaluation cap", "600", "float"),
    "startup_s": Option("what the train watchdog allows on top of train_s: start-up, compile and the "
                        "untimed warmup steps", "300", "float"),
    "tolerance_s": Option("how far the logged train_time may pass train_s (the last step straddles it)", "5",
                          "float"),
    "smoke_s": Option("the smoke run's budget", "300", "float"),
    "smoke_train_s": Option("the smoke run's training cap", "20", "float"),
    "smoke_steps": Option("the smoke run's step cap (ITERATIONS)", "200", "int"),
    "cap": Option("artifact byte cap (decimal)", "16000000", "int"),
    "artifact": Option("the compressed model file(s) train_gpt.py writes (a glob)", "final_model*.ptz"),
    "eval_starts": Option("the log line (a regex) where training has ended and evaluation begins",
                          r"^peak memory allocated"),
}

SPECIALISTS = (
    ("arch", "Block structure: attention variants, recurrence, residual topology, MLP variants, norms, "
             "embeddings and positions."),
    ("opt", "Optimizer family (Muon variants, ...), LR schedule shape, momentum and weight decay, clipping, EMA."),
    ("tok", "The token-to-trunk input layer: embedding parameterization, hashed n-gram channels, tied head. "
            "The vocabulary is fixed."),
    ("quant", "GPTQ variants, bit allocation, calibration, dequantization, compression: everything serves the "
              "16,000,000-byte cap."),
    ("ttt", "Test-time training inside the eval budget: score first, then adapt; stride, per-document fast "
            "weights, LoRA at test time."),
    ("curr", "Data ordering and packing, sequence-length schedule, loss masking, shuffling."),
    ("loss", "Cross-entropy variants, z-loss, auxiliary heads, label smoothing."),
    ("reg", "Dropout, stochastic depth, weight-decay targeting, token-level augmentation."),
    ("eval", "Sliding-window stride, KV reuse, calibration at inference; causal, normalized, single pass."),
    ("meta", "Small-radius hyperparameter moves across recent keeps."),
)


def _preflight(code, tier):
    # the artifact counts train_gpt.py's raw bytes (harness/pg_run.py): code past the cap alone cannot pass
    return [preflight.byte_cap("code_bytes", len(code.get(RECIPE, b"")), int(tier.limits["artifact_bytes"]),
                               f"{RECIPE} is")]


def build(given: dict[str, str]) -> EnvironmentSpec:
    o = resolve("parameter-golf", given, OPTIONS)
    record = (o["upstream"] / o["record"]).resolve()
    if not (record / RECIPE).is_file():
        raise ValueError(f"parameter-golf: {record / RECIPE} does not exist (options upstream and record)")
    data = Path(o["data"]).expanduser().resolve() if o["data"] else o["upstream"] / "data"
    env = {
        "AUTORECIPE_PG_DATA": str(data), "AUTORECIPE_PG_VARIANT": o["variant"], "AUTORECIPE_PG_GPUS": str(o["gpus"]),
        "AUTORECIPE_PG_TRAIN_S": f"{o['train_s']:g}", "AUTORECIPE_PG_SMOKE_TRAIN_S": f"{o['smoke_train_s']:g}",
        "AUTORECIPE_PG_SMOKE_STEPS": str(o["smoke_steps"]),
        "AUTORECIPE_PG_CAP": str(o["cap"]), "AUTORECIPE_PG_ARTIFACT": o["artifact"],
        "NCCL_IB_DISABLE": "1",
    }
    limits = {"artifact_bytes": float(o["cap"]), "train_s": o["train_s"], "tolerance_s": o["tolerance_s"]}
    budgets = {
        "smoke": Budget(o["smoke_s"], kill_factor=1.0, measure="wall"),
        "run": Budget(o["train_s"] + o["startup_s"] + o["eval_s"], kill_factor=1.0, measure="wall"),
        "train": Budget(o["train_s"] + o["startup_s"], kill_factor=1.0, measure="wall"),
        "eval": Budget(o["eval_s"], kill_factor=1.0, measure="wall"),
    }
    return EnvironmentSpec(
        name="parameter-golf",
        description="minimize val_bpb on FineWeb val under a 16,000,000-byte artifact, 600 s train, 600 s eval",
        root=ROOT,
        recipe_files=(RECIPE,),
        harness_files=("pg_run.py",),
        phases=(
            Phase("smoke", ("{python}", "harness/pg_run.py", "--smoke")),
            Phase("run", ("{python}", "harness/pg_run.py"), stages=(Stage("train"), Stage("eval", o["eval_starts"]))),
        ),
        tiers={"full": Tier("full", budgets, env=env, limits=limits)},
        resources=Resources(cpus=o["cpus"], gpus=o["gpus"], memory_bytes=None, processes=65536, file_bytes=64 * 1024**3,
                            disk_bytes=64 * 1024**3),
        specialists=tuple(Specialist(k, Surface(files=(RECIPE,)), long_brief("parameter-golf", k, b)) for k, b in SPECIALISTS),
        metric="val_bpb",
        direction="minimize",
        evaluator="evaluators.parameter_golf:evaluate",
        prepare=lambda folder, cache, log=print: prepare_upstream(folder, lambda log: _check_data(o, data, log), log),
        train_data=(),
        outputs=(o["artifact"], "train_gpt.py"),
        noise_margin=0.0005,
        recipe_root=record,
        reach=(o["upstream"], data),
        preflight=_preflight,
    )


def data_commands(given: dict[str, str]) -> list[Command]:
    """The upstream's own data download, as its README gives it."""
    o = resolve("parameter-golf", given, OPTIONS)
    return [Command((sys.executable, "data/cached_challenge_fineweb.py", "--variant", o["variant"],
                     "--train-shards", str(o["train_shards"])), o["upstream"])]


def _check_data(o: dict, data: Path, log) -> dict:
    """This node's data, downloaded by the upstream script if it is not there yet."""
    folder = data / "datasets" / f"fineweb10B_{o['variant']}"
    if not list(folder.glob("fineweb_val_*.bin")):
        run_commands(data_commands({k: str(v) for k, v in o.items()}), log)
    val = sorted(folder.glob("fineweb_val_*.bin"))
    train = sorted(folder.glob("fineweb_train_*.bin"))
    if not val or not train:
        raise OSError(f"parameter-golf: no fineweb_val_*.bin or fineweb_train_*.bin under {folder} after the "
                      "download; see the commands above")
    return {"data": str(data), "val_shards": len(val), "train_shards": len(train),
            "bytes": sum(p.stat().st_size for p in val + train)}
