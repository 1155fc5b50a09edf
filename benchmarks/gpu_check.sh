#!/usr/bin/env bash
# One short real trial of each real-task adapter on a machine with one NVIDIA GPU, then the verdicts.
#
#   PG_UPSTREAM=~/parameter-golf NC_UPSTREAM=~/nanochat AB_UPSTREAM=~/Auto-Research-Recipes \
#   NC_BASE=~/.cache/nanochat AB_DATA=~/cifar10 benchmarks/gpu_check.sh [--dry-run]
#
# Needs: nvidia-smi and at least one GPU (only the first is used: CUDA_VISIBLE_DEVICES=0), the
# three checkouts with their requirements installed in the environment autorecipe runs in, and the
# data each adapter's `autorecipe prepare` makes (run here first where the machine has internet;
# it is skipped where the data is there already). An unset *_UPSTREAM skips that adapter.
#   parameter-golf  the adapter's defaults (its README record), on 1 GPU; PG_OPTS adds --env-opt's
#   nanochat-d12    depth 12, 20 iterations at a small batch, CORE on 50 examples per task;
#                   minutes, not the 90-minute cap (NC_OPTS adds --env-opt's)
#   airbench96      the fork's real script, 2 seeds (each a cold process with its own MAGENT_SEED;
#                   a cold compile is ~3-5 min), the 600 s per-seed cap (AB_OPTS adds --env-opt's)
# --dry-run prints the commands and runs nothing (no GPU needed). Exit status: 0 if every trial
# that ran was valid, 1 otherwise, 2 if this machine cannot run the check.
set -u
cd "$(dirname "$0")/.."
AUTORECIPE="${AUTORECIPE:-.venv/bin/autorecipe}"
DRY=0
[[ "${1:-}" == "--dry-run" ]] && DRY=1

if [[ $DRY == 0 ]]; then
    if ! command -v nvidia-smi >/dev/null 2>&1; then
        echo "gpu_check: no nvidia-smi on PATH: this check needs a machine with an NVIDIA GPU (try --dry-run)" >&2
        exit 2
    fi
    if ! nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
        echo "gpu_check: nvidia-smi lists no GPU on this machine" >&2
        exit 2
    fi
    nvidia-smi -L | head -1
    export CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES:-0}"
fi
export AUTORECIPE_SCRATCH="${AUTORECIPE_SCRATCH:-/tmp/autorecipe-gpu-check}"
export RAY_AUTH_MODE=disabled RAY_USAGE_STATS_ENABLED=0

NC_TRAIN="--run=dummy --model-tag=d12 --num-iterations=20 --device-batch-size=8 --total-batch-size=16384 --max-seq-len=2048 --eval-every=20 --eval-tokens=163840 --core-metric-every=-1 --sample-every=-1 --save-every=-1"
NC_EVAL="--eval=core --model-tag=d12 --max-per-task=50"

declare -a NAMES=() VERDICTS=()
trial() {  # NAME ARGS...: prepare, then one trial; its verdict line is kept
    local name="$1"; shift
    local args; args="$(printf '%q ' "$@")"
    echo "== $name: $AUTORECIPE prepare $name $args&& $AUTORECIPE trial $name $args"
    [[ $DRY == 1 ]] && return 0
    local log="$AUTORECIPE_SCRATCH/gpu-check-$name.log"
    mkdir -p "$AUTORECIPE_SCRATCH"
    local t0=$SECONDS
    if "$AUTORECIPE" prepare "$name" "$@" && "$AUTORECIPE" trial "$name" "$@" 2>&1 | tee "$log"; then :; fi
    NAMES+=("$name")
    VERDICTS+=("$(grep -m1 '^verdict' "$log" 2>/dev/null || echo 'verdict   none (the trial did not finish; see above)') [$((SECONDS - t0)) s]")
}

if [[ -n "${PG_UPSTREAM:-}" ]]; then
    # shellcheck disable=SC2086
    trial parameter-golf --env-opt "upstream=$PG_UPSTREAM" --env-opt gpus=1 ${PG_OPTS:-}
fi
if [[ -n "${NC_UPSTREAM:-}" ]]; then
    # shellcheck disable=SC2086
    trial nanochat-d12 --env-opt "upstream=$NC_UPSTREAM" --env-opt "base_dir=${NC_BASE:-$HOME/.cache/nanochat}" \
        --env-opt gpus=1 --env-opt shards=2 --env-opt wall_s=900 --env-opt eval_s=900 \
        --env-opt "train_args=$NC_TRAIN" --env-opt "eval_args=$NC_EVAL" ${NC_OPTS:-}
fi
if [[ -n "${AB_UPSTREAM:-}" ]]; then
    # shellcheck disable=SC2086
    trial airbench96 --env-opt "upstream=$AB_UPSTREAM" ${AB_DATA:+--env-opt "data=$AB_DATA"} --env-opt seeds=2 ${AB_OPTS:-}
fi
if [[ -z "${PG_UPSTREAM:-}${NC_UPSTREAM:-}${AB_UPSTREAM:-}" ]]; then
    echo "gpu_check: set PG_UPSTREAM, NC_UPSTREAM and/or AB_UPSTREAM to the checkouts to try" >&2
    exit 2
fi
[[ $DRY == 1 ]] && exit 0

echo
echo "== verdicts"
status=0
for i in "${!NAMES[@]}"; do
    printf '%-16s %s\n' "${NAMES[$i]}" "${VERDICTS[$i]}"
    [[ "${VERDICTS[$i]}" == "verdict   valid"* ]] || status=1
done
exit $status
