"""Compares two runs' checkpoint.pt tensor by tensor (the networks, normalisers and optimisers; not the arguments,
evaluations or RNG states) and prints their evaluations: `python cpu_compare.py runs/old runs/new`. The runs:
`JAX_COMPILATION_CACHE_DIR=<empty> python SCRIPT --env-name Ant --backend brax --device cpu --env-num 32
--total-timesteps 20480 --eval-gap 1e9 --seed 3 --run-name NAME`, SCRIPT being 55ec448's ppo_isaac.py or sac_isaac.py
(beside its isaac_env.py) or this commit's."""

import json
import sys

import torch


def tensors(x, path=""):
    if isinstance(x, dict):
        for k, v in x.items():
            yield from tensors(v, path + "/" + str(k))
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            yield from tensors(v, path + "/" + str(i))
    elif isinstance(x, torch.Tensor):
        yield path, x


skip = ("args", "evals", "rng_torch", "rng_cuda")
a, b = (torch.load(d + "/checkpoint.pt", weights_only=False) for d in sys.argv[1:3])
ta, tb = (dict(tensors({k: c[k] for k in c if k not in skip})) for c in (a, b))
equal = [k for k in ta if k in tb and ta[k].shape == tb[k].shape and torch.equal(ta[k], tb[k])]
print("tensors {} and {}, equal {}".format(len(ta), len(tb), len(equal)))
for d in sys.argv[1:3]:
    print(d, json.load(open(d + "/summary.json"))["evals"])
