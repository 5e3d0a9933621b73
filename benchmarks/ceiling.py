"""The simulator's own speed with no learning: steps/s of a Brax MJX env stepping random actions.

    python benchmarks/ceiling.py --task ant --env-nums 512 4096 16384 --modes jit torch adapter

Modes, each timed after its compilation and 300 warm-up steps, for each env count:
  jit      Brax's training setup (envs.training.wrap: vmap, episode limit, auto-reset), random actions drawn and
           stepped inside one jitted lax.scan: nothing leaves JAX. The hard ceiling.
  torch    the same env with torch making the actions each step and reading obs and reward back, both through
           DLPack: what any torch learner on this simulator pays at least.
  adapter  isaac_env.make_env's Brax adapter with torch actions: the above plus fresh-state resets, truncation
           flags, final observations and episode statistics (what ppo_isaac.py steps).
  policy   the adapter stepped with the sampled actions of a trained ppo_isaac.py checkpoint (--policy): the
           states a learning run visits. MJX's constraint solver iterates until every env of the batch has
           converged (up to the model's limit), so a walking Ant may step slower than a random one.
--solver fast gives the jit and torch modes' env the MJX solver settings that Brax gives Ant and Humanoid (Newton, 1
iteration, 4 line-search steps); Brax's other tasks keep their model files' (halfcheetah, hopper and walker2d 4
iterations, humanoidstandup 8; MuJoCo's default 50 line-search steps): how much of a task's speed is its solver's.
Prints one JSON object per line: task, env_num, mode, solver, steps_per_second, compile_seconds, platform.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # JAX and torch share the GPU
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import torch  # noqa: E402

import isaac_env  # noqa: E402  (before torch, as the scripts do)


def timed_loop(step_once, sync, seconds: float) -> float:
    """Seconds per call of step_once, run for at least `seconds` after a warm-up call (compilation)."""
    step_once()
    sync()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or calls < 3:
        step_once()
        calls += 1
    sync()
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="ant", help="Brax task name (ant, humanoid, inverted_pendulum, ...)")
    parser.add_argument("--env-nums", type=int, nargs="+", default=[4096])
    parser.add_argument(
        "--modes", nargs="+", default=["jit", "torch", "adapter"], choices=["jit", "torch", "adapter", "policy"]
    )
    parser.add_argument("--policy", default=None, help="ppo_isaac.py checkpoint for mode policy (same task)")
    parser.add_argument(
        "--seconds",
        type=float,
        default=15.0,
        help="timed seconds per measurement (MJX's speed drifts over seconds: short windows are noisy)",
    )
    parser.add_argument("--scan-length", type=int, default=100, help="steps per jitted scan call (mode jit)")
    parser.add_argument("--device", default="auto", help="auto, cuda or cpu")
    parser.add_argument(
        "--solver",
        default="model",
        choices=["model", "fast"],
        help="MJX's solver settings in modes jit and torch: the task's own (model), or Ant's and Humanoid's (fast)",
    )
    args = parser.parse_args()
    if "policy" in args.modes and not args.policy:
        parser.error("mode policy needs --policy CHECKPOINT")
    if args.solver == "fast" and {"adapter", "policy"} & set(args.modes):
        parser.error("--solver fast acts in modes jit and torch only (the adapter builds the task as Brax has it)")

    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    platform = "gpu" if device.type == "cuda" else "cpu"
    jax_device = jax.devices(platform)[0]
    envs = isaac_env._import_brax_envs()
    _, task = isaac_env.resolve(args.task, "brax")
    sync_torch = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    for n in args.env_nums:
        brax_env = envs.get_environment(task, backend="mjx")
        if args.solver == "fast":  # (before the wrappers, which keep the env they wrap)
            import mujoco

            brax_env.sys = brax_env.sys.tree_replace(
                {"opt.solver": mujoco.mjtSolver.mjSOL_NEWTON, "opt.iterations": 1, "opt.ls_iterations": 4}
            )
        env = envs.training.wrap(brax_env, episode_length=1000)
        key = jax.device_put(jax.random.PRNGKey(0), jax_device)
        for mode in args.modes:
            compile_start = time.perf_counter()
            if mode == "jit":
                length = args.scan_length

                def body(carry, _):
                    state, key = carry
                    key, sub = jax.random.split(key)
                    actions = jax.random.uniform(sub, (n, env.action_size), minval=-1.0, maxval=1.0)
                    return (env.step(state, actions), key), None

                run = jax.jit(lambda state, key: jax.lax.scan(body, (state, key), None, length=length)[0])
                carry = {"c": (jax.jit(env.reset)(jax.random.split(key, n)), key)}

                def step_once():
                    carry["c"] = run(*carry["c"])

                def sync():
                    jax.block_until_ready(carry["c"])

                steps_per_call = n * length
            elif mode == "torch":
                step = jax.jit(env.step)
                holder = {
                    "state": jax.jit(env.reset)(jax.random.split(key, n)),
                    "total": torch.zeros((), device=device),
                }

                def step_once():
                    actions = torch.rand(n, env.action_size, device=device) * 2 - 1
                    holder["state"] = step(holder["state"], jax.dlpack.from_dlpack(actions))
                    obs, reward = torch.from_dlpack(holder["state"].obs), torch.from_dlpack(holder["state"].reward)
                    holder["total"] += reward.sum() + obs[:, 0].sum()  # torch reads what the env produced

                def sync():
                    jax.block_until_ready(holder["state"])
                    sync_torch()

                steps_per_call = n
            elif mode == "adapter":
                vec_env = isaac_env.make_env(task, n, "brax", device, seed=0)
                vec_env.reset()

                def step_once():
                    vec_env.step(torch.rand(n, vec_env.act_dim, device=device) * 2 - 1)

                sync = sync_torch
                steps_per_call = n
            else:
                import ppo_isaac  # its Agent and checkpoint format

                ckpt = torch.load(args.policy, map_location="cpu", weights_only=True)
                if ckpt["env_name"] != task:
                    sys.exit("ceiling.py: --policy was trained on {}, not {}".format(ckpt["env_name"], task))
                agent = ppo_isaac.Agent(ckpt["obs_dim"], ckpt["act_dim"], ckpt["args"]["net_dim"]).to(device)
                agent.load_state_dict(ckpt["agent"])
                vec_env = isaac_env.make_env(task, n, "brax", device, seed=0)
                holder = {"obs": vec_env.reset()}

                @torch.no_grad()
                def step_once():
                    dist, _ = agent.policy(agent.normalize_obs(holder["obs"]))
                    holder["obs"] = vec_env.step(dist.rsample())[0]

                sync = sync_torch
                steps_per_call = n
            # The first call compiles. Every mode then takes 300 env steps before it is timed, so that all are
            # timed alike: MJX's solver iterates until the whole batch converges, so its speed depends on the
            # states, and a policy's envs need the steps to reach the states it visits (once, the torch mode
            # timed from reset ran at 0.83 of the adapter timed after 300 steps, although the adapter does more).
            # compile_seconds includes the warm-up.
            warmup_calls = -(-300 // (steps_per_call // n))  # ceil(300 env steps / env steps per call)
            for _ in range(warmup_calls):
                step_once()
            sync()
            compile_seconds = time.perf_counter() - compile_start
            seconds_per_call = timed_loop(step_once, sync, args.seconds)
            print(
                json.dumps(
                    {
                        "task": task,
                        "env_num": n,
                        "mode": mode,
                        "solver": "{} iterations, {} line-search steps".format(
                            int(brax_env.sys.opt.iterations), int(brax_env.sys.opt.ls_iterations)
                        ),
                        "platform": platform,
                        "steps_per_second": round(steps_per_call / seconds_per_call, 1),
                        "compile_seconds": round(compile_seconds, 1),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
