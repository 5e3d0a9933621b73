"""PPO for massively parallel GPU simulators, in one file.

    python ppo_isaac.py --env-num 4096                            # Ant: Isaac Gym if installed, else Brax MJX
    python ppo_isaac.py --env-num 4096 --cudagraphs               # the same on the fast path (GPU only)
    python ppo_isaac.py --env-name Pendulum --env-num 1024 --device cpu   # a quick CPU demo

Sections, in order: arguments, networks, advantages, evaluation, checkpoints, then main(): environment,
agent, storage, and the loop (rollout, advantages, update, logging). While a rollout is collected nothing
leaves the device: no host sync, no Python loop over envs. Each iteration syncs once, for the logs and the
NaN guard. Outputs in runs/<run-name>/: TensorBoard scalars, checkpoint.pt, best.pt, summary.json.
"""
import time

START_TIME = time.time()  # wall-clock seconds are counted from here: start-up and compilation included

import isaac_env  # noqa: E402,I001  (before torch: Isaac Gym refuses to load after it)
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from dataclasses import asdict, dataclass, fields  # noqa: E402
from typing import Dict, List, Optional, Tuple  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import tyro  # noqa: E402
from torch.distributions import Normal  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402
from tqdm import tqdm  # noqa: E402

try:
    from typing import Literal
except ImportError:  # Python < 3.8 (Isaac Gym also runs on 3.6 and 3.7)
    from typing_extensions import Literal


# ---------------------------------------------------------------------------------------------- arguments
@dataclass
class Args:
    env_name: Optional[str] = None
    """task, case-insensitive: Ant, Humanoid, ... (Isaac Gym or Brax), Pendulum, CartPole (pure torch);
    default Ant, or the checkpoint's task with --resume/--checkpoint"""
    backend: Literal["auto", "isaacgym", "brax", "torch"] = "auto"
    """simulator: auto takes the first of isaacgym, brax, torch that is installed and has the task"""
    env_num: int = 4096
    """parallel training envs"""
    episode_length: Optional[int] = None
    """time limit in steps, after which an episode is truncated (default: the task's own)"""
    device: str = "auto"
    """torch device: auto (cuda if available, else cpu), cuda, cuda:1, cpu"""
    seed: int = 1
    """seed of torch and of the envs"""
    total_timesteps: Optional[int] = None
    """env steps to train for, all envs counted (default: per task, see TASK_DEFAULTS)"""
    net_dim: Optional[int] = None
    """width of the first hidden layer; actor and critic are MLPs net_dim, net_dim/2, net_dim/4 wide"""
    horizon: Optional[int] = None
    """rollout steps per env per iteration"""
    batch_size: Optional[int] = None
    """minibatch size; must divide env_num * horizon (default: per task, else a quarter of the rollout)"""
    repeat_times: Optional[int] = None
    """epochs over each rollout"""
    learning_rate: Optional[float] = None
    """initial Adam learning rate"""
    kl_target: float = 0.008
    """adaptive learning rate: divided by 1.5 after an epoch whose KL exceeds twice this, multiplied by 1.5
    below half of it (rl_games' schedule); 0 keeps the rate fixed"""
    gamma: Optional[float] = None
    """discount factor"""
    gae_lambda: float = 0.95
    """GAE lambda"""
    clip_coef: float = 0.2
    """PPO clip range, for the policy ratio and for the (normalised) value"""
    ent_coef: float = 0.0
    """entropy bonus coefficient"""
    vf_coef: float = 2.0
    """value loss coefficient"""
    bounds_coef: float = 1e-4
    """penalty on action means outside [-1.1, 1.1], which the env would clip anyway"""
    max_grad_norm: float = 1.0
    """gradient clipping by global norm"""
    target_return: Optional[float] = None
    """stop once an evaluation reaches this return"""
    eval_gap: float = 256.0
    """seconds between evaluations (one more always runs at the end). On a GPU one MJX env steps about as slowly
    as 4096, so 4 Ant episodes on 1 env take ~20 s: evaluate often with --eval-env-num equal to --eval-times"""
    eval_times: int = 4
    """episodes per evaluation"""
    eval_env_num: int = 1
    """envs of the separate evaluation env, which acts deterministically (mean action); 0 evaluates the
    training envs' finished episodes instead (forced on Isaac Gym, which allows one simulation per process)"""
    save_gap: float = 300.0
    """seconds between checkpoints (one is also written at the end, on Ctrl-C, and best.pt at each best eval)"""
    run_name: Optional[str] = None
    """output folder under runs/ (default: <env>__ppo_isaac__<seed>__<unix time>)"""
    resume: Optional[str] = None
    """checkpoint to continue training from, in its run folder; options not given on the command line are
    taken from the checkpoint"""
    checkpoint: Optional[str] = None
    """checkpoint to evaluate, with --eval-only (its task and network come with it)"""
    eval_only: bool = False
    """evaluate --checkpoint for --eval-times episodes, print the result and exit"""
    cudagraphs: bool = False
    """GPU fast path: replay the rollout's policy step and each minibatch update as CUDA graphs (same maths)"""
    compile: bool = False
    """GPU fast path: also torch.compile those two functions (compiles ~1 min at start; no gain seen on Ant)"""


# Per-task defaults for the options left unset: rl_games' Isaac Gym recipes for Ant and Humanoid, small nets and
# short budgets for the pure-torch tasks. Any other task gets "default". `minibatches` sets the default
# --batch-size (env_num * horizon / minibatches; 4 where not given).
TASK_DEFAULTS = {
    "default": dict(total_timesteps=30_000_000, net_dim=256, horizon=16, repeat_times=4, learning_rate=3e-4,
                    gamma=0.99),
    "ant": dict(total_timesteps=50_000_000, net_dim=256, horizon=16, repeat_times=4, learning_rate=3e-4,
                gamma=0.99, minibatches=2),
    "humanoid": dict(total_timesteps=60_000_000, net_dim=400, horizon=32, repeat_times=5, learning_rate=5e-4,
                     gamma=0.99),
    "pendulum": dict(total_timesteps=2_000_000, net_dim=64, horizon=16, repeat_times=8, learning_rate=1e-3,
                     gamma=0.95),
    "cartpole": dict(total_timesteps=2_000_000, net_dim=64, horizon=16, repeat_times=4, learning_rate=1e-3,
                     gamma=0.99),
}


def fail(message: str) -> None:
    """Stop with one readable line and a non-zero exit code."""
    sys.exit("ppo_isaac.py: error: " + message)


# ---------------------------------------------------------------------------------------------- networks
def layer_init(layer: nn.Linear, std: float = 2 ** 0.5) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, std)
    nn.init.zeros_(layer.bias)
    return layer


def mlp(in_dim: int, net_dim: int, out_dim: int, out_std: float) -> nn.Sequential:
    dims = [in_dim, net_dim, net_dim // 2, net_dim // 4]
    layers = []  # type: List[nn.Module]
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [layer_init(nn.Linear(a, b)), nn.ELU()]
    return nn.Sequential(*layers, layer_init(nn.Linear(dims[-1], out_dim), std=out_std))


class RunningMeanStd(nn.Module):
    """Running mean and variance (float64, merged batch by batch); buffers, so they travel in state_dict."""

    def __init__(self, shape: Tuple[int, ...] = ()):
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(1e-4, dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        x = x.reshape(-1, *self.mean.shape).double()
        n, batch_mean, batch_var = x.shape[0], x.mean(0), x.var(0, unbiased=False)
        delta, total = batch_mean - self.mean, self.count + n
        self.var.copy_((self.var * self.count + batch_var * n + delta ** 2 * self.count * n / total) / total)
        self.mean += delta * n / total
        self.count += n

    def normalize(self, x: torch.Tensor, clip: Optional[float] = None) -> torch.Tensor:
        y = (x - self.mean.float()) * torch.rsqrt(self.var.float() + 1e-8)
        return y.clamp(-clip, clip) if clip else y

    def denormalize(self, y: torch.Tensor) -> torch.Tensor:
        return y * torch.sqrt(self.var.float() + 1e-8) + self.mean.float()


class Agent(nn.Module):
    """Separate actor and critic MLPs (ELU, orthogonal init), a state-independent log std, and the observation
    and value normalisers. Both networks take normalised observations; the critic predicts normalised values."""

    def __init__(self, obs_dim: int, act_dim: int, net_dim: int):
        super().__init__()
        self.obs_rms = RunningMeanStd((obs_dim,))
        self.value_rms = RunningMeanStd(())
        self.critic = mlp(obs_dim, net_dim, 1, out_std=1.0)
        self.actor_mean = mlp(obs_dim, net_dim, act_dim, out_std=0.01)
        self.actor_logstd = nn.Parameter(torch.zeros(act_dim))

    def normalize_obs(self, obs: torch.Tensor) -> torch.Tensor:
        return self.obs_rms.normalize(obs, clip=5.0)

    def value(self, norm_obs: torch.Tensor) -> torch.Tensor:
        return self.critic(norm_obs).squeeze(-1)

    def policy(self, norm_obs: torch.Tensor) -> Tuple[Normal, torch.Tensor]:
        mean = self.actor_mean(norm_obs)
        # validate_args=False: argument validation syncs the host with the GPU at every call
        return Normal(mean, self.actor_logstd.exp().expand_as(mean), validate_args=False), mean


class CudaGraph:
    """`fn` recorded as one CUDA graph after `warmup` eager calls (on a side stream, as capture requires). A call
    copies its arguments into the graph's static inputs and replays it; the outputs are the graph's own tensors,
    overwritten by the next call. `fn` may not sync with the host or change shapes, and updates state in place."""

    def __init__(self, fn, warmup: int = 3):
        self.fn, self.warmup, self.graph = fn, warmup, None

    def __call__(self, *args: torch.Tensor):
        if self.graph is None and self.warmup > 0:
            self.warmup -= 1
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                out = self.fn(*args)
            torch.cuda.current_stream().wait_stream(side)
            return out
        if self.graph is None:
            self.inputs = [a.clone() for a in args]
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):  # records the kernels without running them: replay below runs them
                self.outputs = self.fn(*self.inputs)
        else:
            for static, a in zip(self.inputs, args):
                static.copy_(a)
        self.graph.replay()
        return self.outputs


# ---------------------------------------------------------------------------------------------- advantages
def compute_gae(rewards, values, next_values, terminated, dones, gamma: float, lam: float):
    """Generalised advantage estimation over a [T, N] rollout; returns (advantages, returns).

    next_values[t] is V of the state each env reached at step t, before any reset (the env's final_obs), so a
    truncated episode bootstraps from its true last state; a terminated one does not bootstrap at all; and no
    advantage flows back across the end of an episode (dones = terminated | truncated)."""
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        delta = rewards[t] + gamma * next_values[t] * (~terminated[t]) - values[t]
        last = delta + gamma * lam * (~dones[t]) * last
        advantages[t] = last
    return advantages, advantages + values


# ---------------------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(agent: Agent, env, episodes: int, should_stop=lambda: False) -> Tuple[float, int]:
    """Mean return of deterministic (mean-action) episodes. Each env contributes its first episodes after a
    reset, so short episodes are not over-counted. Returns (mean return, episodes counted)."""
    per_env = -(-episodes // env.num_envs)
    counts = torch.zeros(env.num_envs, dtype=torch.long, device=env.device)
    total = torch.zeros((), device=env.device)
    obs = env.reset()
    while not should_stop():
        obs, _, terminated, truncated, info = env.step(agent.actor_mean(agent.normalize_obs(obs)))
        counted = (terminated | truncated) & (counts < per_env)
        total += (info["episode_return"] * counted).sum()
        counts += counted
        if bool((counts >= per_env).all()):  # a host sync per step: fine here, not in training
            break
    n = int(counts.sum())
    return (float(total) / n if n else float("nan")), n


# ---------------------------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: str, state: Dict) -> None:
    """Write atomically: a crash mid-write leaves the previous checkpoint intact."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: str) -> Dict:
    if not os.path.isfile(path):
        fail("checkpoint {} not found".format(path))
    try:  # weights_only: tensors and plain containers only, no arbitrary code from the file
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        fail("checkpoint {} is corrupt or not a torch file ({})".format(path, type(e).__name__))
    if not isinstance(state, dict) or not {"agent", "args", "obs_dim", "act_dim"} <= set(state):
        fail("{} is not a ppo_isaac.py checkpoint".format(path))
    return state


def median(values: List[float]) -> float:
    return sorted(values)[len(values) // 2]


def write_json(path: str, data: Dict) -> None:
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=2)
    os.replace(path + ".tmp", path)


# ---------------------------------------------------------------------------------------------- main
def parse_args(argv: Optional[List[str]] = None) -> Tuple[Args, Optional[Dict]]:
    """The command line; with --resume or --checkpoint, parsed again over the checkpoint's own settings."""
    args = tyro.cli(Args, args=argv)
    if args.eval_only and not args.checkpoint:
        fail("--eval-only needs --checkpoint PATH")
    path = args.checkpoint if args.eval_only else args.resume
    if not path:
        return args, None
    ckpt = load_checkpoint(path)
    saved = {f.name: ckpt["args"][f.name] for f in fields(Args) if f.name in ckpt["args"]}
    saved.update(resume=None, checkpoint=None, eval_only=False)
    return tyro.cli(Args, args=argv, default=Args(**saved)), ckpt


def main(args: Args, ckpt: Optional[Dict] = None) -> None:
    # --- settings: the command line, then the checkpoint's, then the task's defaults
    ckpt_path = args.checkpoint if args.eval_only else args.resume
    args.env_name = args.env_name or "Ant"
    defaults = dict(TASK_DEFAULTS.get(args.env_name.lower(), TASK_DEFAULTS["default"]))
    minibatches = defaults.pop("minibatches", 4)
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in ("env_num", "total_timesteps", "net_dim", "horizon", "repeat_times", "eval_times"):
        if getattr(args, name) <= 0:
            fail("--{} must be positive, got {}".format(name.replace("_", "-"), getattr(args, name)))
    if args.eval_env_num < 0:
        fail("--eval-env-num must be 0 or more, got {}".format(args.eval_env_num))
    rollout_size = args.env_num * args.horizon
    if args.batch_size is None:
        args.batch_size = next(rollout_size // k for k in (minibatches, 2, 1) if rollout_size % k == 0)
    if args.batch_size <= 0 or rollout_size % args.batch_size:
        fail("--batch-size {} must divide env_num * horizon = {} * {} = {}".format(
            args.batch_size, args.env_num, args.horizon, rollout_size))
    torch.manual_seed(args.seed)

    # --- environment
    eval_env = None
    try:
        if args.eval_only:  # one env, the evaluation env, also on Isaac Gym
            env = eval_env = isaac_env.make_env(args.env_name, max(args.eval_env_num, 1), args.backend,
                                                args.device, args.seed + 10_000, args.episode_length)
        else:
            env = isaac_env.make_env(args.env_name, args.env_num, args.backend, args.device, args.seed,
                                     args.episode_length)
            if args.eval_env_num > 0 and env.one_per_process:
                print("note: {} allows one simulation per process: evaluating the training envs' finished "
                      "episodes (stochastic actions) instead of a separate env".format(env.backend))
                args.eval_env_num = 0
            if args.eval_env_num > 0:
                eval_env = isaac_env.make_env(args.env_name, args.eval_env_num, env.backend, env.device,
                                              args.seed + 10_000, args.episode_length)
    except isaac_env.EnvError as e:
        fail(str(e))
    device = env.device
    if (args.cudagraphs or args.compile) and device.type != "cuda" and not args.eval_only:
        fail("--cudagraphs and --compile are GPU fast paths; device {} is not a GPU".format(device))
    print("env: {} on {} ({} envs), obs {}, act {}, episode limit {}, device {}".format(
        env.name, env.backend, env.num_envs, env.obs_dim, env.act_dim, env.max_episode_length, device))
    if ckpt is not None and (ckpt["obs_dim"], ckpt["act_dim"]) != (env.obs_dim, env.act_dim):
        fail("checkpoint {} was made for {} with obs {} / act {}; {} has obs {} / act {}".format(
            ckpt_path, ckpt["env_name"], ckpt["obs_dim"], ckpt["act_dim"], env.name, env.obs_dim, env.act_dim))

    # --- agent and optimiser. The learning rate is a tensor so that the KL schedule adapts it on the device.
    agent = Agent(env.obs_dim, env.act_dim, args.net_dim).to(device)
    optimizer = torch.optim.Adam(agent.parameters(), lr=torch.tensor(args.learning_rate, device=device),
                                 eps=1e-5, fused=True, capturable=args.cudagraphs)  # graphs: step counts on the GPU
    global_step, evals, best_return, wall_offset = 0, [], None, 0.0  # evals: [seconds, steps, return] rows
    if ckpt is not None:
        try:
            agent.load_state_dict(ckpt["agent"])
            if not args.eval_only:
                optimizer.load_state_dict(ckpt["optimizer"])
                lr_saved = float(optimizer.param_groups[0]["lr"])  # loaded onto the CPU: back to the device
                optimizer.param_groups[0].update(lr=torch.tensor(lr_saved, device=device), capturable=args.cudagraphs)
        except (RuntimeError, KeyError, ValueError) as e:
            fail("checkpoint {} does not fit this network (--net-dim {}): {}".format(
                ckpt_path, args.net_dim, str(e).splitlines()[0]))
    if args.eval_only:
        mean_return, n = evaluate(agent, eval_env, args.eval_times)
        print(json.dumps({"checkpoint": ckpt_path, "env": env.name, "eval_return": mean_return, "episodes": n}))
        return
    if ckpt is not None:
        global_step, evals, best_return = ckpt["global_step"], ckpt["evals"], ckpt["best_eval_return"]
        wall_offset = ckpt["wall_seconds"]
        torch.set_rng_state(ckpt["rng_torch"])
        if device.type == "cuda" and ckpt.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(ckpt["rng_cuda"], device)
    run_dir = os.path.dirname(os.path.abspath(args.resume)) if args.resume else os.path.join(
        "runs", args.run_name or "{}__ppo_isaac__{}__{}".format(env.name, args.seed, int(START_TIME)))
    os.makedirs(run_dir, exist_ok=True)
    writer = SummaryWriter(run_dir)
    writer.add_text("hyperparameters", "\n".join("|{}|{}|".format(k, v) for k, v in asdict(args).items()))

    # --- storage: one preallocated tensor per quantity, [horizon, env_num, ...], on the device
    T, N = args.horizon, args.env_num
    obs_buf = torch.zeros(T, N, env.obs_dim, device=device)  # raw observations
    final_obs_buf = torch.zeros(T, N, env.obs_dim, device=device)  # raw info["final_obs"]: the next states
    act_buf = torch.zeros(T, N, env.act_dim, device=device)
    logp_buf, value_buf, rew_buf, ep_return_buf, ep_length_buf = (torch.zeros(T, N, device=device) for _ in range(5))
    term_buf, done_buf = (torch.zeros(T, N, dtype=torch.bool, device=device) for _ in range(2))
    episode_sums = torch.zeros(3, device=device)  # finished episodes so far: return sum, length sum, count

    # --- the two hot functions: the policy at each rollout step, and one minibatch update
    @torch.no_grad()
    def act(obs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        norm_obs = agent.normalize_obs(obs)
        dist, _ = agent.policy(norm_obs)
        # rsample() draws the same mean + std * noise as sample(), which first checks std >= 0 on the host: a
        # GPU sync at every step that stalls the pipeline (and cannot be captured in a CUDA graph)
        action = dist.rsample()
        return action, dist.log_prob(action).sum(-1), agent.value(norm_obs)

    def update_minibatch(obs, actions, old_logp, adv, old_values, returns) -> torch.Tensor:
        """One clipped-PPO gradient step; returns [policy loss, value loss, entropy, approx kl, clip fraction, loss]."""
        dist, mean = agent.policy(obs)
        log_ratio = dist.log_prob(actions).sum(-1) - old_logp
        ratio = log_ratio.exp()
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef)).mean()
        value = agent.value(obs)
        value_clipped = old_values + (value - old_values).clamp(-args.clip_coef, args.clip_coef)
        v_loss = torch.max((value - returns) ** 2, (value_clipped - returns) ** 2).mean()
        entropy = dist.entropy().sum(-1).mean()
        bounds = ((mean - 1.1).clamp_min(0) ** 2 + (-1.1 - mean).clamp_min(0) ** 2).sum(-1).mean()
        loss = pg_loss + args.vf_coef * v_loss - args.ent_coef * entropy + args.bounds_coef * bounds
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
        optimizer.step()
        with torch.no_grad():
            approx_kl = ((ratio - 1) - log_ratio).mean()
            clip_frac = ((ratio - 1).abs() > args.clip_coef).float().mean()
            return torch.stack([pg_loss, v_loss, entropy, approx_kl, clip_frac, loss])

    # The fast paths (GPU only) wrap those two functions and leave the maths alone: one launch instead of hundreds
    if args.compile:
        act, update_minibatch = torch.compile(act), torch.compile(update_minibatch)
    if args.cudagraphs:
        act, update_minibatch = CudaGraph(act), CudaGraph(update_minibatch)

    # --- the loop
    stop = {"requested": False}

    def on_signal(signum, frame):  # Ctrl-C or kill: finish the iteration, save, exit 0; a second one stops at once
        stop["requested"] = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print("run: {} (Ctrl-C saves a checkpoint and the summary, then stops)".format(run_dir))
    start_step, iteration = global_step, 0
    iteration_times = []  # type: List[Tuple[float, float, float]]  # seconds of each: whole, rollout, update

    # Where an iteration's time goes (rollout vs update), read at its one sync. On a GPU the host runs ahead of
    # the kernels, so the marks are CUDA events on torch's stream (which waits for each JAX step it reads).
    def mark():
        if device.type != "cuda":
            return time.time()
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def seconds_between(start, end) -> float:
        return end - start if device.type != "cuda" else start.elapsed_time(end) / 1000

    last_eval, last_save, last_sums = time.time(), time.time(), [0.0, 0.0, 0.0]
    eval_sums = [0.0, 0.0, 0.0]  # episode_sums at the last evaluation (for --eval-env-num 0)
    seconds_to_target, status, latest_return = None, "completed", float("nan")

    def wall_seconds() -> float:
        return wall_offset + time.time() - START_TIME

    def checkpoint_state() -> Dict:
        return {"agent": agent.state_dict(), "optimizer": optimizer.state_dict(), "args": asdict(args),
                "env_name": env.name, "backend": env.backend, "obs_dim": env.obs_dim, "act_dim": env.act_dim,
                "global_step": global_step, "evals": evals, "best_eval_return": best_return,
                "wall_seconds": wall_seconds(), "rng_torch": torch.get_rng_state(),
                "rng_cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}

    def run_evaluation(sums: List[float]) -> None:
        nonlocal best_return, seconds_to_target, eval_sums
        if eval_env is not None:
            mean_return, n = evaluate(agent, eval_env, args.eval_times, lambda: stop["requested"])
            if stop["requested"]:  # cut short by Ctrl-C: a partial evaluation is not recorded
                return
        else:  # training episodes finished since the last evaluation
            n = int(sums[2] - eval_sums[2])
            mean_return = (sums[0] - eval_sums[0]) / n if n else float("nan")
            eval_sums = sums
        if n == 0:
            return
        evals.append([round(wall_seconds(), 2), global_step, mean_return])
        writer.add_scalar("charts/eval_return", mean_return, global_step)
        tqdm.write("eval at {:.0f}s, step {}: return {:.2f} over {} episodes".format(
            wall_seconds(), global_step, mean_return, n))
        if best_return is None or mean_return > best_return:
            best_return = mean_return
            save_checkpoint(os.path.join(run_dir, "best.pt"), checkpoint_state())
        if seconds_to_target is None and args.target_return is not None and mean_return >= args.target_return:
            seconds_to_target = evals[-1][0]

    obs = env.reset()
    progress = tqdm(total=args.total_timesteps, initial=global_step, unit="step", unit_scale=True,
                    dynamic_ncols=True, mininterval=1.0)
    while global_step < args.total_timesteps and not stop["requested"]:
        iteration += 1
        iteration_start, rollout_start = time.time(), mark()

        # --- rollout: T steps of all envs, nothing leaves the device. The normalisers stay fixed during a
        # rollout, so normalising the stored raw observations later gives exactly what the policy saw.
        with torch.no_grad():
            for t in range(T):
                action, logp, value = act(obs)
                obs_buf[t], act_buf[t], logp_buf[t], value_buf[t] = obs, action, logp, value
                obs, reward, terminated, truncated, info = env.step(action)
                rew_buf[t], term_buf[t], done_buf[t] = reward, terminated, terminated | truncated
                final_obs_buf[t] = info["final_obs"]
                ep_return_buf[t], ep_length_buf[t] = info["episode_return"], info["episode_length"]
            rollout_end = mark()
            global_step += T * N
            episode_sums += torch.stack([(ep_return_buf * done_buf).sum(), (ep_length_buf * done_buf).sum(),
                                         done_buf.sum()])

            # --- advantages, in unnormalised value units
            next_values = agent.value_rms.denormalize(agent.value(agent.normalize_obs(final_obs_buf)))
            values = agent.value_rms.denormalize(value_buf)
            advantages, returns = compute_gae(rew_buf, values, next_values, term_buf, done_buf,
                                              args.gamma, args.gae_lambda)
            finite = torch.stack([torch.isfinite(obs_buf).all(), torch.isfinite(rew_buf).all()])
            b_obs, b_act = agent.normalize_obs(obs_buf).reshape(T * N, -1), act_buf.reshape(T * N, -1)
            agent.obs_rms.update(obs_buf)  # for the next rollout
            agent.value_rms.update(returns)
            b_logp, b_adv = logp_buf.reshape(-1), advantages.reshape(-1)
            b_returns = agent.value_rms.normalize(returns).reshape(-1)
            b_values = agent.value_rms.normalize(values).reshape(-1)
            explained_var = 1 - (returns - values).var() / returns.var().clamp_min(1e-8)

        # --- update: repeat_times epochs of shuffled minibatches
        lr = optimizer.param_groups[0]["lr"]
        loss_sums = torch.zeros(6, device=device)  # policy, value, entropy, approx kl, clip fraction, total loss
        for _ in range(args.repeat_times):
            epoch_kl = torch.zeros((), device=device)
            for idx in torch.randperm(T * N, device=device).split(args.batch_size):
                stats = update_minibatch(*(x[idx] for x in (b_obs, b_act, b_logp, b_adv, b_values, b_returns)))
                epoch_kl += stats[3]
                loss_sums += stats
            if args.kl_target > 0:  # rl_games' adaptive schedule, on the device: no sync
                with torch.no_grad():
                    kl = epoch_kl / (T * N // args.batch_size)
                    lr.mul_(torch.where(kl > 2 * args.kl_target, 1 / 1.5,
                                        torch.where(kl < args.kl_target / 2, 1.5, 1.0))).clamp_(1e-6, 1e-2)

        update_end = mark()

        # --- logging: the iteration's one host sync
        n_updates = args.repeat_times * (T * N // args.batch_size)
        stats = torch.cat([loss_sums / n_updates, episode_sums, finite.float(), lr.reshape(1),
                           explained_var.reshape(1)]).tolist()
        (pg, vl, ent, kl, clipfrac, total_loss), sums = stats[:6], stats[6:9]
        obs_finite, rew_finite, lr_value, ev = stats[9], stats[10], stats[11], stats[12]
        iteration_seconds = time.time() - iteration_start
        iteration_times.append((iteration_seconds, seconds_between(rollout_start, rollout_end),
                                seconds_between(rollout_end, update_end)))
        bad = [what for what, ok in (("observations", obs_finite), ("rewards", rew_finite),
                                     ("losses", math.isfinite(total_loss))) if not ok]
        if bad:
            status = "diverged"
            progress.close()
            fail("non-finite {} at iteration {} (step {}); stopped, the last good checkpoint in {} is kept".format(
                " and ".join(bad), iteration, global_step, run_dir))
        sps = T * N / iteration_seconds
        writer.add_scalar("charts/SPS", sps, global_step)
        writer.add_scalar("charts/learning_rate", lr_value, global_step)
        writer.add_scalar("charts/rollout_seconds", iteration_times[-1][1], global_step)
        writer.add_scalar("charts/update_seconds", iteration_times[-1][2], global_step)  # advantages included
        for name, value in (("policy_loss", pg), ("value_loss", vl), ("entropy", ent), ("approx_kl", kl),
                            ("clipfrac", clipfrac), ("loss", total_loss), ("explained_variance", ev)):
            writer.add_scalar("losses/" + name, value, global_step)
        if sums[2] > last_sums[2]:  # episodes finished during this iteration
            finished = sums[2] - last_sums[2]
            latest_return = (sums[0] - last_sums[0]) / finished
            writer.add_scalar("charts/episodic_return", latest_return, global_step)
            writer.add_scalar("charts/episodic_length", (sums[1] - last_sums[1]) / finished, global_step)
        last_sums = sums
        progress.set_postfix(SPS="{:.0f}".format(sps), ret="{:.1f}".format(latest_return), refresh=False)
        progress.update(T * N)

        if time.time() - last_eval >= args.eval_gap:
            run_evaluation(sums)
            last_eval = time.time()
            if seconds_to_target is not None:
                status = "target_reached"
                break
        if time.time() - last_save >= args.save_gap:
            save_checkpoint(os.path.join(run_dir, "checkpoint.pt"), checkpoint_state())
            last_save = time.time()
    progress.close()
    if stop["requested"]:
        status = "interrupted"
        print("interrupted: saving a checkpoint and the summary")
    elif status != "target_reached":
        run_evaluation(last_sums)  # the final evaluation
    save_checkpoint(os.path.join(run_dir, "checkpoint.pt"), checkpoint_state())
    train_seconds = sum(times[0] for times in iteration_times)
    # steady: the median iteration after the first 5 (compilation, graph capture), whole and by phase
    steady = [median(column) for column in zip(*iteration_times[5:])] or [None, None, None]
    summary = {
        "env": env.name, "backend": env.backend, "env_num": args.env_num, "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None, "seed": args.seed,
        "status": status, "steps": global_step, "wall_seconds": round(wall_seconds(), 2),
        "train_seconds": round(train_seconds, 2),
        "sps": round((global_step - start_step) / train_seconds, 1) if train_seconds else None,
        "steady_sps": round(T * N / steady[0], 1) if steady[0] else None,
        "steady_rollout_sps": round(T * N / steady[1], 1) if steady[1] else None,
        "steady_update_seconds": round(steady[2], 4) if steady[2] is not None else None,
        "final_eval_return": evals[-1][2] if evals else None, "best_eval_return": best_return,
        "target_return": args.target_return, "seconds_to_target": seconds_to_target,
        "torch_peak_memory_gib": round(torch.cuda.max_memory_allocated(device) / 2 ** 30, 3)
        if device.type == "cuda" else None,
        "evals": evals,
    }
    write_json(os.path.join(run_dir, "summary.json"), summary)
    writer.close()
    print("summary: {}".format(os.path.join(run_dir, "summary.json")))


if __name__ == "__main__":
    main(*parse_args())
