#!/usr/bin/env bash
# The six-task baseline table (issue 27), on one GPU, every run alone on it: ppo_isaac.py, rsl_rl's PPO (Isaac Lab's
# settings, benchmarks/rsl_rl_ppo.py) and Brax's own JAX PPO (its published settings) on Ant, Humanoid, halfcheetah,
# hopper, walker2d and humanoidstandup, seeds 0, 1 and 2, then sac_isaac.py, seed 0. Every system trains for Brax
# PPO's step budget of the task (--brax-budgets); our scripts keep their per-task defaults, the "other" ones on the
# four held-out tasks; cold caches; evaluations of 128 episodes every 15 s; the thresholds are run.py's TARGETS.
# Rows land in OUT_DIR/NAME.json as each run ends; run it again with the same OUT_DIR and NAME to go on from the rows
# already there (--skip-done; give the same NAME to every piece), a GPU session at a time.
#
#   bash benchmarks/baseline_table.sh OUT_DIR [NAME]    # some 3.5 h on one H200 (an estimate from the steps/s known)
#
# On a machine of several GPUs, GPUS="0 1 2 3" runs one run per GPU at once, each alone on its GPU (some 55 min on
# four); SHARE=N runs N of seeds 1 and 2 at once on each GPU, rows that count for their returns only (run.py --share).
set -eu
# Under a time limit (`timeout -s INT SECONDS bash benchmarks/baseline_table.sh ...`, which signals the whole process
# group): run.py records the run in progress as cut short (--skip-done runs it again next time) and stops; so does
# this script.
trap 'exit 130' INT
out=${1:?usage: bash benchmarks/baseline_table.sh OUT_DIR [NAME]}
name=${2:-baseline-$(date +%F)}
tasks=(Ant Humanoid halfcheetah hopper walker2d humanoidstandup)
common=(--out "$out" --name "$name" --runs-root "${RUNS_ROOT:-/tmp/baseline-table-runs}" --skip-done --brax-budgets)
source benchmarks/bytecode.sh
gpus=(--gpus ${GPUS:-0})
for seed in 0 1 2; do
    share=$([ "$seed" = 0 ] && echo 1 || echo "${SHARE:-1}")  # (seed 0 alone on a GPU: the time columns)
    python3 benchmarks/run.py --parts ppo rsl_rl brax --tasks "${tasks[@]}" --seeds "$seed" "${common[@]}" "${gpus[@]}" \
        --share "$share"
done
python3 benchmarks/run.py --parts sac --tasks "${tasks[@]}" --seeds 0 --sac-seconds 900 "${common[@]}" "${gpus[@]}"  # (100M steps: 5 min)
