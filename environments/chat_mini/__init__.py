"""chat-mini: the NanoChat-D12 shape on CPU. Maximize CORE-mini (centered accuracy on three
task families built from held-out Shakespeare) of a GPT at fixed depth 4, trained for a horizon
set in tokens per parameter, under a CPU cap of about 3x the baseline's training time."""

from __future__ import annotations

from pathlib import Path

from environments import preflight
from environments.chat_mini.techniques import TECHNIQUES
from environments.data import prepared_by
from environments.spec import Budget, EnvironmentSpec, Phase, Resources, Specialist, Surface, Tier
from events import Check

ROOT = Path(__file__).parent


def _preflight(code, tier):
    # the evaluator disqualifies a checkpoint whose depth is not the tier's: catch a changed DEPTH here
    fixed = int(tier.limits["depth"])
    try:
        depth = preflight.literal(code["model.py"], "DEPTH")
    except (LookupError, KeyError, SyntaxError) as exc:
        return [Check(name="depth", passed=True, limit=float(fixed),
                      evidence=f"not decidable from the code ({exc}); the evaluator checks the checkpoint's depth")]
    return [Check(name="depth", passed=depth == fixed, measured=float(depth) if isinstance(depth, int) else None,
                  limit=float(fixed), evidence=f"model.py sets DEPTH = {depth!r}; the depth is fixed at {fixed}"
                  + ("" if depth == fixed else ": the trial would be disqualified"))]


def _tier(name, train, evals, items):
    return Tier(name, {"smoke": Budget(20), "train": Budget(train), "eval": Budget(evals)},
                env={"AUTORECIPE_TASK_ITEMS": str(items)}, limits={"depth": 4})


SPEC = EnvironmentSpec(
    name="chat-mini",
    description="maximize CORE-mini at fixed depth 4, horizon in tokens per parameter, CPU cap ~3x the baseline",
    root=ROOT,
    recipe_files=("model.py", "optim.py", "train.py"),
    harness_files=("chat_train.py", "chat_eval.py"),
    phases=(
        Phase("smoke", ("{python}", "harness/chat_train.py", "--smoke"), carries=()),
        Phase("train", ("{python}", "harness/chat_train.py"), carries=("ckpt.pt",)),
        # the recipe's checkpoint serves candidates; the judge, alone with the items, scores them. Two
        # cold processes, each serving half: a probe's copy and its item never meet in one
        # (judge/chat_judge.py says why)
        Phase("eval", ("{python}", "harness/chat_eval.py"), repeats=2, heldout=("tasks.jsonl",),
              judge="judge/chat_judge.py", carries=()),
    ),
    tiers={
        # micro: 3x the baseline's 16 s of CPU here, so that twice the tokens still fits on a
        # machine 1.5x slower
        "micro": _tier("micro", train=48, evals=20, items=0),
        "standard": _tier("standard", train=180, evals=60, items=0),
        "full": _tier("full", train=900, evals=120, items=0),
    },
    resources=Resources(cpus=1, threads=1, memory_bytes=4 * 1024**3),
    specialists=(
        Specialist("arch", Surface(files=("model.py",)), "Within depth 4: aspect, heads, MLP, embeddings, norms."),
        Specialist("opt", Surface(files=("optim.py",)), "Optimizer family, learning rate, betas, weight decay."),
        Specialist("data", Surface(files=("train.py",), regions=("data",)), "Batch size, sequence length, packing."),
        Specialist("sched", Surface(files=("train.py",), regions=("sched",)),
                   "Horizon (tokens per parameter), warmup, warmdown, final LR fraction."),
        Specialist("sys", Surface(files=("train.py",), regions=("sys",)),
                   "Same model, faster CPU execution; the thread count is fixed by the harness."),
    ),
    metric="core",
    direction="maximize",
    evaluator="evaluators.chat:evaluate",
    prepare=prepared_by("environments.chat_mini.prepare"),
    train_data=("train_000.bin",),
    outputs=(),  # the judges write judge/core_<repeat>.json and probes_<repeat>.npz
    techniques=TECHNIQUES,
    noise_margin=0.01,
    preflight=_preflight,
    progress=(r"^step (?P<step>\d+)/(?P<total>\d+) loss (?P<train_loss>[-+\d.eE]+)",),
)
