#!/usr/bin/env bash
# What one SAC iteration costs on one GPU, per variant of the update: sac_isaac.py on the torch Pendulum with Ant's
# networks, batch and replay (its env steps cost next to nothing, so the update's time shows alone), each variant in
# its own process, one after the other. Prints steady steps/s and the update's seconds per iteration (median past the
# first 5 iterations, from summary.json) and, for each, the wall-clock of the whole process (compilation included).
#
#   bash benchmarks/sac_speed.sh OUT_DIR ['LABEL|FLAGS' ...]   (default: the variants below)
#
# Give an OUT_DIR under the device's $OUT: each variant's log and summary land there as it finishes.
set -u
out=${1:?usage: benchmarks/sac_speed.sh OUT_DIR ['LABEL|FLAGS' ...]}
shift
mkdir -p "$out"
SCRIPT=${SCRIPT:-sac_isaac.py}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # (an older copy of the script imports this isaac_env.py)
ITERATIONS=${ITERATIONS:-30}
EXTRA=${EXTRA:-}  # last, so they win (a dry run on a CPU: EXTRA="--env-num 8 --batch-size 64 --net-dim 32")
ANT="--env-name Pendulum --env-num 4096 --net-dim 512 --batch-size 8192 --updates-per-step 2 --horizon 32 --n-step 3
     --gamma 0.97 --buffer-size 4194304 --learning-starts 10 --learning-rate 3e-4 --v-min -100 --v-max 500
     --total-timesteps $((4096 * 32 * ITERATIONS)) --eval-gap 1e9 --save-gap 1e9 --eval-times 16"
if [ $# -eq 0 ]; then
  set -- "graphs|--cudagraphs" "graphs, actor every 2nd|--cudagraphs --policy-frequency 2" \
    "graphs, bf16|--cudagraphs --bf16" "graphs, bf16, actor every 2nd|--cudagraphs --bf16 --policy-frequency 2" \
    "graphs, compile|--cudagraphs --compile"
fi
printf '%-40s %12s %14s %10s\n' variant "steps/s" "update s/iter" "process s"
for variant in "$@"; do
  label=${variant%%|*} flags=${variant#*|}
  name=$(echo "$label" | tr -c 'a-zA-Z0-9\n' '_')
  start=$(date +%s%N)
  python3 "$SCRIPT" $ANT $flags $EXTRA --run-name "speed_$name" > "$out/$name.log" 2>&1
  status=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  cp "runs/speed_$name/summary.json" "$out/$name.json" 2>/dev/null
  python3 - "$out/$name.json" "$label" "$ms" "$status" <<'EOF'
import json, sys
path, label, ms, status = sys.argv[1:]
try:
    s = json.load(open(path))
    print("{:40s} {:12.0f} {:14.4f} {:10.1f}".format(label, s["steady_sps"], s["steady_update_seconds"], int(ms) / 1e3))
except (OSError, KeyError, TypeError):
    print("{:40s} failed (exit {}), see its log".format(label, status))
EOF
done
