"""rsl_rl's own PPO (rsl-rl-lib's OnPolicyRunner, Isaac Lab's default trainer) on isaac_env's envs, timed like
ppo_isaac.py.

    python benchmarks/rsl_rl_ppo.py --task Ant --seed 0 --out runs/rsl_rl_ant_0.json

Settings: Isaac Lab's published rsl_rl configurations (SETTINGS), the same recipe for Ant
(isaaclab_tasks/manager_based/classic/ant/agents/rsl_rl_ppo_cfg.py) and Humanoid (.../classic/humanoid/agents/
rsl_rl_ppo_cfg.py), and that one fixed configuration for every other task; --obs-normalization is a variant of them
(rsl_rl normalizes the observations), for rows of its own. The budget: --total-timesteps (default:
ppo_isaac.py's for the task). rsl_rl learns as it does in Isaac Lab: observations as a TensorDict group "policy" for
actor and critic, dones = terminated | truncated, extras["time_outs"] = truncated (rsl_rl bootstraps those), and
its own check for NaN at every step. Evaluated as ppo_isaac.py --no-async-eval evaluates: every --eval-gap seconds
of wall-clock, --eval-times deterministic episodes (the actor's mean) on --eval-env-num separate envs, while
training waits. Every evaluation is written to --out as [wall seconds from process start, env steps, mean, std,
episodes], the rows of ppo_isaac.py's summary.json, so that the curves share one clock.
"""

import time

START_TIME = time.time()  # wall-clock seconds from here: imports and compilation included, as for ppo_isaac.py

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # isaac_env and ppo_isaac
import isaac_env  # noqa: E402,I001  (before torch: Isaac Gym's rule)
import torch  # noqa: E402

# Isaac Lab's rsl_rl configuration for Ant and Humanoid (RslRlOnPolicyRunnerCfg, RslRlPpoActorCriticCfg,
# RslRlPpoAlgorithmCfg), in rsl-rl-lib 5's dictionary form
SETTINGS = dict(
    num_steps_per_env=32,
    obs_groups={"actor": ["policy"], "critic": ["policy"]},
    algorithm=dict(
        class_name="PPO",
        value_loss_coef=1.0,
        use_clipped_value_loss=True,
        clip_param=0.2,
        entropy_coef=0.0,
        num_learning_epochs=5,
        num_mini_batches=4,
        learning_rate=5.0e-4,
        schedule="adaptive",
        gamma=0.99,
        lam=0.95,
        desired_kl=0.01,
        max_grad_norm=1.0,
    ),
    actor=dict(
        class_name="MLPModel",
        hidden_dims=[400, 200, 100],
        activation="elu",
        obs_normalization=False,
        distribution_cfg=dict(class_name="GaussianDistribution", init_std=1.0),
    ),
    critic=dict(class_name="MLPModel", hidden_dims=[400, 200, 100], activation="elu", obs_normalization=False),
    save_interval=50,
    check_for_nan=True,
    multi_gpu=None,
)


def settings(obs_normalization: bool = False) -> dict:
    """A copy of SETTINGS (rsl_rl edits its configuration); obs_normalization: rsl_rl's running normalization of
    the actor's and the critic's observations, a variant: Isaac Lab's configurations leave it off, as Isaac Lab's
    envs scale their observations themselves, which Brax's envs do not (their joint velocities come raw)."""
    cfg = json.loads(json.dumps(SETTINGS))
    cfg["actor"]["obs_normalization"] = cfg["critic"]["obs_normalization"] = obs_normalization
    return cfg


def rsl_rl_env(env):
    """isaac_env's `env` as rsl_rl's VecEnv (a class made here, so that rsl_rl is imported only when used)."""
    from rsl_rl.env import VecEnv
    from tensordict import TensorDict

    class RslRlEnv(VecEnv):
        def __init__(self):
            self.env, self.num_envs, self.num_actions = env, env.num_envs, env.act_dim
            self.max_episode_length, self.device, self.cfg = env.max_episode_length, env.device, {}
            self.episode_length_buf = torch.zeros(env.num_envs, dtype=torch.long, device=env.device)
            # Zeros until start(): rsl_rl's runner reads an observation when it is made only for its networks' shapes,
            # so MJX compiles on its thread (env.compile(background=True)) while rsl_rl builds its networks, as our
            # scripts build theirs; start() waits for the compilation and resets
            self.obs, self.started = torch.zeros(env.num_envs, env.obs_dim, device=env.device), False

        def start(self) -> None:  # after the runner is made, before its first learn()
            self.obs, self.started = self.env.reset(), True

        def get_observations(self) -> TensorDict:
            return TensorDict({"policy": self.obs}, batch_size=[self.num_envs], device=self.device)

        def step(self, actions: torch.Tensor):
            if not self.started:  # (rsl_rl would learn from the zeros)
                raise RuntimeError("rsl_rl_env: start() resets the envs; call it before the first step")
            self.obs, reward, terminated, truncated, info = self.env.step(actions)
            done = terminated | truncated
            self.episode_length_buf = torch.where(done, 0, self.episode_length_buf + 1)
            extras = {"time_outs": truncated, "log": {}}
            return self.get_observations(), reward, done.long(), extras

    return RslRlEnv()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="Ant")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env-num", type=int, default=4096)
    parser.add_argument("--total-timesteps", type=int, default=None, help="default: ppo_isaac.py's for the task")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--episode-length", type=int, default=None)
    parser.add_argument("--eval-gap", type=float, default=15.0, help="seconds between evaluations")
    parser.add_argument("--eval-env-num", type=int, default=128)
    parser.add_argument("--eval-times", type=int, default=128)
    parser.add_argument("--out", required=True, help="JSON file for the evaluation rows and the summary")
    parser.add_argument(
        "--obs-normalization",
        action="store_true",
        help="a variant of Isaac Lab's settings: rsl_rl normalizes the observations (running mean and variance)",
    )
    args = parser.parse_args(argv)
    try:
        from rsl_rl.runners import OnPolicyRunner
        from tensordict import TensorDict
    except ImportError as e:
        sys.exit("rsl_rl_ppo.py: needs rsl_rl ({}): pip install rsl-rl-lib==5.5.1".format(e))
    import ppo_isaac  # (its evaluation, so that both are evaluated the same way, and its per-task budgets)

    torch.manual_seed(args.seed)
    env = isaac_env.make_env(args.task, args.env_num, args.backend, args.device, args.seed, args.episode_length)
    eval_env = isaac_env.make_env(
        args.task, args.eval_env_num, args.backend, args.device, args.seed + 10_000, args.episode_length
    )
    if env.backend == "brax":
        # MJX's programs on threads, the evaluation env's beside the training env's, while rsl_rl builds its networks
        # (the adapter's start() waits for them), as ppo_isaac.py does: rsl_rl starts no later for the adapter's sake
        eval_env.compile(background=True)
        env.compile(background=True)
    defaults = ppo_isaac.TASK_DEFAULTS.get(env.name, ppo_isaac.TASK_DEFAULTS["other"])
    budget = args.total_timesteps or defaults["total_timesteps"]
    cfg = settings(args.obs_normalization)
    vec_env = rsl_rl_env(env)
    runner = OnPolicyRunner(vec_env, cfg, log_dir=None, device=str(env.device))
    vec_env.start()
    actor = runner.alg.get_policy()  # deterministic by default: the mean action
    summary = dict(
        system="rsl_rl_ppo",
        task=env.name,
        seed=args.seed,
        env_num=args.env_num,
        settings=settings(args.obs_normalization),  # (what ran, a fresh copy: rsl_rl has edited cfg)
        evals=[],
        training_sps=[],
        status="running",
        budget=budget,
    )

    def write() -> None:
        with open(args.out + ".tmp", "w") as f:
            json.dump(summary, f, indent=1)
        os.replace(args.out + ".tmp", args.out)

    def evaluate(steps: int) -> None:
        actor.eval()
        with torch.inference_mode():
            policy = lambda obs: actor(TensorDict({"policy": obs}, batch_size=[len(obs)]))  # noqa: E731
            result = ppo_isaac.evaluate(policy, eval_env, args.eval_times)
        actor.train()
        seconds = round(time.time() - START_TIME, 2)
        summary["evals"].append([seconds, steps] + result)
        summary["wall_seconds"] = seconds
        write()
        print("eval at {:.0f}s, step {}: return {:.2f} ± {:.2f} over {} episodes".format(seconds, steps, *result))

    steps, per_iteration, last_eval = 0, cfg["num_steps_per_env"] * args.env_num, time.time()
    print("training from {:.1f} s after the start".format(time.time() - START_TIME), flush=True)
    while steps < budget:
        start = time.time()
        with contextlib.redirect_stdout(io.StringIO()):  # (rsl_rl prints a table of 30 lines per iteration)
            runner.learn(num_learning_iterations=1)  # (it goes on from the envs' current state)
        runner.current_learning_iteration += 1
        steps += per_iteration
        summary["training_sps"].append(per_iteration / (time.time() - start))
        if time.time() - last_eval >= args.eval_gap:
            evaluate(steps)
            last_eval = time.time()
    if not summary["evals"] or summary["evals"][-1][1] != steps:  # (the final weights, once)
        evaluate(steps)
    summary["status"] = "completed"
    write()


if __name__ == "__main__":
    main()
