#!/usr/bin/env bash
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
R=$OUT/r; mkdir -p $R
nvidia-smi --query-gpu=name --format=csv,noheader | tee $R/gpu.txt
EV="--eval-gap 15 --eval-env-num 128 --eval-times 128 --seed 0"
run() {  # SCRIPT NAME CACHE LIMIT ARGS...
  local script=$1 name=$2 cache=$3 limit=$4; shift 4
  mkdir -p /tmp/runs
  ( cd /tmp/runs && JAX_COMPILATION_CACHE_DIR=$cache timeout -s INT $limit python3 $OLDPWD/$script "$@" --run-name $name $EV ) > $R/$name.log 2>&1
  echo "$name exit $? $(date +%T)"
  cp /tmp/runs/runs/$name/summary.json $R/$name.json 2>/dev/null
  tar czf $OUT/r.tgz -C $OUT r
}
run ppo_isaac.py ant-cold /tmp/jc-ant 200 --env-name Ant --target-return 3000
run ppo_isaac.py ant-warm /tmp/jc-ant 200 --env-name Ant --target-return 3000
run ppo_isaac.py cheetah /tmp/jc-ch 200 --env-name halfcheetah --total-timesteps 8000000
run sac_isaac.py sac-ant /tmp/jc-sac 110 --env-name Ant --target-return 3000
run ppo_isaac.py hum-cold /tmp/jc-hum 200 --env-name Humanoid --target-return 6000
run ppo_isaac.py hum-warm /tmp/jc-hum 200 --env-name Humanoid --target-return 6000
rm -rf $R
