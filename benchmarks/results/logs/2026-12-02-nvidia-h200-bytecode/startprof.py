# ruff: noqa: E402  (it times each import where it happens)
"""Where a Brax env's start-up goes on a GPU: timestamps in one process, the steps of isaac_env and the scripts one by
one (run it twice: a cold JAX cache, then a warm one). PAR=1: torch's first GPU tensor on a thread right after
`import torch`; PAR=2: a small forward, backward and fused Adam step there instead.
    python startprof.py Ant     # from the repository's root"""

import os
import sys
import threading
import time

T = time.time()


def m(s):
    print(f"{time.time() - T:6.2f} {s}", flush=True)


sys.path.insert(0, os.getcwd())
import isaac_env

m("import isaac_env (torch)")
import torch

th = None
if os.environ.get("PAR") == "1":

    def init():
        t = time.time()
        torch.zeros(1, device="cuda")
        torch.cuda.synchronize()
        print(f"  [thread] torch cuda init {time.time() - t:.2f} s, done at {time.time() - T:.2f}", flush=True)

    th = threading.Thread(target=init)
    th.start()
if os.environ.get("PAR") == "2":  # what the scripts' first iteration needs of torch, on a thread beside JAX's work

    def init():
        t = time.time()
        net = torch.nn.Linear(4, 4).cuda()
        opt = torch.optim.Adam(net.parameters(), fused=True)
        net(torch.zeros(2, 4, device="cuda")).sum().backward()
        opt.step()
        torch.cuda.synchronize()
        print(f"  [thread] torch warm-up {time.time() - t:.2f} s, done at {time.time() - T:.2f}", flush=True)

    th = threading.Thread(target=init)
    th.start()
import jax

m("import jax")
envs = isaac_env._import_brax_envs()
m("import brax.envs")
d = jax.devices("gpu")
m("jax.devices gpu (backend init)")
e = envs.get_environment(sys.argv[1].lower(), backend="mjx")
m("get_environment")
o = jax.eval_shape(e.reset, jax.random.PRNGKey(0))
m("eval_shape")
env = isaac_env.make_env(sys.argv[1], 4096, "brax", "cuda", 0, 1000, riders=16)
m("make_env (riders 16)")
import jax.numpy as jnp

k = jax.device_put(jax.random.PRNGKey(0), env.jax_device)
lo = env._fresh_states.lower(k)
m("trace+lower fresh")
co = lo.compile()
m("compile fresh")
_, fresh = co(k)
jax.block_until_ready(fresh)
m("run fresh")
steps = jnp.zeros(env._rows, dtype=jnp.int32, device=env.jax_device)
a = jnp.zeros((env._rows, env.act_dim), device=env.jax_device)
lo2 = env._step.lower(fresh, steps, fresh, a, env._restart[False])
m("trace+lower step")
co2 = lo2.compile()
m("compile step")
jax.block_until_ready(co2(fresh, steps, fresh, a, env._restart[False]))
m("run step")
if th:
    th.join()
    m("thread joined")
x = torch.zeros(1, device="cuda")
torch.cuda.synchronize()
m("torch cuda first tensor")
net = torch.nn.Sequential(torch.nn.Linear(env.obs_dim, 512), torch.nn.ELU(), torch.nn.Linear(512, 8)).cuda()
m("net to cuda")
opt = torch.optim.Adam(net.parameters(), fused=True)
m("Adam made")
y = net(torch.zeros(4096, env.obs_dim, device="cuda")).sum()
torch.cuda.synchronize()
m("first forward")
y.backward()
torch.cuda.synchronize()
m("first backward")
opt.step()
torch.cuda.synchronize()
m("first fused Adam step")
torch.distributions.Normal(y, 1.0).rsample()
m("Normal")
print(isaac_env.jax_cache_line())
