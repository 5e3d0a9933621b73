#!/usr/bin/env bash
# The README's main comparison, in one call on one GPU: ppo_isaac.py and sac_isaac.py with their defaults against
# Brax's own JAX PPO with its published settings, each run alone on the GPU, seconds counted from process start.
# Our scripts evaluate 128 episodes every 15 s (run.py's defaults), as Brax's evaluator runs 128 envs.
#   1. cold caches (JAX, torch): Ant, Humanoid and the held-out halfcheetah (no per-task settings), seed 0;
#   2. warm caches, reusing what step 1 left for each system and task: Ant and Humanoid, seed 0;
#   3. seeds 1 and 2 on Ant and Humanoid, cold.
# Rows land in OUT_DIR/NAME.json as each run ends; run it again with the same OUT_DIR and NAME to go on from the rows
# already there (--skip-done). Under the GPU machine's $OUT, a call cut short still returns what finished.
#
#   bash benchmarks/main_table.sh OUT_DIR [NAME]     # about 1 h 40 min on one H200
set -eu
out=${1:?usage: bash benchmarks/main_table.sh OUT_DIR [NAME]}
name=${2:-main-$(date +%F)}
common=(--out "$out" --name "$name" --runs-root "${RUNS_ROOT:-/tmp/main-table-runs}" --skip-done)
# A pip install compiles Python's bytecode once; an image without it (one that sets PYTHONDONTWRITEBYTECODE=1 and ships
# torch with no __pycache__, as the GPU machine of 2026-12-02 did) compiles torch's, JAX's and Brax's sources again in
# every process: about 10 s more start-up than a user's install (Ant, warm caches: 20.1-20.4 s against 10.7 s;
# imports, and torch's first optimiser, which imports torch._dynamo). Such an image gets a bytecode cache here, compiled before the first run, as pip would have.
if [ -n "${PYTHONDONTWRITEBYTECODE:-}" ] || ! python3 -c "import os, sys, torch
sys.exit(not os.path.isdir(os.path.join(os.path.dirname(torch.__file__), '__pycache__')))"; then
    unset PYTHONDONTWRITEBYTECODE
    export PYTHONPYCACHEPREFIX=${PYTHONPYCACHEPREFIX:-/tmp/main-table-pycache}
    echo "compiling Python's bytecode into $PYTHONPYCACHEPREFIX (this Python has none cached)"
    python3 -m compileall -q -j 0 $(python3 -c "import sys; print(' '.join(p for p in sys.path[1:] if p))") > /dev/null || true
fi
python3 benchmarks/run.py --parts ppo sac brax --tasks Ant Humanoid halfcheetah --seeds 0 --jax-cache cold "${common[@]}"
python3 benchmarks/run.py --parts ppo sac brax --tasks Ant Humanoid --seeds 0 --jax-cache warm "${common[@]}"
python3 benchmarks/run.py --parts ppo sac brax --tasks Ant Humanoid --seeds 1 2 --jax-cache cold "${common[@]}"
