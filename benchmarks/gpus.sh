#!/usr/bin/env bash
# Multi-GPU measurements on one machine of 4 GPUs: ppo_isaac.py --cudagraphs on 1, 2 and 4 GPUs at 4096 envs per GPU
# (Ant, then Humanoid, to their full step budgets), and one GPU at 8192 envs (RECIPES). Runs on disjoint GPUs go side by
# side, in their own processes (they share the host's CPUs), so that one call holds them all; every row of one call
# shares its label, and each GPU count is compared with the one-GPU run of the same call.
#
#   bash benchmarks/gpus.sh OUT_DIR [check|ppo|sac|recipes|sac-recipe|sac-vs-ppo|async-eval[-humanoid]|sac-variants|sac-nan]...
#   (default: check ppo)
#
# check: short 2-GPU runs of both scripts first (about a minute); if one fails, its log's end is shown and nothing
# else runs, so that a broken multi-GPU path costs a minute of a GPU machine, not the whole grid. A check still
# running after CHECK_SECONDS gets SIGABRT: every Python thread's stack goes to its log (faulthandler), then it ends.
# ppo: the grid above; beside each task's 1- and 2-GPU runs, GPU 3 runs Ant at 8192 envs with one of RECIPES.
# sac: sac_isaac.py Humanoid on 1 and 2 GPUs side by side (SAC_SECONDS each), then on 4 GPUs (SAC4_SECONDS).
# recipes: Ant on 2 GPUs with each of RECIPES beside the same on 1 GPU at 8192 envs (and, the first time, beside
# the one-GPU run at 4096 envs with the default recipe, which the ratios of the call are taken against).
# sac-recipe: per task (TASKS), one GPU each, side by side: sac_isaac.py as of SAC_OLD (before its fast path), as of
# SAC_FAST (--cudagraphs, the recipe before FastSAC's changes), and today's with --cudagraphs, with a scalar critic
# (--num-atoms 1) and with its default C51 critic; each stopped at SAC_SECONDS.
# sac-vs-ppo: per task, side by side: ppo_isaac.py --cudagraphs (its whole budget) and sac_isaac.py --cudagraphs with
# seeds 0, 1 and 2 (stopped at SAC_SECONDS).
# sac-variants: per task, side by side, one GPU each: sac_isaac.py --cudagraphs with each of VARIANTS and SEEDS (e.g.
# SEEDS="0 1" VARIANTS=":|actor every 2nd:--policy-frequency 2": as it is and with delayed actor updates, two seeds;
# FLAGS that start with @COMMIT run sac_isaac.py as of that commit: "serial:@be8e04e|:").
# async-eval: evaluations beside training (--async-eval) against evaluations that stop training, both scripts, both
# tasks, packed on 4 GPUs in 3 rounds: PPO both ways (PPO_STEPS steps), SAC (beside, its default) with seeds 0, 1 and 2,
# and SAC seed 0 stopping for them (--no-async-eval, as before); every SAC run stopped at SAC_SECONDS.
# async-eval-humanoid: its first 2 rounds (Humanoid's runs, and Ant's PPO and SAC seed 0).
# sac-nan: Humanoid SAC eager (seeds 0, 1) beside SAC --cudagraphs (seeds 0, 1), each stopped at SAC_SECONDS: do the
# runs that end in non-finite values (issue 14) need the graphs? The NaN guard's line counts simulator blow-ups.
# Give an OUT_DIR under the device's $OUT: pieces land there as they finish, so a call cut short still returns them.
# Writes OUT_DIR/<piece>.json (one per runner) and the logs; merge them with
#   python benchmarks/run.py --merge OUT_DIR/*.json --report-only --name NAME
set -u
out=${1:?usage: benchmarks/gpus.sh OUT_DIR [ppo|sac|recipes]...}
shift
parts=${*:-check ppo}
call=$(date +%Y-%m-%dT%H:%M)
mkdir -p "$out"
# NVLink multicast off in every process: the shared multi-GPU machines here must not use it
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
export PYTHONFAULTHANDLER=1 NCCL_DEBUG=${NCCL_DEBUG:-WARN}  # a hang or a crash shows where, in the run's log
CHECK_SECONDS=${CHECK_SECONDS:-200} SAC_SECONDS=${SAC_SECONDS:-240} SAC4_SECONDS=${SAC4_SECONDS:-120}
RECIPES=${RECIPES:-"--minibatches 4|--horizon 8"}  # '|'-separated extra ppo_isaac.py flags
TASKS=${TASKS:-"Ant Humanoid"}  # (a dry run on a CPU: TASKS=Pendulum EXTRA="--device cpu --env-num 8 ...")
EXTRA=${EXTRA:-}
VARIANTS=${VARIANTS:-"defaults:|one update per step:--updates-per-step 1|compiled:--compile|actor every 2nd:\
--policy-frequency 2"} SEEDS=${SEEDS:-0}  # sac-variants: '|'-separated LABEL:FLAGS, and their seeds
PPO_STEPS=${PPO_STEPS:-30000000}  # async-eval: PPO's budget (it reaches its targets by about 10M)
SAC_OLD=${SAC_OLD:-b572902} SAC_FAST=${SAC_FAST:-b7c30c3}  # commits of sac_isaac.py for sac-recipe
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # (older copies of a script import this isaac_env.py)

old_script() {  # COMMIT: sac_isaac.py as of that commit, in a file of its own (from .old/ where git is absent)
  git show "$1:sac_isaac.py" > "/tmp/sac_$1.py" 2>/dev/null || cp ".old/sac_$1.py" "/tmp/sac_$1.py"
  echo "/tmp/sac_$1.py"
}

ppo() {  # GPU TASK [FLAGS]: ppo_isaac.py --cudagraphs, PPO_STEPS steps (async-eval)
  local flags=${3:-}
  bench "$1" "$2-ppo${flags:+-async}" --parts ppo --tasks "$2" --total-timesteps "$PPO_STEPS" \
    --label "${flags:+ async eval}" "--ppo-flags=--cudagraphs $flags"
}

sac() {  # GPU TASK SEED [FLAGS]: sac_isaac.py --cudagraphs, SAC_SECONDS (async-eval)
  local flags=${4:-}
  bench "$1" "$2-sac-$3${flags:+-blocking}" --parts sac --tasks "$2" --seeds "$3" --sac-seconds "$SAC_SECONDS" \
    --label "${flags:+ blocking eval}" "--sac-flags=--cudagraphs $flags"
}

bench() {  # GPUS PIECE RUN.PY-ARGS...: one runner on the listed GPUs
  local gpus=$1 piece=$2
  shift 2
  CUDA_VISIBLE_DEVICES=$gpus python3 benchmarks/run.py --parts gpus --seeds 0 --call "$call" --out "$out" \
    --runs-root "/tmp/gpus-runs/$piece" --name "$piece" --max-seconds 300 $EXTRA "$@" > "$out/$piece.log" 2>&1
  echo "$piece: exit $? ($(date +%T))"
}

for part in $parts; do
  case $part in
  check)
    bench 0,1 check-ppo --tasks ${TASKS%% *} --gpu-counts 2 --total-timesteps 3000000 &
    runs="$!"
    bench 2,3 check-sac --tasks ${TASKS%% *} --gpu-counts 2 --gpu-systems sac --total-timesteps 300000 &
    runs="$runs $!"
    (sleep "$CHECK_SECONDS"; pkill -ABRT -f '_isaac\.py') &
    dog=$!
    wait $runs
    kill $dog 2>/dev/null
    for piece in check-ppo check-sac; do
      if ! grep -q '"status": "completed"' "$out/$piece.json" 2>/dev/null; then
        echo "$piece failed:"
        tail -c 4000 "$out"/logs/*"${piece#check-}"_isaac_*2x* 2>/dev/null || tail -40 "$out/$piece.log"
        exit 1
      fi
    done
    ;;
  ppo)
    IFS='|' read -r -a recipes <<< "$RECIPES"
    i=0
    for task in $TASKS; do
      bench 0 "$task-1gpu" --tasks $task --gpu-counts 1 &
      bench 1,2 "$task-2gpu" --tasks $task --gpu-counts 2 &
      if [ $i -lt ${#recipes[@]} ]; then  # meanwhile on GPU 3: the first task at 8192 envs, a larger-batch recipe
        bench 3 "ppo-recipe$i-1gpu-8192" --tasks ${TASKS%% *} --gpu-counts 1 --env-num 8192 \
          "--ppo-flags=--cudagraphs ${recipes[$i]}" &
      fi
      i=$((i + 1))
      wait
      bench 0,1,2,3 "$task-4gpu" --tasks $task --gpu-counts 4
    done
    ;;
  sac)
    bench 0 sac-1gpu --tasks Humanoid --gpu-systems sac --gpu-counts 1 --sac-seconds "$SAC_SECONDS" &
    bench 1,2 sac-2gpu --tasks Humanoid --gpu-systems sac --gpu-counts 2 --sac-seconds "$SAC_SECONDS" &
    wait
    bench 0,1,2,3 sac-4gpu --tasks Humanoid --gpu-systems sac --gpu-counts 4 --sac-seconds "$SAC4_SECONDS"
    ;;
  recipes)
    IFS='|' read -r -a recipes <<< "$RECIPES"
    for i in "${!recipes[@]}"; do
      flags="--cudagraphs ${recipes[$i]}"
      bench 0,1 "recipe$i-2gpu" --tasks ${TASKS%% *} --gpu-counts 2 "--ppo-flags=$flags" &
      bench 2 "recipe$i-1gpu-8192" --tasks ${TASKS%% *} --gpu-counts 1 --env-num 8192 "--ppo-flags=$flags" &
      if [ "$i" = 0 ]; then
        bench 3 "recipes-1gpu" --tasks ${TASKS%% *} --gpu-counts 1 &
      fi
      wait
    done
    ;;
  sac-recipe)
    for task in $TASKS; do
      bench 0 "$task-sac-$SAC_OLD" --parts sac --tasks $task --script "$(old_script $SAC_OLD)" \
        --label " $SAC_OLD" --sac-seconds "$SAC_SECONDS" &
      bench 1 "$task-sac-$SAC_FAST" --parts sac --tasks $task --script "$(old_script $SAC_FAST)" \
        --label " $SAC_FAST" --sac-seconds "$SAC_SECONDS" --sac-flags=--cudagraphs &
      bench 2 "$task-sac-scalar" --parts sac --tasks $task --label " scalar critic" --sac-seconds "$SAC_SECONDS" \
        "--sac-flags=--cudagraphs --num-atoms 1" &
      bench 3 "$task-sac" --parts sac --tasks $task --sac-seconds "$SAC_SECONDS" --sac-flags=--cudagraphs &
      wait
    done
    ;;
  sac-vs-ppo)
    for task in $TASKS; do
      bench 0 "$task-ppo" --parts ppo --tasks $task &
      for seed in 0 1 2; do
        bench $((seed + 1)) "$task-sac-$seed" --parts sac --tasks $task --seeds $seed --sac-seconds "$SAC_SECONDS" \
          --sac-flags=--cudagraphs &
      done
      wait
    done
    ;;
  async-eval|async-eval-humanoid)
    ppo 0 Humanoid & ppo 1 Humanoid --async-eval & sac 2 Humanoid 0 & sac 3 Humanoid 1 & wait
    sac 0 Humanoid 2 & sac 1 Humanoid 0 --no-async-eval & ppo 2 Ant & sac 3 Ant 0 & wait
    if [ "$part" = async-eval ]; then
      sac 0 Ant 1 & sac 1 Ant 2 & ppo 2 Ant --async-eval & sac 3 Ant 0 --no-async-eval & wait
    fi
    ;;
  sac-variants)
    IFS='|' read -r -a variants <<< "$VARIANTS"
    for task in $TASKS; do
      gpu=0
      for i in "${!variants[@]}"; do
        label=${variants[$i]%%:*} flags=${variants[$i]#*:} script=()
        if [ "${flags:0:1}" = @ ]; then  # @COMMIT first: sac_isaac.py as of that commit
          commit=${flags%% *} && flags=${flags#"$commit"} && flags=${flags# }
          script=(--script "$(old_script "${commit#@}")")
        fi
        for seed in $SEEDS; do  # (an empty label: the system's own name)
          bench $gpu "$task-sac-v$i-$seed" --parts sac --tasks $task --seeds $seed --label "${label:+ $label}" \
            --sac-seconds "$SAC_SECONDS" "${script[@]}" "--sac-flags=--cudagraphs $flags" &
          gpu=$((gpu + 1))
        done
      done
      wait
    done
    ;;
  sac-nan)
    for seed in 0 1; do
      bench $seed "Humanoid-sac-eager-$seed" --parts sac --tasks Humanoid --seeds $seed --label " eager" \
        --sac-seconds "$SAC_SECONDS" &
      bench $((seed + 2)) "Humanoid-sac-graphs-$seed" --parts sac --tasks Humanoid --seeds $seed \
        --sac-seconds "$SAC_SECONDS" --sac-flags=--cudagraphs &
    done
    wait
    ;;
  *)
    echo "unknown part $part" >&2
    exit 2
    ;;
  esac
done
