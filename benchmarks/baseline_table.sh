#!/usr/bin/env bash
# The six-task baseline table (issue 27), on one GPU, every run alone on it: ppo_isaac.py, rsl_rl's PPO (Isaac Lab's
# settings, benchmarks/rsl_rl_ppo.py) and Brax's own JAX PPO (its published settings) on Ant, Humanoid, halfcheetah,
# hopper, walker2d and humanoidstandup, seeds 0, 1 and 2, then sac_isaac.py, seed 0. Every system trains for Brax
# PPO's step budget of the task (--brax-budgets); our scripts keep their per-task defaults, the "other" ones on the
# four held-out tasks; cold caches; evaluations of 128 episodes every 15 s; the thresholds are run.py's TARGETS.
# Rows land in OUT_DIR/NAME.json as each run ends; run it again with the same OUT_DIR and NAME to go on from the rows
# already there (--skip-done; give the same NAME to every piece), a GPU session at a time.
#
#   bash benchmarks/baseline_table.sh OUT_DIR [NAME]    # about 14 h on one H200 (an estimate, below)
#
# Where the time goes (one H200, measured 2026-12-03): Brax gives MJX's solver 1 iteration and 4 line-search steps on
# Ant and Humanoid only; the other four tasks keep their model files' solver settings (4 iterations; humanoidstandup 8)
# and run 4-23x fewer steps/s than Ant (on a CPU, Ant's settings made three of them 10x faster: results/*mjx-solver*).
# ppo_isaac.py: Ant 50M in about 90 s, halfcheetah 124k steps/s, hopper 192k, humanoidstandup 35k (its 100M steps: about
# 48 min). Brax PPO's halfcheetah: 80k steps/s, and each of its 20 evaluations stops training for about 22 s (about 20
# min a run). humanoidstandup's nine runs take about 9 of the 14 h.
# A cap (--max-seconds, --brax-seconds, --sac-seconds) guards against a hung run only: none cuts a run at its budget.
#
# On a machine of several GPUs, GPUS="0 1 2 3" runs one run per GPU at once, each alone on its GPU (about a quarter of
# the time on four); SHARE=N runs N of seeds 1 and 2 at once on each GPU, rows that count for their returns only
# (run.py --share).
set -eu
# Under a time limit (`timeout -s INT SECONDS bash benchmarks/baseline_table.sh ...`, which signals the whole process
# group): run.py records the run in progress as cut short (--skip-done runs it again next time) and stops; so does
# this script.
trap 'exit 130' INT
out=${1:?usage: bash benchmarks/baseline_table.sh OUT_DIR [NAME]}
name=${2:-baseline-$(date +%F)}
tasks=(Ant Humanoid halfcheetah hopper walker2d humanoidstandup)
common=(--out "$out" --name "$name" --runs-root "${RUNS_ROOT:-/tmp/baseline-table-runs}" --skip-done --brax-budgets
    --max-seconds 7200 --brax-seconds 7200)
source benchmarks/bytecode.sh
gpus=(--gpus ${GPUS:-0})
for seed in 0 1 2; do
    share=$([ "$seed" = 0 ] && echo 1 || echo "${SHARE:-1}")  # (seed 0 alone on a GPU: the time columns)
    python3 benchmarks/run.py --parts ppo rsl_rl brax --tasks "${tasks[@]}" --seeds "$seed" "${common[@]}" "${gpus[@]}" \
        --share "$share"
done
python3 benchmarks/run.py --parts sac --tasks "${tasks[@]}" --seeds 0 --sac-seconds 7200 "${common[@]}" "${gpus[@]}"
