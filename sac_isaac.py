"""SAC for massively parallel GPU simulators, in one file.

    python sac_isaac.py --env-name Humanoid --env-num 4096           # Isaac Gym if installed, else Brax MJX
    python sac_isaac.py --env-name Pendulum --env-num 64 --device cpu  # a quick CPU demo

The recipe that makes off-policy learning pay with thousands of envs (FastTD3 2025; Raffin 2025; Shukla 2025):
every env step adds num_envs transitions, followed by a few updates on large batches; clipped double Q with
LayerNorm critics; n-step returns that bootstrap through truncation but not through termination; a learned
entropy temperature; running observation normalisation. Sections, in order: arguments, networks, replay buffer,
evaluation, checkpoints, then main(): environment, agent, the loop (collection, update, logging). Nothing leaves
the device during collection and updates; every --log-every iterations one sync feeds the logs and NaN guard.
Outputs in runs/<run-name>/: TensorBoard scalars, checkpoint.pt, best.pt, summary.json.
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
import torch.nn.functional as F  # noqa: E402
import tyro  # noqa: E402
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
    default Humanoid, or the checkpoint's task with --resume/--checkpoint"""
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
    """width of the first hidden layer; the actor is net_dim, net_dim/2, net_dim/4 wide, the critics twice that"""
    buffer_size: Optional[int] = None
    """replay capacity in transitions, all envs together (one ring of buffer_size / env_num steps per env)"""
    batch_size: Optional[int] = None
    """transitions per gradient update"""
    updates_per_step: Optional[int] = None
    """gradient updates after each env step (which adds env_num transitions)"""
    learning_starts: Optional[int] = None
    """env steps per env of uniformly random actions before learning starts"""
    learning_rate: Optional[float] = None
    """Adam learning rate of actor, critics and temperature"""
    gamma: Optional[float] = None
    """discount factor"""
    n_step: Optional[int] = None
    """n-step returns (1 for plain SAC): rewards summed along each env's ring, stopping where an episode ended"""
    tau: float = 0.1
    """soft target update rate (target <- target + tau * (online - target)) after each update"""
    init_alpha: float = 0.01
    """initial entropy temperature; small, because thousands of envs already explore"""
    target_entropy_scale: float = 0.5
    """target entropy = -scale * act_dim"""
    max_grad_norm: float = 10.0
    """gradient clipping by global norm (0 disables)"""
    bf16: bool = False
    """run the networks under bfloat16 autocast (GPU)"""
    compile: bool = False
    """torch.compile the update (compiles for a minute first; pays off in long GPU runs)"""
    target_return: Optional[float] = None
    """stop once an evaluation reaches this return"""
    eval_gap: float = 256.0
    """seconds between evaluations (one more always runs at the end); see ppo_isaac.py for the cost of 1 env"""
    eval_times: int = 4
    """episodes per evaluation"""
    eval_env_num: int = 1
    """envs of the separate evaluation env (deterministic actions); 0 evaluates the training envs' finished
    episodes instead (forced on Isaac Gym, which allows one simulation per process)"""
    save_gap: float = 300.0
    """seconds between checkpoints (one is also written at the end, on Ctrl-C, and best.pt at each best eval)"""
    log_every: int = 50
    """iterations (env steps) between log lines, NaN checks and checkpoint opportunities"""
    run_name: Optional[str] = None
    """output folder under runs/ (default: <env>__sac_isaac__<seed>__<unix time>)"""
    resume: Optional[str] = None
    """checkpoint to continue training from, in its run folder; options not given on the command line are taken
    from the checkpoint. The replay buffer is not saved: it refills from the current policy"""
    checkpoint: Optional[str] = None
    """checkpoint to evaluate, with --eval-only (its task and network come with it)"""
    eval_only: bool = False
    """evaluate --checkpoint for --eval-times episodes, print the result and exit"""


# Per-task defaults for the options left unset (FastTD3's choices for locomotion: gamma 0.97, 3-step returns,
# large batches); small and quick for the pure-torch tasks. Any other task gets "default".
TASK_DEFAULTS = {
    "default": dict(total_timesteps=50_000_000, net_dim=512, buffer_size=1_048_576, batch_size=8192,
                    updates_per_step=2, learning_starts=10, learning_rate=3e-4, gamma=0.97, n_step=3),
    "humanoid": dict(total_timesteps=60_000_000, net_dim=512, buffer_size=1_048_576, batch_size=8192,
                     updates_per_step=2, learning_starts=10, learning_rate=3e-4, gamma=0.97, n_step=3),
    "pendulum": dict(total_timesteps=30_000, net_dim=128, buffer_size=64_000, batch_size=512,
                     updates_per_step=4, learning_starts=4, learning_rate=1e-3, gamma=0.99, n_step=1),
    "cartpole": dict(total_timesteps=200_000, net_dim=128, buffer_size=64_000, batch_size=512,
                     updates_per_step=1, learning_starts=4, learning_rate=1e-3, gamma=0.99, n_step=1),
}


def fail(message: str) -> None:
    """Stop with one readable line and a non-zero exit code."""
    sys.exit("sac_isaac.py: error: " + message)


# ---------------------------------------------------------------------------------------------- networks
def mlp(in_dim: int, widths: List[int], out_dim: int, layer_norm: bool) -> nn.Sequential:
    layers = []  # type: List[nn.Module]
    for width in widths:
        layers += [nn.Linear(in_dim, width)] + ([nn.LayerNorm(width)] if layer_norm else []) + [nn.ReLU()]
        in_dim = width
    return nn.Sequential(*layers, nn.Linear(in_dim, out_dim))


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

    def normalize(self, x: torch.Tensor, clip: float = 5.0) -> torch.Tensor:
        return ((x - self.mean.float()) * torch.rsqrt(self.var.float() + 1e-8)).clamp(-clip, clip)


class Actor(nn.Module):
    """Tanh-squashed Gaussian policy. Actions land in (-1, 1), the range every isaac_env backend takes."""

    def __init__(self, obs_dim: int, act_dim: int, net_dim: int):
        super().__init__()
        self.obs_rms = RunningMeanStd((obs_dim,))
        self.net = mlp(obs_dim, [net_dim, net_dim // 2, net_dim // 4], 2 * act_dim, layer_norm=False)
        nn.init.uniform_(self.net[-1].weight, -1e-3, 1e-3)  # start near mean 0 with a small std (exp(-1))
        nn.init.constant_(self.net[-1].bias[act_dim:], -1.0)
        nn.init.zeros_(self.net[-1].bias[:act_dim])

    def forward(self, norm_obs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """A sampled action and its log-probability, tanh correction included."""
        mean, log_std = self.net(norm_obs).float().chunk(2, dim=-1)
        std = log_std.clamp(-5.0, 2.0).exp()
        u = mean + std * torch.randn_like(mean)
        log_prob = (-0.5 * ((u - mean) / std) ** 2 - std.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
        # log det of tanh's Jacobian, log(1 - tanh(u)^2), in a form that stays finite for large |u|
        log_prob = log_prob - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)
        return torch.tanh(u), log_prob

    def deterministic(self, norm_obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(norm_obs).float().chunk(2, dim=-1)[0])


class Critic(nn.Module):
    """Two Q networks (clipped double Q) with LayerNorm, which keeps large-batch, high-throughput TD stable."""

    def __init__(self, obs_dim: int, act_dim: int, net_dim: int):
        super().__init__()
        widths = [2 * net_dim, net_dim, net_dim // 2]
        self.q1 = mlp(obs_dim + act_dim, widths, 1, layer_norm=True)
        self.q2 = mlp(obs_dim + act_dim, widths, 1, layer_norm=True)

    def forward(self, norm_obs: torch.Tensor, actions: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([norm_obs, actions], dim=-1)
        return self.q1(x).squeeze(-1).float(), self.q2(x).squeeze(-1).float()


# ---------------------------------------------------------------------------------------------- replay buffer
class ReplayBuffer:
    """One ring per env, stored as [capacity, num_envs, ...] tensors on the device, so each env's transitions
    stay in time order and n-step returns are sums along its ring. Every transition keeps the true next
    observation (the env's final_obs), so a truncated episode bootstraps from where it really ended;
    `terminated` stops bootstrapping, and `done` (terminated or truncated) ends an n-step sum."""

    def __init__(self, capacity: int, num_envs: int, obs_dim: int, act_dim: int, device: torch.device):
        self.capacity, self.num_envs, self.pos, self.size = capacity, num_envs, 0, 0
        self.obs = torch.zeros(capacity, num_envs, obs_dim, device=device)
        self.next_obs = torch.zeros(capacity, num_envs, obs_dim, device=device)
        self.actions = torch.zeros(capacity, num_envs, act_dim, device=device)
        self.rewards = torch.zeros(capacity, num_envs, device=device)
        self.terminated = torch.zeros(capacity, num_envs, dtype=torch.bool, device=device)
        self.dones = torch.zeros(capacity, num_envs, dtype=torch.bool, device=device)

    def add(self, obs, actions, rewards, next_obs, terminated, dones) -> None:
        i = self.pos
        self.obs[i], self.actions[i], self.rewards[i], self.next_obs[i] = obs, actions, rewards, next_obs
        self.terminated[i], self.dones[i] = terminated, dones
        self.pos, self.size = (i + 1) % self.capacity, min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, n_step: int, gamma: float):
        """(obs, actions, n-step reward sum, next_obs, bootstrap discount): the target is
        sum + discount * V(next_obs), where discount = gamma^m, or 0 if the m-th transition terminated."""
        device = self.rewards.device
        oldest = (self.pos - self.size) % self.capacity
        # a start whose n-1 successors are all written; every env equally likely
        start = oldest + torch.randint(0, self.size - n_step + 1, (batch_size,), device=device)
        env = torch.randint(0, self.num_envs, (batch_size,), device=device)
        first = start % self.capacity
        reward_sum = torch.zeros(batch_size, device=device)
        discount = torch.ones(batch_size, device=device)
        alive = torch.ones(batch_size, dtype=torch.bool, device=device)
        last = first
        for k in range(n_step):
            idx = (start + k) % self.capacity
            reward_sum += alive * discount * self.rewards[idx, env]
            last = torch.where(alive, idx, last)
            discount = torch.where(alive, discount * gamma, discount)
            alive = alive & ~self.dones[idx, env]
        discount = discount * ~self.terminated[last, env]
        return self.obs[first, env], self.actions[first, env], reward_sum, self.next_obs[last, env], discount


# ---------------------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(actor: Actor, env, episodes: int, should_stop=lambda: False) -> Tuple[float, int]:
    """Mean return of deterministic episodes (tanh of the mean). Each env contributes its first episodes after a
    reset, so short episodes are not over-counted. Returns (mean return, episodes counted)."""
    per_env = -(-episodes // env.num_envs)
    counts = torch.zeros(env.num_envs, dtype=torch.long, device=env.device)
    total = torch.zeros((), device=env.device)
    obs = env.reset()
    while not should_stop():
        obs, _, terminated, truncated, info = env.step(actor.deterministic(actor.obs_rms.normalize(obs)))
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
    with open(path + ".tmp", "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)


def load_checkpoint(path: str) -> Dict:
    if not os.path.isfile(path):
        fail("checkpoint {} not found".format(path))
    try:  # weights_only: tensors and plain containers only, no arbitrary code from the file
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        fail("checkpoint {} is corrupt or not a torch file ({})".format(path, type(e).__name__))
    if not isinstance(state, dict) or not {"actor", "critic", "args", "obs_dim", "act_dim"} <= set(state):
        fail("{} is not a sac_isaac.py checkpoint".format(path))
    return state


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


def write_json(path: str, data: Dict) -> None:
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=2)
    os.replace(path + ".tmp", path)


# ---------------------------------------------------------------------------------------------- main
def main(args: Args, ckpt: Optional[Dict] = None) -> None:
    # --- settings: the command line, then the checkpoint's, then the task's defaults
    ckpt_path = args.checkpoint if args.eval_only else args.resume
    args.env_name = args.env_name or "Humanoid"
    for name, value in TASK_DEFAULTS.get(args.env_name.lower(), TASK_DEFAULTS["default"]).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in ("env_num", "total_timesteps", "net_dim", "buffer_size", "batch_size", "updates_per_step",
                 "n_step", "eval_times", "log_every"):
        if getattr(args, name) <= 0:
            fail("--{} must be positive, got {}".format(name.replace("_", "-"), getattr(args, name)))
    if args.eval_env_num < 0 or args.learning_starts < 0:
        fail("--eval-env-num and --learning-starts must be 0 or more")
    capacity = args.buffer_size // args.env_num
    if capacity < max(args.n_step, args.learning_starts) + 1:
        fail("--buffer-size {} holds {} steps per env for {} envs; it needs more than max(n_step, learning_starts) "
             "= {}".format(args.buffer_size, capacity, args.env_num, max(args.n_step, args.learning_starts)))
    torch.manual_seed(args.seed)
    torch.set_float32_matmul_precision("high")  # TF32 matmuls on GPUs that have them: SAC's critics are wide

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
    print("env: {} on {} ({} envs), obs {}, act {}, episode limit {}, device {}".format(
        env.name, env.backend, env.num_envs, env.obs_dim, env.act_dim, env.max_episode_length, device))
    if ckpt is not None and (ckpt["obs_dim"], ckpt["act_dim"]) != (env.obs_dim, env.act_dim):
        fail("checkpoint {} was made for {} with obs {} / act {}; {} has obs {} / act {}".format(
            ckpt_path, ckpt["env_name"], ckpt["obs_dim"], ckpt["act_dim"], env.name, env.obs_dim, env.act_dim))

    # --- agent: actor (with the observation normaliser), twin critics and their target, entropy temperature
    actor = Actor(env.obs_dim, env.act_dim, args.net_dim).to(device)
    critic = Critic(env.obs_dim, env.act_dim, args.net_dim).to(device)
    critic_target = Critic(env.obs_dim, env.act_dim, args.net_dim).to(device)
    critic_target.load_state_dict(critic.state_dict())
    log_alpha = torch.tensor(math.log(args.init_alpha), device=device, requires_grad=True)
    actor_opt = torch.optim.Adam(actor.parameters(), lr=args.learning_rate, fused=True)
    critic_opt = torch.optim.Adam(critic.parameters(), lr=args.learning_rate, fused=True)
    alpha_opt = torch.optim.Adam([log_alpha], lr=args.learning_rate)
    target_entropy = -args.target_entropy_scale * env.act_dim
    global_step, evals, best_return, wall_offset = 0, [], None, 0.0  # evals: [seconds, steps, return] rows
    if ckpt is not None:
        try:
            actor.load_state_dict(ckpt["actor"])
            if not args.eval_only:
                critic.load_state_dict(ckpt["critic"])
                critic_target.load_state_dict(ckpt["critic_target"])
                with torch.no_grad():
                    log_alpha.copy_(ckpt["log_alpha"])
                for opt, key in ((actor_opt, "actor_opt"), (critic_opt, "critic_opt"), (alpha_opt, "alpha_opt")):
                    opt.load_state_dict(ckpt[key])
        except (RuntimeError, KeyError, ValueError) as e:
            fail("checkpoint {} does not fit this network (--net-dim {}): {}".format(
                ckpt_path, args.net_dim, str(e).splitlines()[0]))
    if args.eval_only:
        mean_return, n = evaluate(actor, eval_env, args.eval_times)
        print(json.dumps({"checkpoint": ckpt_path, "env": env.name, "eval_return": mean_return, "episodes": n}))
        return
    if ckpt is not None:
        global_step, evals, best_return = ckpt["global_step"], ckpt["evals"], ckpt["best_eval_return"]
        wall_offset = ckpt["wall_seconds"]
        torch.set_rng_state(ckpt["rng_torch"])
        if device.type == "cuda" and ckpt.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(ckpt["rng_cuda"], device)
    run_dir = os.path.dirname(os.path.abspath(args.resume)) if args.resume else os.path.join(
        "runs", args.run_name or "{}__sac_isaac__{}__{}".format(env.name, args.seed, int(START_TIME)))
    os.makedirs(run_dir, exist_ok=True)
    writer = SummaryWriter(run_dir)
    writer.add_text("hyperparameters", "\n".join("|{}|{}|".format(k, v) for k, v in asdict(args).items()))
    buffer = ReplayBuffer(capacity, env.num_envs, env.obs_dim, env.act_dim, device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16)
    online_params, target_params = list(critic.parameters()), list(critic_target.parameters())

    # --- update: critics on n-step targets, then actor, then temperature, then a soft target update
    def update() -> torch.Tensor:
        obs, actions, reward_sum, next_obs, discount = buffer.sample(args.batch_size, args.n_step, args.gamma)
        obs, next_obs = actor.obs_rms.normalize(obs), actor.obs_rms.normalize(next_obs)
        alpha = log_alpha.exp().detach()
        with autocast:
            with torch.no_grad():
                next_actions, next_log_prob = actor(next_obs)
                next_q = torch.min(*critic_target(next_obs, next_actions)) - alpha * next_log_prob
                target = reward_sum + discount * next_q
            q1, q2 = critic(obs, actions)
            critic_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
        critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        if args.max_grad_norm > 0:
            nn.utils.clip_grad_norm_(critic.parameters(), args.max_grad_norm)
        critic_opt.step()
        with autocast:
            new_actions, log_prob = actor(obs)
            actor_loss = (alpha * log_prob - torch.min(*critic(obs, new_actions))).mean()
        actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        if args.max_grad_norm > 0:
            nn.utils.clip_grad_norm_(actor.parameters(), args.max_grad_norm)
        actor_opt.step()
        alpha_loss = -(log_alpha * (log_prob.detach() + target_entropy)).mean()
        alpha_opt.zero_grad(set_to_none=True)
        alpha_loss.backward()
        alpha_opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(target_params, online_params, args.tau)
        return torch.stack([critic_loss, actor_loss, alpha_loss, alpha, 0.5 * (q1 + q2).mean(),
                            -log_prob.mean()]).detach()

    if args.compile:
        update = torch.compile(update)

    # --- the loop: one env step of all envs, then updates_per_step updates
    stop = {"requested": False}

    def on_signal(signum, frame):  # Ctrl-C or kill: stop at the next log point, save, exit 0
        stop["requested"] = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print("run: {} (Ctrl-C saves a checkpoint and the summary, then stops)".format(run_dir))
    start_step, train_seconds, iteration = global_step, 0.0, 0
    window_sps = []  # type: List[float]
    last_eval, last_save, last_log = time.time(), time.time(), time.time()
    last_sums, eval_sums = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
    seconds_to_target, status, latest_return = None, "completed", float("nan")
    loss_sums, updates_done = torch.zeros(6, device=device), 0
    episode_sums = torch.zeros(3, device=device)  # finished episodes so far: return sum, length sum, count
    first_bad = torch.tensor(-1, device=device)  # first iteration with a non-finite obs, reward or loss
    random_steps = 0 if ckpt is not None else args.learning_starts

    def wall_seconds() -> float:
        return wall_offset + time.time() - START_TIME

    def checkpoint_state() -> Dict:
        return {"actor": actor.state_dict(), "critic": critic.state_dict(),
                "critic_target": critic_target.state_dict(), "log_alpha": log_alpha.detach(),
                "actor_opt": actor_opt.state_dict(), "critic_opt": critic_opt.state_dict(),
                "alpha_opt": alpha_opt.state_dict(), "args": asdict(args), "env_name": env.name,
                "backend": env.backend, "obs_dim": env.obs_dim, "act_dim": env.act_dim, "global_step": global_step,
                "evals": evals, "best_eval_return": best_return, "wall_seconds": wall_seconds(),
                "rng_torch": torch.get_rng_state(),
                "rng_cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}

    def run_evaluation(sums: List[float]) -> None:
        nonlocal best_return, seconds_to_target, eval_sums
        if eval_env is not None:
            mean_return, n = evaluate(actor, eval_env, args.eval_times, lambda: stop["requested"])
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
    while global_step < args.total_timesteps:
        iteration += 1

        # --- collection: one step of all envs into the replay buffer, nothing leaves the device
        with torch.no_grad():
            if iteration <= random_steps:
                actions = torch.rand(env.num_envs, env.act_dim, device=device) * 2 - 1
            else:
                with autocast:
                    actions, _ = actor(actor.obs_rms.normalize(obs))
            next_obs, reward, terminated, truncated, info = env.step(actions)
            done = terminated | truncated
            buffer.add(obs, actions, reward, info["final_obs"], terminated, done)
            actor.obs_rms.update(obs)
            episode_sums += torch.stack([(info["episode_return"] * done).sum(),
                                         (info["episode_length"] * done).sum(), done.sum()])
            ok = torch.isfinite(next_obs).all() & torch.isfinite(reward).all()
            obs = next_obs
        global_step += env.num_envs

        # --- updates
        if iteration > random_steps and buffer.size >= args.n_step:
            for _ in range(args.updates_per_step):
                stats = update()
                loss_sums += stats
                ok = ok & torch.isfinite(stats).all()
            updates_done += args.updates_per_step
        first_bad = torch.where((first_bad < 0) & ~ok, iteration, first_bad)

        # --- logging, NaN guard, evaluation and checkpoints: every log_every iterations, one host sync
        finished = global_step >= args.total_timesteps or stop["requested"]
        if iteration % args.log_every and not finished:
            continue
        values = torch.cat([loss_sums / max(updates_done, 1), episode_sums, first_bad.reshape(1).float()]).tolist()
        losses, sums, bad = values[:6], values[6:9], int(values[9])
        if bad >= 0:
            progress.close()
            fail("non-finite observations, rewards or losses at iteration {}; stopped, the last good checkpoint "
                 "in {} is kept".format(bad, run_dir))
        seconds = time.time() - last_log
        train_seconds, last_log = train_seconds + seconds, time.time()
        steps_logged = (iteration - 1) % args.log_every + 1
        sps = steps_logged * env.num_envs / seconds
        window_sps.append(sps)
        writer.add_scalar("charts/SPS", sps, global_step)
        if updates_done:
            for name, value in zip(("critic_loss", "actor_loss", "alpha_loss", "alpha", "q_value", "entropy"),
                                   losses):
                writer.add_scalar("losses/" + name, value, global_step)
        loss_sums.zero_()
        updates_done = 0
        if sums[2] > last_sums[2]:
            count = sums[2] - last_sums[2]
            latest_return = (sums[0] - last_sums[0]) / count
            writer.add_scalar("charts/episodic_return", latest_return, global_step)
            writer.add_scalar("charts/episodic_length", (sums[1] - last_sums[1]) / count, global_step)
        last_sums = sums
        progress.set_postfix(SPS="{:.0f}".format(sps), ret="{:.1f}".format(latest_return), refresh=False)
        progress.update(steps_logged * env.num_envs)
        if stop["requested"]:
            break
        if time.time() - last_eval >= args.eval_gap:
            run_evaluation(sums)
            last_eval = last_log = time.time()
            if seconds_to_target is not None:
                status = "target_reached"
                break
        if time.time() - last_save >= args.save_gap:
            save_checkpoint(os.path.join(run_dir, "checkpoint.pt"), checkpoint_state())
            last_save = last_log = time.time()
    progress.close()
    if stop["requested"]:
        status = "interrupted"
        print("interrupted: saving a checkpoint and the summary")
    elif status != "target_reached":
        run_evaluation(last_sums)  # the final evaluation
    save_checkpoint(os.path.join(run_dir, "checkpoint.pt"), checkpoint_state())
    summary = {
        "env": env.name, "backend": env.backend, "env_num": args.env_num, "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None, "seed": args.seed,
        "status": status, "steps": global_step, "wall_seconds": round(wall_seconds(), 2),
        "train_seconds": round(train_seconds, 2),
        "sps": round((global_step - start_step) / train_seconds, 1) if train_seconds else None,
        # steady state: the median logging window once the first 5 (compilation, random warm-up steps) are past
        "steady_sps": round(sorted(window_sps[5:])[len(window_sps[5:]) // 2], 1) if len(window_sps) > 5 else None,
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
