"""Cold start-up of one Brax env on a GPU, by variant (each run in a fresh process with an empty JAX cache folder):
seq: the reset, then the step (as isaac_env's BraxEnv.compile did); par: the reset on a thread, the step beside it on a
state of zeros; overlap: par, and the reset's compilation starts on a thread as soon as its program is exported (beside
the step's tracing); new: the module's own BraxEnv.compile. Then a real reset, a first step, and 300 steps of random
actions (steps/s). Ran as `MODDIR=<isaac_env.py's folder> JAX_COMPILATION_CACHE_DIR=<empty> python compile_probe.py
VARIANT Humanoid` (this file's statements were laid out by the formatter after the run; the same code)."""

import os
import sys
import threading
import time

T = time.time()


def mark(text):
    print(f"{time.time() - T:6.2f} {text}", flush=True)


sys.path.insert(0, os.environ.get("MODDIR") or os.getcwd())
import isaac_env  # noqa: E402

mark("import isaac_env (torch) from " + os.path.dirname(isaac_env.__file__))
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import torch  # noqa: E402

mark("import jax")
variant, task = sys.argv[1], sys.argv[2]
N = int(os.environ.get("PROBE_N", "4096"))
DEV = os.environ.get("DEV", "cuda")
JP = "gpu" if DEV == "cuda" else "cpu"


def sync():
    if DEV == "cuda":
        torch.cuda.synchronize()


THREADS = []
if variant == "overlap":
    export_now = jax.export.export

    def export(fn, **kw):
        inner = export_now(fn, **kw)

        def call(*args):
            exported = inner(*args)
            mark("  exported " + ("reset" if len(args) == 1 else "step"))
            if len(args) == 1:

                def compile_reset():
                    rng = jax.device_put(jax.random.PRNGKey(0), jax.devices(JP)[0])
                    jax.block_until_ready(jax.jit(exported.call)(rng))
                    mark("  [thread] reset compiled beside the trace")

                thread = threading.Thread(target=compile_reset)
                thread.start()
                THREADS.append(thread)
            return exported

        return call

    jax.export.export = export
jax.devices(JP)
mark("jax.devices")
env = isaac_env.make_env(task, N, "brax", DEV, 0, 1000, riders=max(N // 32, 1))
mark("make_env: {} ({})".format(env.programs, isaac_env.jax_cache_line()))
start = time.time()
if variant in ("par", "overlap"):
    shapes = jax.eval_shape(env._fresh_states, env._rng)[1]

    def reset():
        for thread in THREADS:
            thread.join()
        jax.block_until_ready(env._fresh_states(env._rng))
        mark("  reset compiled and ran")

    def step():
        zeros = [jnp.zeros(s.shape, s.dtype, device=env.jax_device) for s in shapes]
        steps = jnp.zeros(env._rows, jnp.int32, device=env.jax_device)
        actions = jax.dlpack.from_dlpack(torch.zeros(env._rows, env.act_dim, device=env.device))
        jax.block_until_ready(env._step(zeros, steps, zeros, actions, env._restart[False]))
        mark("  step compiled and ran")

    threads = [threading.Thread(target=f) for f in (reset, step)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
elif variant == "seq":
    _, fresh = env._fresh_states(env._rng)
    jax.block_until_ready(fresh)
    mark("  reset compiled and ran")
    steps = jnp.zeros(env._rows, jnp.int32, device=env.jax_device)
    actions = jax.dlpack.from_dlpack(torch.zeros(env._rows, env.act_dim, device=env.device))
    jax.block_until_ready(env._step(fresh, steps, fresh, actions, env._restart[False]))
    mark("  step compiled and ran")
else:  # new: the module's own compile()
    env.compile()
mark("compiled in {:.1f} s ({})".format(time.time() - start, isaac_env.jax_cache_line()))
obs = env.reset()
sync()
mark("reset")
env.step(torch.zeros(N, env.act_dim, device=DEV))
sync()
mark("first step")
for _ in range(50):
    env.step(torch.rand(N, env.act_dim, device=DEV) * 2 - 1)
sync()
start = time.time()
STEPS = int(os.environ.get("PROBE_STEPS", "300"))
for _ in range(STEPS):
    env.step(torch.rand(N, env.act_dim, device=DEV) * 2 - 1)
sync()
mark("steps/s {:.0f} over {} steps; {}".format(STEPS * N / (time.time() - start), STEPS, isaac_env.jax_cache_line()))
