"""Airbench96 launcher (harness: staged fresh for every trial, never edited by a recipe).

One cold process, one seed, launched as the fork's multi_agent_cifar/run_trial.sh does
(:89-90 for the preflight, :128-130 for a seed): `env SMOKE_TEST=0|1 RUNS=1 MAGENT_SEED=N
PYTHONUNBUFFERED=1 python airbench96.py` with cwd = WORKDIR = out/. The script writes its result
to $WORKDIR/full_eval_results/<basename WORKDIR>/run_seed{N}.jsonl (airbench96.py:795-799); that
folder is made here as a link back to out/ itself, so the file lands as out/run_seed{N}.jsonl,
where the executor collects it. A file of that name left by the preflight (which runs as seed 0)
or by an earlier process is removed first (run_trial.sh:109 does the same), so a seed that writes
nothing is seen to write nothing. The executor times the whole process from outside; nothing the
script prints about time is read.

--smoke: MAGENT_SEED=0, SMOKE_TEST=1 (one epoch).
"""

import os
import sys

E = os.environ
smoke = "--smoke" in sys.argv
seed = 0 if smoke else int(sys.argv[sys.argv.index("--seed") + 1])
if not smoke:
    seed += 1000 * int(E.get("AUTORECIPE_SEED", "0"))  # `autorecipe confirm` draws new seed sets
work = os.path.abspath("out")
folder = os.path.join(work, "full_eval_results")
os.makedirs(folder, exist_ok=True)
if not os.path.lexists(os.path.join(folder, os.path.basename(work))):
    os.symlink("..", os.path.join(folder, os.path.basename(work)))
result = f"run_seed{seed}.jsonl"
if os.path.lexists(os.path.join(work, result)):
    os.unlink(os.path.join(work, result))
env = dict(E, SMOKE_TEST="1" if smoke else "0", RUNS="1", MAGENT_SEED=str(seed), PYTHONUNBUFFERED="1",
           CIFAR_DATA_DIR=E["AUTORECIPE_AB_DATA"], WORKDIR=work)
script = os.path.join(os.path.abspath("recipe"), E["AUTORECIPE_AB_SCRIPT"])
print(f"autorecipe-seed: {seed} result={result}", flush=True)
os.chdir(work)
os.execve(sys.executable, [sys.executable, script], env)
