"""parameter-golf: OpenAI's Parameter Golf, from a checkout of openai/parameter-golf.

The recipe is a record's train_gpt.py (option `record`, a folder under the checkout; default the
top-level baseline). Where the record ships it as a self-extracting lzma+base85 wrapper
(2026-04-03 .. 2026-04-09 records), the recipe is the source inside, unpacked once into
$AUTORECIPE_DATA/parameter-golf/unpacked/, so specialists edit code, not a blob (as the published
system did with the 1.0810 record). A trial is a smoke run (stops once the compressed artifact is
on disk; gates on its size) and the real run: torchrun on `gpus` GPUs, training capped at 600 s by
the script itself (MAX_WALLCLOCK_SECONDS) and by the executor's train watchdog, then the record's
evaluation under its own watchdog (1200 s by default: `eval_s`). The ten specialists are the reference system's
(reference-system.md §5.1); they all edit the one file, so surfaces are kept by their briefs.

What follows each record's own rule (checked against all 165 logs shipped under records/, 131 of
them the 46 track_10min_16mb records, tests/test_pg_record_logs.py):
- data: DATA_PATH/TOKENIZER_PATH/VOCAB_SIZE (the baseline, train_gpt.py:41,44,63) and DATA_DIR (April
  records) are both set; the variant defaults to the record's own VOCAB_SIZE default (sp8192 for
  the SP8192 records). The data command is the checkout's data/cached_challenge_fineweb.py, which
  writes next to itself (ROOT = its folder, cached_challenge_fineweb.py:12-14): with `data=`
  elsewhere a copy of it is run there. `data_repo` is its MATCHED_FINEWEB_REPO_ID (the SP8192
  records download from kevclark/parameter-golf, their README).
- code bytes (option `code`, default the record's rule, harness/pg_pack.py): raw train_gpt.py bytes
  (README FAQ; the baseline and March records), the repacked lzma wrapper (records shipped as one),
  or pyminify + lzma/brotli + base85 exactly as the record's `_compressed_code_size` (2026-04-10 on).
- the score (option `score_line`, default `last`): the record's last final metric line, whatever
  it is named (round trip, sliding window, legal_ttt, quantized_ttt_phased; evaluators/
  parameter_golf_log.py); a line name picks that line instead.
- the record's own switches (TTT_ENABLED=1, EVAL_STRIDE, ...): `env.NAME=VALUE` options, passed to
  every phase; the names the harness sets (data, seed, cap, run id) are refused.
The artifact is counted code plus the compressed model file, from the files, against the decimal
16,000,000-byte cap. SP8192 records that are blobs are written for Python 3.12 (PEP 701
f-strings): the venv on the GPU nodes must be 3.12.

    autorecipe prepare parameter-golf --env-opt upstream=~/parameter-golf --dry-run
    autorecipe run --address auto --env parameter-golf --tier full \\
        --env-opt upstream=~/parameter-golf --env-opt record=records/track_10min_16mb/<record>
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from environments import preflight
from environments.spec import Budget, EnvironmentSpec, Phase, Resources, Specialist, Stage, Surface, Tier
from environments.upstream.briefs import brief as long_brief
from environments.upstream.commands import Command, prepare_upstream, run_commands
from environments.upstream.options import Option, resolve
from environments.upstream.pg_record import pg_pack, readme_env, recipe_root, record_facts

ROOT = Path(__file__).parent
RECIPE = "train_gpt.py"
CLONE = "git clone https://github.com/openai/parameter-golf"
OPTIONS = {
    "upstream": Option(f"a checkout of openai/parameter-golf ({CLONE} PATH)", kind="dir"),
    "record": Option("the record folder whose train_gpt.py is the recipe, relative to the checkout", "."),
    "data": Option("where data/cached_challenge_fineweb.py puts datasets/ and tokenizers/ (default: the "
                   "checkout's data/)", ""),
    "variant": Option("the dataset variant (sp1024, sp8192, ...); default: the record's own VOCAB_SIZE default", ""),
    "data_repo": Option("the Hugging Face dataset repo the data command downloads from (its "
                        "MATCHED_FINEWEB_REPO_ID; default the script's own, willdepueoai/parameter-golf)", ""),
    "train_shards": Option("train shards to download (100M tokens each)", "80", "int"),
    "gpus": Option("GPUs per trial (torchrun --nproc_per_node)", "8", "int"),
    "cpus": Option("CPUs per trial (data loading, the launcher)", "8", "float"),
    "train_s": Option("the training cap (MAX_WALLCLOCK_SECONDS)", "600", "float"),
    # The caps below are what the newer records' own published runs need, cold: the one log with
    # unix times (records/track_10min_16mb/2026-04-13_VarLenAttn_PhasingTTT2000/logs/train0.txt)
    # takes 336 s from torchrun to its first warmup step (compiling), and 808 s from `peak memory
    # allocated` to its score line (diagnostic evals, GPTQ, brotli, a TTT compile warmup, then the
    # 500 s TTT eval the record times itself); others log 610-801 s there. A cap only matters for a
    # recipe that runs away, so these leave room rather than cut a record's own run short.
    "eval_s": Option("the evaluation cap: from `eval_starts` to the end of the run", "1200", "float"),
    "startup_s": Option("what the train watchdog allows on top of train_s: start-up, compile and the "
                        "untimed warmup steps", "600", "float"),
    "tolerance_s": Option("how far the logged train_time may pass train_s (the last step straddles it)", "5",
                          "float"),
    "smoke_s": Option("the smoke run's budget (start-up and compile, as startup_s, and its short training)", "900",
                      "float"),
    "smoke_train_s": Option("the smoke run's training cap", "20", "float"),
    "smoke_steps": Option("the smoke run's step cap (ITERATIONS)", "200", "int"),
    "cap": Option("artifact byte cap (decimal)", "16000000", "int"),
    "artifact": Option("the compressed model file(s) train_gpt.py writes (a glob)", "final_model*.ptz"),
    "eval_starts": Option("the log line (a regex) where training has ended and evaluation begins",
                          r"^(\d+\.\d+ )?peak memory allocated"),
    "code": Option("how code bytes are counted: auto (the record's own rule), raw, lzma-raw, pyminify+lzma, "
                   "pyminify+brotli", "auto"),
    "score_line": Option("the scored log line: last (the record's last final metric line) or a line name, "
                         "e.g. final_int6_sliding_window_exact", "last"),
    "env.NAME": Option("a variable the record reads, passed to every phase (env.TTT_ENABLED=1)", ""),
}
# set by the harness for every trial: a record variable may not override them
OWNED = {"DATA_DIR", "DATA_PATH", "TOKENIZER_PATH", "VOCAB_SIZE", "SEED", "RUN_ID", "MAX_WALLCLOCK_SECONDS",
         "ITERATIONS", "PATH", "PYTHONUNBUFFERED", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE",
         "MASTER_ADDR", "MASTER_PORT", "CUDA_VISIBLE_DEVICES"}

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
    # code past the cap alone cannot pass; pyminify rules are estimated by the lzma wrapper (no
    # subprocess here: this runs in milliseconds), the others counted exactly as the harness does
    rule = tier.env.get("AUTORECIPE_PG_CODE_RULE", "raw")
    counted = pg_pack.counted_bytes(code.get(RECIPE, b""), "lzma-raw" if rule.startswith("pyminify") else rule)
    return [preflight.byte_cap("code_bytes", counted, int(tier.limits["artifact_bytes"]), f"{RECIPE} ({rule}) is")]


def _split(given: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The adapter's options and the record's variables (env.NAME=VALUE), each name checked."""
    record_env = {}
    for key in [k for k in given if k.startswith("env.")]:
        name = key[4:]
        if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", name):
            raise ValueError(f"parameter-golf: option {key}: a record variable is written env.NAME=VALUE with NAME "
                             "in capitals, digits and _ (env.TTT_ENABLED=1)")
        if name in OWNED or name.startswith("AUTORECIPE_"):
            raise ValueError(f"parameter-golf: option {key}: {name} is set by the harness for every trial "
                             "(data, seed, caps); use the adapter's own options")
        record_env[name] = given[key]
    return {k: v for k, v in given.items() if not k.startswith("env.")}, record_env


def _resolve(given: dict[str, str]) -> dict:
    where = given.get("upstream")
    if where and not Path(where).expanduser().is_dir():
        raise ValueError(f"parameter-golf: option upstream={where!r}: {Path(where).expanduser()} is not a folder; "
                         f"check it out first: {CLONE} {where}")
    return resolve("parameter-golf", given, OPTIONS)


def build(given: dict[str, str]) -> EnvironmentSpec:
    given, record_env = _split(given)
    o = _resolve(given)
    record = (o["upstream"] / o["record"]).resolve()
    if not (record / RECIPE).is_file():
        raise ValueError(f"parameter-golf: {record / RECIPE} does not exist (options upstream and record)")
    facts = record_facts((record / RECIPE).read_bytes())
    rule = facts["rule"] if o["code"] == "auto" else o["code"]
    if rule not in pg_pack.RULES:
        raise ValueError(f"parameter-golf: option code={o['code']!r}: one of auto, {', '.join(pg_pack.RULES)}")
    if o["score_line"] != "last" and not re.fullmatch(r"[A-Za-z]\w*", o["score_line"]):
        raise ValueError(f"parameter-golf: option score_line={o['score_line']!r}: `last` or a log line's name")
    variant = o["variant"] or facts["variant"]
    data = Path(o["data"]).expanduser().resolve() if o["data"] else o["upstream"] / "data"
    env = {
        "AUTORECIPE_PG_DATA": str(data), "AUTORECIPE_PG_VARIANT": variant, "AUTORECIPE_PG_GPUS": str(o["gpus"]),
        "AUTORECIPE_PG_CODE_RULE": rule, "AUTORECIPE_PG_PYMINIFY_FLAGS": " ".join(facts["flags"]),
        "AUTORECIPE_PG_RECORD_ENV": json.dumps(record_env, sort_keys=True),
        "AUTORECIPE_PG_SCORE_LINE": o["score_line"],
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
        harness_files=("pg_run.py", "pg_pack.py"),
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
        prepare=lambda folder, cache, log=print: prepare_upstream(
            folder, lambda log: _check_data(given, variant, data, log), log),
        train_data=(),
        outputs=(o["artifact"], "train_gpt.py"),
        noise_margin=0.0005,
        recipe_root=recipe_root(record, facts),
        reach=(o["upstream"], data),
        preflight=_preflight,
    )


def data_commands(given: dict[str, str]) -> list[Command]:
    """The upstream's own data download, as its README gives it. The script writes datasets/ and
    tokenizers/ next to itself, so for data= elsewhere a copy of it runs there."""
    given, _ = _split(given)
    o = _resolve(given)
    record = (o["upstream"] / o["record"]).resolve()
    variant = o["variant"] or (record_facts((record / RECIPE).read_bytes())["variant"] if (record / RECIPE).is_file()
                               else "sp1024")
    data = Path(o["data"]).expanduser().resolve() if o["data"] else o["upstream"] / "data"
    env = {"MATCHED_FINEWEB_REPO_ID": o["data_repo"]} if o["data_repo"] else {}
    script = o["upstream"] / "data" / "cached_challenge_fineweb.py"
    fetch = ("cached_challenge_fineweb.py", "--variant", variant, "--train-shards", str(o["train_shards"]))
    if data == (o["upstream"] / "data").resolve() or data == o["upstream"] / "data":
        return [Command((sys.executable, "data/" + fetch[0], *fetch[1:]), o["upstream"], env)]
    return [Command(("mkdir", "-p", str(data)), o["upstream"]),
            Command(("cp", str(script), str(data / fetch[0])), o["upstream"]),
            Command((sys.executable, *fetch), data, env)]


def _check_data(given: dict, variant: str, data: Path, log) -> dict:
    """This node's data, downloaded by the upstream script if it is not there yet."""
    folder = data / "datasets" / f"fineweb10B_{variant}"
    if not list(folder.glob("fineweb_val_*.bin")):
        run_commands(data_commands(given), log)
    val = sorted(folder.glob("fineweb_val_*.bin"))
    train = sorted(folder.glob("fineweb_train_*.bin"))
    if not val or not train:
        raise OSError(f"parameter-golf: no fineweb_val_*.bin or fineweb_train_*.bin under {folder} after the "
                      "download; see the commands above")
    return {"data": str(data), "val_shards": len(val), "train_shards": len(train),
            "bytes": sum(p.stat().st_size for p in val + train)}


NOTES = f"""  clone: {CLONE} PATH, then pip install -r PATH/requirements.txt (and the record's own
    requirements.txt: brotli, flash_attn_3, ...; lrzip for COMPRESSOR=pergroup) into the venv.
  data: PATH/data/cached_challenge_fineweb.py --variant V --train-shards N (in data= if given).
  records: record=records/track_10min_16mb/<date>_<name>; `prepare --dry-run` shows a record's
    rule, variant and the variables its README runs with; pass them as env.NAME=VALUE.
  not prepared here: the CaseOps records (2026-04-18 on) tokenize with their own transform and
    need their prepare_caseops_data.py first; 2026-04-06_SP8192_HessianSDClip ships a 74-byte
    train_gpt.py that execs train_gpt_decode.py, which a trial does not stage."""


def dry_run(given: dict[str, str]) -> list[str]:
    """What `prepare --dry-run` tells: the checkout, what the adapter reads from the record, the
    record's own variables, then the data commands that will run."""
    split, record_env = _split(given)
    o = _resolve(split)
    record = (o["upstream"] / o["record"]).resolve()
    facts = record_facts((record / RECIPE).read_bytes())
    rule = facts["rule"] if o["code"] == "auto" else o["code"]
    lines = [f"# checkout {o['upstream']} (from: {CLONE}); install its requirements.txt"
             + (f" and {record / 'requirements.txt'}" if (record / "requirements.txt").is_file() else "")]
    lines.append(f"# recipe {record / RECIPE}" + (" (an lzma+base85 wrapper: the source inside is edited)"
                                                  if facts["packed"] else ""))
    lines.append(f"# code bytes by the {rule} rule; variant {o['variant'] or facts['variant']}; "
                 f"scored line: {o['score_line']}")
    wanted = readme_env(record)
    if wanted:
        lines.append("# the record's README runs with: " + " ".join(f"{k}={v}" for k, v in wanted.items()))
        missing = {k: v for k, v in wanted.items() if k not in record_env and k not in OWNED}
        if missing:
            lines.append("#   not passed here (add --env-opt env.NAME=VALUE for each you want): "
                         + " ".join(f"env.{k}={v}" for k, v in missing.items()))
    if record_env:
        lines.append("# record variables passed to every phase: "
                     + " ".join(f"{k}={v}" for k, v in sorted(record_env.items())))
    return lines + [c.show() for c in data_commands(given)]
