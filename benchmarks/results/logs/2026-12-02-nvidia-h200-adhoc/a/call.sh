#!/usr/bin/env bash
# start-up and evaluation profile of today's code, one GPU
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi --query-gpu=name --format=csv,noheader | tee $OUT/gpu.txt
EV="--eval-gap 15 --eval-env-num 128 --eval-times 128 --seed 0"
run() {  # NAME CACHE ARGS...
  local name=$1 cache=$2; shift 2
  mkdir -p /tmp/runs
  ( cd /tmp/runs && JAX_COMPILATION_CACHE_DIR=$cache timeout 300 python3 $OLDPWD/$SCRIPT "$@" --run-name $name $EV ) > $OUT/$name.log 2>&1
  echo "$name exit $? $(date +%T)"
  cp /tmp/runs/runs/$name/summary.json $OUT/$name.json 2>/dev/null
}
SCRIPT=ppo_isaac.py
python3 -X importtime -c "import torch" 2>&1 | tail -1
python3 -c "import time; t=time.time(); import torch; print('torch', time.time()-t); t=time.time(); import jax; jax.devices(); print('jax', time.time()-t); t=time.time(); from brax import envs; print('brax', time.time()-t); t=time.time(); e=envs.get_environment('humanoid', backend='mjx'); print('humanoid model', time.time()-t)"
run ant-cold /tmp/jc-ant --env-name Ant --target-return 3000
run ant-warm /tmp/jc-ant --env-name Ant --target-return 3000
run hum-cold /tmp/jc-hum --env-name Humanoid --target-return 6000
run hum-warm /tmp/jc-hum --env-name Humanoid --target-return 6000
run cheetah-cold /tmp/jc-ch --env-name halfcheetah --total-timesteps 15000000
