"""Cold start-up of one Brax env on a GPU, by variant (run each in a fresh process with a fresh JAX cache folder):
seq: as isaac_env.compile does (reset, then step); par: reset and step compiled on two threads;
overlap: par, and the reset's compilation starts on a thread as soon as it is exported (beside the step's tracing).
Then real reset, first step, and 300 steps of random actions (steps/s)."""
import os, sys, time, threading
T = time.time()
def m(s): print(f"{time.time()-T:6.2f} {s}", flush=True)
sys.path.insert(0, os.environ.get("MODDIR") or os.getcwd())
import isaac_env; m("import isaac_env (torch) from " + os.path.dirname(isaac_env.__file__))
import torch, jax, jax.numpy as jnp
m("import jax")
variant, task = sys.argv[1], sys.argv[2]
N = int(os.environ.get("PROBE_N", "4096")); DEV = os.environ.get("DEV", "cuda"); JP = "gpu" if DEV == "cuda" else "cpu"
def sync():
    if DEV == "cuda": torch.cuda.synchronize()
THREADS = []
if variant == "overlap":
    orig = jax.export.export
    def export(fn, **kw):
        inner = orig(fn, **kw)
        def call(*args):
            e = inner(*args)
            m("  exported " + ("reset" if len(args) == 1 else "step"))
            if len(args) == 1:
                def go():
                    rng = jax.device_put(jax.random.PRNGKey(0), jax.devices(JP)[0])
                    jax.block_until_ready(jax.jit(e.call)(rng)); m("  [thread] reset compiled beside the trace")
                th = threading.Thread(target=go); th.start(); THREADS.append(th)
            return e
        return call
    jax.export.export = export
jax.devices(JP); m("jax.devices")
env = isaac_env.make_env(task, N, "brax", DEV, 0, 1000, riders=max(N // 32, 1))
m("make_env: {} ({})".format(env.programs, isaac_env.jax_cache_line()))
t = time.time()
if variant in ("par", "overlap"):
    shapes = jax.eval_shape(env._fresh_states, env._rng)[1]
    def a():
        for th in THREADS: th.join()
        jax.block_until_ready(env._fresh_states(env._rng)); m("  reset compiled and ran")
    def b():
        z = [jnp.zeros(s.shape, s.dtype, device=env.jax_device) for s in shapes]
        steps = jnp.zeros(env._rows, jnp.int32, device=env.jax_device)
        act = jax.dlpack.from_dlpack(torch.zeros(env._rows, env.act_dim, device=env.device))
        jax.block_until_ready(env._step(z, steps, z, act, env._restart[False])); m("  step compiled and ran")
    ts = [threading.Thread(target=f) for f in (a, b)]; [x.start() for x in ts]; [x.join() for x in ts]
elif variant == "seq":
    _, fresh = env._fresh_states(env._rng); jax.block_until_ready(fresh); m("  reset compiled and ran")
    steps = jnp.zeros(env._rows, jnp.int32, device=env.jax_device)
    act = jax.dlpack.from_dlpack(torch.zeros(env._rows, env.act_dim, device=env.device))
    jax.block_until_ready(env._step(fresh, steps, fresh, act, env._restart[False])); m("  step compiled and ran")
else:  # new: the module's own compile()
    env.compile()
m("compiled in {:.1f} s ({})".format(time.time() - t, isaac_env.jax_cache_line()))
obs = env.reset(); sync(); m("reset")
env.step(torch.zeros(N, env.act_dim, device=DEV)); sync(); m("first step")
for _ in range(50): env.step(torch.rand(N, env.act_dim, device=DEV) * 2 - 1)
sync(); t = time.time()
for _ in range(300): env.step(torch.rand(N, env.act_dim, device=DEV) * 2 - 1)
sync(); m("steps/s {:.0f}; {}".format(300 * N / (time.time() - t), isaac_env.jax_cache_line()))
