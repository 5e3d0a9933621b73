#!/usr/bin/env bash
# The README's main comparison on one GPU, in one call or in pieces: ppo_isaac.py and sac_isaac.py with their
# defaults against Brax's own JAX PPO with its published settings, each run alone on the GPU, seconds counted from
# process start.
# Our scripts evaluate 128 episodes every 15 s (run.py's defaults), as Brax's evaluator runs 128 envs. Task by task,
# so that a piece run in one GPU session finishes whole tasks (a fresh machine has no warm caches to reuse):
#   1. Ant: cold caches (JAX, torch), then warm ones, reusing what the cold runs left for each system, seed 0;
#   2. Humanoid, the same;
#   3. the held-out halfcheetah (no per-task settings), cold, seed 0;
#   4. seeds 1 and 2 on Ant and Humanoid, cold.
# Rows land in OUT_DIR/NAME.json as each run ends; run it again with the same OUT_DIR and NAME to go on from the rows
# already there (--skip-done; give the same NAME to every piece). Under the GPU machine's $OUT, a call cut short
# still returns what finished.
#
#   bash benchmarks/main_table.sh OUT_DIR [NAME]     # about 1 h 40 min on one H200
#
# On a machine of several GPUs, GPUS="0 1 2 3" runs the cold runs of steps 3 and 4 one per GPU at once, each alone on
# its GPU; SHARE=N runs N of step 4's at once on each GPU, rows that count for their returns only (run.py --share).
set -eu
# Under a time limit (`timeout -s INT SECONDS bash benchmarks/main_table.sh ...`, which signals the whole process
# group): run.py records the run in progress as cut short (--skip-done runs it again next time) and stops; so does
# this script.
trap 'exit 130' INT
out=${1:?usage: bash benchmarks/main_table.sh OUT_DIR [NAME]}
name=${2:-main-$(date +%F)}
common=(--out "$out" --name "$name" --runs-root "${RUNS_ROOT:-/tmp/main-table-runs}" --skip-done)
source benchmarks/bytecode.sh  # Python's bytecode, as a pip install leaves it, where this image has none
for task in Ant Humanoid; do
    python3 benchmarks/run.py --parts ppo sac brax --tasks "$task" --seeds 0 --jax-cache cold "${common[@]}"
    python3 benchmarks/run.py --parts ppo sac brax --tasks "$task" --seeds 0 --jax-cache warm "${common[@]}"
done
gpus=(--gpus ${GPUS:-0})
python3 benchmarks/run.py --parts ppo sac brax --tasks halfcheetah --seeds 0 --jax-cache cold "${common[@]}" "${gpus[@]}"
python3 benchmarks/run.py --parts ppo sac brax --tasks Ant Humanoid --seeds 1 2 --jax-cache cold "${common[@]}" \
    "${gpus[@]}" --share "${SHARE:-1}"
