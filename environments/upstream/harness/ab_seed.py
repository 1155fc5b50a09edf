"""Airbench96 launcher (harness: staged fresh for every trial, never edited by a recipe).

One cold process, one seed: runs the recipe script as the reference harness's fork of it
expects (SEED, RUNS=1, CIFAR_DATA_DIR, results appended to AIRBENCH_RESULT as JSON lines with
status and smoke flags). The executor times the whole process from outside: Python start-up,
data loading, compilation, training, every eval, the TTA. Nothing the script prints about time
is read.

--smoke: one seed, SMOKE_TEST=1 (one epoch).
"""

import os
import sys

E = os.environ
smoke = "--smoke" in sys.argv
seed = 0 if smoke else int(sys.argv[sys.argv.index("--seed") + 1])
seed += 1000 * int(E.get("AUTORECIPE_SEED", "0"))  # `autorecipe confirm` draws new seed sets
result = os.path.abspath(f"out/result_{'smoke' if smoke else f'seed{seed}'}.jsonl")
env = dict(E, SEED=str(seed), RUNS="1", CIFAR_DATA_DIR=E["AUTORECIPE_AB_DATA"], AIRBENCH_RESULT=result,
           SMOKE_TEST="1" if smoke else "0", PYTHONUNBUFFERED="1")
script = os.path.join(os.path.abspath("recipe"), E["AUTORECIPE_AB_SCRIPT"])
print(f"autorecipe-seed: {seed} result={os.path.basename(result)}", flush=True)
os.chdir("out")
os.execve(sys.executable, [sys.executable, script], env)
