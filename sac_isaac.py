"""SAC for massively parallel GPU simulators, in one file.

    python sac_isaac.py --env-name Humanoid --env-num 4096           # Isaac Gym if installed, else Brax MJX
    torchrun --nproc-per-node 2 sac_isaac.py --env-name Humanoid --env-num 4096   # on 2 GPUs, 4096 envs each
    python sac_isaac.py --env-name Pendulum --env-num 64 --device cpu  # a quick CPU demo (about 10 s)

The recipe for thousands of envs (FastSAC and FastTD3, 2025): num_envs transitions per env step, then a few large-batch
updates; distributional (C51) clipped double Q; LayerNorm and SiLU; AdamW; n-step returns through truncation, not
termination; a learned temperature that starts small; observation normalisation.

Top to bottom: arguments (Args, with per-task defaults), networks (Actor, Critic, C51's project), the replay buffer,
then main(), the algorithm: collection, updates, replay, with one host sync per iteration. A copier who changes the
losses or the replay reads only that far. Below the line "run infrastructure" comes what is not the algorithm (envs,
evaluation, checkpoints, Ctrl-C, logs, summary), the same text as in ppo_isaac.py.
Outputs: runs/<run-name>/ (checkpoints, TensorBoard logs, summary.json). All options: python sac_isaac.py --help
"""

import time

START_TIME = time.time()  # wall-clock seconds are counted from here: start-up and compilation included

import isaac_env  # noqa: E402,I001  (before torch: Isaac Gym refuses to load after it)
import copy  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402
from dataclasses import asdict, dataclass, fields  # noqa: E402
from datetime import timedelta  # noqa: E402
from typing import Any, Callable, Dict, List, Literal, Optional, Tuple  # noqa: E402

import torch  # noqa: E402
from torch import distributed as dist, nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import tyro  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402
from tqdm import tqdm  # noqa: E402
from typing_extensions import Annotated  # noqa: E402  (typing.Annotated is Python 3.9+)

# ---------------------------------------------------------------------------------------------- arguments
DEMO = "python sac_isaac.py --env-name Pendulum --env-num 64 --device cpu"
CHECKPOINT_PARTS = ("actor", "critic", "critic_target", "log_alpha", "actor_opt", "critic_opt", "alpha_opt")
# Options that set only where training starts: a resumed run goes on from its checkpoint's (the optimiser's state holds
# the learning rate)
KEPT_ON_RESUME = ("learning_rate", "weight_decay", "init_alpha")
# Per-task defaults of the options left None in Args (other tasks: "other"); locomotion: FastTD3's choices
TASK_DEFAULTS = {
    "ant": dict(
        total_timesteps=50_000_000,
        net_dim=512,
        buffer_size=4_194_304,
        batch_size=8192,
        updates_per_step=2,
        policy_frequency=2,
        learning_starts=10,
        learning_rate=3e-4,
        gamma=0.97,
        n_step=3,
        horizon=32,
        v_min=-100.0,
        v_max=500.0,
    ),  # (as "other": named, as --help lists them)
    "humanoid": dict(
        total_timesteps=60_000_000,
        net_dim=512,
        buffer_size=4_194_304,
        batch_size=8192,
        updates_per_step=2,
        policy_frequency=1,
        learning_starts=10,
        learning_rate=3e-4,
        gamma=0.97,
        n_step=3,
        horizon=32,
        v_min=-100.0,
        v_max=500.0,
    ),
    "pendulum": dict(
        total_timesteps=24_000,
        net_dim=128,
        buffer_size=64_000,
        batch_size=512,
        updates_per_step=2,
        policy_frequency=1,
        learning_starts=4,
        learning_rate=1e-3,
        gamma=0.99,
        n_step=1,
        horizon=16,
        v_min=-1700.0,
        v_max=0.0,
    ),
    "cartpole": dict(
        total_timesteps=200_000,
        net_dim=128,
        buffer_size=64_000,
        batch_size=512,
        updates_per_step=1,
        policy_frequency=1,
        learning_starts=4,
        learning_rate=1e-3,
        gamma=0.99,
        n_step=1,
        horizon=16,
        v_min=0.0,
        v_max=100.0,
    ),
    "other": dict(
        total_timesteps=50_000_000,
        net_dim=512,
        buffer_size=4_194_304,
        batch_size=8192,
        updates_per_step=2,
        policy_frequency=2,
        learning_starts=10,
        learning_rate=3e-4,
        gamma=0.97,
        n_step=3,
        horizon=32,
        v_min=-100.0,
        v_max=500.0,
    ),
}


def per_task(cls):
    """--help shows each task's default (TASK_DEFAULTS) for the options whose default depends on the task."""
    for name, value in TASK_DEFAULTS["other"].items():
        hint = "(per task: {})".format(", ".join("{} {}".format(t, d[name]) for t, d in TASK_DEFAULTS.items()))
        cls.__annotations__[name] = Annotated[
            cls.__annotations__[name], tyro.conf.arg(metavar=type(value).__name__.upper(), help_behavior_hint=hint)
        ]
    return cls


@per_task
@dataclass
class Args:
    env_name: str = "Humanoid"
    """task, case-insensitive: Ant, Humanoid, ... (Isaac Gym, Brax), Pendulum, CartPole (torch); or the checkpoint's"""
    backend: Literal["auto", "isaacgym", "brax", "torch"] = "auto"
    """simulator: auto takes the first of isaacgym, torch, brax that is installed and has the task"""
    env_num: int = 4096
    """parallel training envs (per GPU under torchrun)"""
    episode_length: Optional[int] = None
    """time limit in steps, after which an episode is truncated; None: the task's own"""
    device: str = "auto"
    """torch device: auto (cuda if available, else cpu), cuda, cuda:1, cpu"""
    seed: int = 1
    """seed of torch and of the envs"""
    total_timesteps: Optional[int] = None
    """env steps to train for, all envs counted"""
    net_dim: Optional[int] = None
    """width of the first hidden layer; the actor is net_dim, net_dim/2, net_dim/4 wide, the critics twice that"""
    buffer_size: Optional[int] = None
    """replay capacity in transitions, all envs together (one ring of buffer_size / env_num steps per env)"""
    batch_size: Optional[int] = None
    """transitions per gradient update"""
    updates_per_step: Optional[int] = None
    """gradient updates after each env step (which adds env_num transitions)"""
    policy_frequency: Optional[int] = None
    """the actor and temperature take a step every this many critic updates (delayed policy updates, as in TD3)"""
    horizon: Optional[int] = None
    """env steps per iteration; each iteration ends with one host sync for the logs and the NaN guard"""
    learning_starts: Optional[int] = None
    """env steps per env before learning starts: uniformly random actions (after --resume, the policy's: refill)"""
    learning_rate: Optional[float] = None
    """Adam learning rate of actor, critics and temperature"""
    gamma: Optional[float] = None
    """discount factor"""
    n_step: Optional[int] = None
    """n-step returns (1 for plain SAC): rewards summed along each env's ring, stopping where an episode ended"""
    v_min: Optional[float] = None
    """lowest return of the distributional critic's support (C51; targets beyond it are clipped to it)"""
    v_max: Optional[float] = None
    """highest return of that support"""
    num_atoms: int = 101
    """atoms of the distributional critic's support (C51); 1: a plain scalar critic trained on squared TD errors"""
    tau: float = 0.1
    """soft target update rate (target <- target + tau * (online - target)) after each update"""
    weight_decay: float = 0.001
    """AdamW's decoupled weight decay of actor and critics (betas 0.9, 0.95, as in FastTD3 and FastSAC)"""
    init_alpha: float = 0.001
    """initial entropy temperature; small, because thousands of envs already explore"""
    target_entropy_scale: float = 0.0
    """target entropy = -scale * act_dim (0: FastSAC's, for a tanh-Gaussian with a std a little under 0.3)"""
    max_grad_norm: float = 10.0
    """gradient clipping by global norm (0 disables)"""
    bf16: bool = False
    """run the networks under bfloat16 autocast (GPU)"""
    cudagraphs: bool = True
    """GPU fast path, on by default (a CPU run is eager): replay the acting step and each update's pieces as CUDA
    graphs, the same maths; --no-cudagraphs runs the eager reference"""
    compile: bool = False
    """torch.compile the acting step and the update (compiles for a minute first; pays off in long GPU runs)"""
    target_return: Optional[float] = None
    """stop once an evaluation reaches this return"""
    eval_gap: float = 256.0
    """seconds between evaluations (with --async-eval: from one's start to the next's; one more runs at the end)"""
    eval_times: int = 16
    """episodes per evaluation (the tutorial's evaluator: --eval-env-num 1 --eval-times 4)"""
    eval_env_num: int = 16
    """envs of the deterministic evaluations (riders of the training simulation, or separate envs); 0: the training
    envs' last episodes (forced on Isaac Gym)"""
    async_eval: bool = True
    """evaluate a copy of the policy beside training, on riders: --eval-env-num more envs of the training simulation,
    stepped with it (not with --video); --no-async-eval: on separate envs, while training waits"""
    save_gap: float = 300.0
    """seconds between checkpoints (one is also written at the end, on Ctrl-C, and best.pt at each best eval)"""
    run_name: Optional[str] = None
    """output folder under runs/; None: <env>__sac_isaac__<seed>__<unix time>"""
    resume: Optional[str] = None
    """checkpoint to continue training from, in its run folder (options not given: the checkpoint's; replay refills)"""
    checkpoint: Optional[str] = None
    """checkpoint to evaluate, with --eval-only (its task and network come with it)"""
    eval_only: bool = False
    """evaluate --checkpoint for --eval-times episodes, print the result and exit"""
    export: Optional[str] = None
    """with --checkpoint --eval-only: also write its deterministic policy to this ONNX file (needs onnx, onnxscript)"""
    video: bool = False
    """render an evaluation episode to <run folder>/videos/*.mp4: with --eval-only once, else at each evaluation
    (Brax tasks; needs imageio, imageio-ffmpeg and OpenGL, e.g. EGL)"""
    track: bool = False
    """mirror the TensorBoard scalars and these settings to Weights & Biases (needs wandb; WANDB_MODE=offline works)"""
    wandb_project_name: str = "sac_isaac"
    """Weights & Biases project, with --track"""
    wandb_entity: Optional[str] = None
    """Weights & Biases team or user, with --track; None: your own"""


def check_args(args: Args) -> None:  # SAC's own checks, once the task's defaults are in
    for name in (
        "env_num",
        "total_timesteps",
        "net_dim",
        "buffer_size",
        "batch_size",
        "updates_per_step",
        "policy_frequency",
        "horizon",
        "n_step",
    ):
        if getattr(args, name) <= 0:
            fail("--{} must be positive, got {}".format(name.replace("_", "-"), getattr(args, name)))
    if args.num_atoms < 1 or (args.num_atoms > 1 and not args.v_min < args.v_max):
        fail(
            "--num-atoms must be positive, and --v-min below --v-max, got {}, {}, {}".format(
                args.num_atoms, args.v_min, args.v_max
            )
        )
    capacity = args.buffer_size // args.env_num
    if args.learning_starts < 0 or capacity < max(args.n_step, args.learning_starts) + 1:
        fail(
            "--buffer-size {} holds {} steps per env for {} envs: it needs more than --n-step and --learning-starts "
            "(0 or more)".format(args.buffer_size, capacity, args.env_num)
        )


# ---------------------------------------------------------------------------------------------- networks
def mlp(in_dim: int, widths: List[int], out_dim: int) -> nn.Sequential:  # LayerNorm and SiLU, as in FastSAC
    layers = []  # type: List[nn.Module]
    for width in widths:
        layers += [nn.Linear(in_dim, width), nn.LayerNorm(width), nn.SiLU()]
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
    def update(self, x: torch.Tensor, weight: Optional[torch.Tensor] = None) -> None:
        """Merges the rows of x that have weight 1 (default: all; 0: not learned from, info["valid"]). Under torchrun,
        with every rank's batch: the ranks stay identical."""
        x = x.reshape(-1, *self.mean.shape).double()
        w = (torch.ones(len(x), device=x.device) if weight is None else weight.reshape(-1)).double()
        wx = x * w.view(-1, *[1] * self.mean.dim())
        n, x_sum, x2_sum = sum_over_ranks(
            torch.stack([torch.full_like(self.mean, 1) * w.sum(), wx.sum(0), (wx * x).sum(0)])
        )
        n = n.flatten()[0]
        batch_mean = x_sum / n.clamp_min(1.0)  # (no rows: nothing changes below)
        batch_var = (x2_sum / n.clamp_min(1.0) - batch_mean**2).clamp_min(0.0)
        delta, total = batch_mean - self.mean, self.count + n
        self.var.copy_((self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total)
        self.mean += delta * n / total
        self.count += n

    def normalize(self, x: torch.Tensor, clip: Optional[float] = None) -> torch.Tensor:
        y = (x - self.mean.float()) * torch.rsqrt(self.var.float() + 1e-8)
        return y.clamp(-clip, clip) if clip else y

    def denormalize(self, y: torch.Tensor) -> torch.Tensor:
        return y * torch.sqrt(self.var.float() + 1e-8) + self.mean.float()


class Actor(nn.Module):
    """Tanh-squashed Gaussian policy. Actions land in (-1, 1), the range every isaac_env backend takes."""

    def __init__(self, obs_dim: int, act_dim: int, net_dim: int):
        super().__init__()
        self.obs_rms = RunningMeanStd((obs_dim,))
        self.net = mlp(obs_dim, [net_dim, net_dim // 2, net_dim // 4], 2 * act_dim)
        nn.init.uniform_(self.net[-1].weight, -1e-3, 1e-3)  # start near mean 0 with a small std (exp(-1)):
        self.net[-1].bias.data.copy_(torch.tensor([0.0] * act_dim + [-1.0] * act_dim))  # biases of mean, log std

    def normalize_obs(self, obs: torch.Tensor) -> torch.Tensor:
        return self.obs_rms.normalize(obs, clip=5.0)

    def forward(self, norm_obs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """A sampled action and its log-probability, tanh correction included."""
        mean, log_std = self.net(norm_obs).float().chunk(2, dim=-1)
        std = log_std.clamp(-5.0, 0.0).exp()  # at most 1: wider, and tanh would pile the actions up at +-1
        u = mean + std * torch.randn_like(mean)
        log_prob = (-0.5 * ((u - mean) / std) ** 2 - std.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
        # log det of tanh's Jacobian, log(1 - tanh(u)^2), in a form that stays finite for large |u|
        log_prob = log_prob - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)
        return torch.tanh(u), log_prob

    def deterministic(self, norm_obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(norm_obs).float().chunk(2, dim=-1)[0])


class Critic(nn.Module):
    """Two Q networks (clipped double Q) with LayerNorm, which keeps large-batch, high-throughput TD stable. Each is
    distributional (C51, as in FastTD3 and FastSAC): logits of the return's probability on each atom of `support`
    (evenly spaced returns), Q their mean. With one atom, a plain Q network: its output is Q."""

    def __init__(self, obs_dim: int, act_dim: int, net_dim: int, support: torch.Tensor):
        super().__init__()
        self.support = support
        widths = [2 * net_dim, net_dim, net_dim // 2]
        self.q1 = mlp(obs_dim + act_dim, widths, len(support))
        self.q2 = mlp(obs_dim + act_dim, widths, len(support))

    def forward(self, norm_obs: torch.Tensor, actions: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([norm_obs, actions], dim=-1)
        return self.q1(x).float(), self.q2(x).float()  # [batch, atoms] each

    def q_value(self, out: torch.Tensor) -> torch.Tensor:
        return out.softmax(-1) @ self.support if len(self.support) > 1 else out.squeeze(-1)


def project(next_probs: torch.Tensor, reward_sum: torch.Tensor, discount: torch.Tensor, support: torch.Tensor):
    """C51's target: the distribution of reward_sum + discount * Z, Z on `support` with next_probs. Each shifted atom
    (clipped to the support's ends) splits its probability between the two atoms around it, keeping the mean."""
    shifted = (reward_sum[:, None] + discount[:, None] * support).clamp(support[0], support[-1])
    position = (shifted - support[0]) / (support[1] - support[0])  # in atoms, 0 .. atoms - 1
    lower = position.floor().clamp(max=len(support) - 2)  # the atom below (the last one: the one before it)
    upper_share, index = position - lower, lower.long().clamp(0, len(support) - 2)  # (NaNs: to the NaN guard)
    target = torch.zeros_like(next_probs).scatter_add_(1, index, next_probs * (1 - upper_share))
    return target.scatter_add_(1, index + 1, next_probs * upper_share)


# ---------------------------------------------------------------------------------------------- replay buffer
def free_memory(device: torch.device) -> Optional[int]:  # bytes free on the GPU, or available on a Linux host
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            return int(next(line for line in f if line.startswith("MemAvailable:")).split()[1]) * 1024
    except (OSError, StopIteration, ValueError):
        return None


class ReplayBuffer:
    """One ring per env, [capacity, num_envs, ...] on the device: transitions stay in time order, n-step returns are
    sums along a ring. next_obs is the env's final_obs, so truncated episodes bootstrap from where they ended;
    `terminated` stops bootstrapping, `done` ends an n-step sum; `valid` False (Isaac Gym's crossings): weight 0."""

    def __init__(self, capacity: int, num_envs: int, obs_dim: int, act_dim: int, device: torch.device):
        self.capacity, self.num_envs = capacity, num_envs
        self.pos, self.size = 0, 0  # the next row to write, the rows written
        self.cursor = torch.zeros(2, dtype=torch.long, device=device)  # [pos, size]
        self.obs = torch.zeros(capacity, num_envs, obs_dim, device=device)
        self.actions = torch.zeros(capacity, num_envs, act_dim, device=device)
        self.rewards = torch.zeros(capacity, num_envs, device=device)
        self.next_obs = torch.zeros(capacity, num_envs, obs_dim, device=device)  # the env's final_obs
        self.terminated = torch.zeros(capacity, num_envs, dtype=torch.bool, device=device)
        self.dones = torch.zeros(capacity, num_envs, dtype=torch.bool, device=device)
        self.valid = torch.zeros(capacity, num_envs, dtype=torch.bool, device=device)

    def add(self, obs, actions, rewards, next_obs, terminated, dones, valid) -> None:
        i = self.pos
        self.obs[i] = obs
        self.actions[i] = actions
        self.rewards[i] = rewards
        self.next_obs[i] = next_obs
        self.terminated[i] = terminated
        self.dones[i] = dones
        self.valid[i] = valid
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)
        pos, size = self.cursor + 1  # the same on the device, where CUDA graphs read them
        self.cursor.copy_(torch.stack([pos % self.capacity, size.clamp_max(self.capacity)]))

    def sample(self, batch_size: int, n_step: int, gamma: float):
        """(obs, actions, n-step reward sum, next_obs, bootstrap discount, weight): the target is
        sum + discount * V(next_obs), where discount = gamma^m, or 0 if the m-th transition terminated."""
        device, (pos, size) = self.rewards.device, self.cursor
        oldest = (pos - size) % self.capacity  # below: starts whose n-1 successors are written, any env
        start = oldest + (torch.rand(batch_size, device=device) * (size - n_step + 1)).long()
        env = torch.randint(0, self.num_envs, (batch_size,), device=device)
        first = start % self.capacity
        reward_sum = torch.zeros(batch_size, device=device)
        discount = torch.ones(batch_size, device=device)
        alive = torch.ones(batch_size, dtype=torch.bool, device=device)  # the window goes on
        last = first  # the window's last transition, whose next_obs bootstraps
        for k in range(n_step):
            idx = (start + k) % self.capacity
            if k > 0:  # a transition not to be learned from (a blown-up simulation's: zero reward and next_obs) ends
                alive = alive & self.valid[idx, env]  # the window before it, which bootstraps from the state it reached
            reward_sum += alive * discount * self.rewards[idx, env]
            last = torch.where(alive, idx, last)
            discount = torch.where(alive, discount * gamma, discount)
            alive = alive & ~self.dones[idx, env]
        discount = discount * ~self.terminated[last, env]
        return (
            self.obs[first, env],
            self.actions[first, env],
            reward_sum,
            self.next_obs[last, env],
            discount,
            self.valid[first, env].float(),
        )


class CudaGraph:
    """`fn` as one CUDA graph, recorded after 3 eager warm-up calls on a side stream, replayed with the arguments copied
    in; returns its outputs, overwritten by the next call. No host syncs inside, nor NCCL (may hang: pytorch#115388)"""

    def __init__(self, fn, warmup: int = 3):
        self.fn, self.warmup, self.graph = fn, warmup, None

    def __call__(self, *args: torch.Tensor):
        if self.warmup > 0:
            self.warmup -= 1
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                out = self.fn(*args)
            torch.cuda.current_stream().wait_stream(side)
            return out
        if self.graph is None:
            self.inputs, self.graph = [a.clone() for a in args], torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):  # NCCL's watchdog thread may poll
                self.outputs = self.fn(*self.inputs)
        for static, a in zip(self.inputs, args):
            static.copy_(a)
        self.graph.replay()
        return self.outputs


# ---------------------------------------------------------------------------------------------- main
LOSS_NAMES = ("critic_loss", "q_value", "actor_loss", "alpha_loss", "alpha", "entropy")  # critics', actor's


def main(args: Args, ckpt: Optional[Dict] = None) -> None:
    # --- environment: the training envs (with riders for evaluations beside training), or separate evaluation envs
    env, eval_env = make_envs(args, ckpt)
    device = env.device

    # --- agent: actor (with the observation normaliser), twin critics and their target, entropy temperature
    actor = Actor(env.obs_dim, env.act_dim, args.net_dim).to(device)
    support = torch.linspace(args.v_min, args.v_max, args.num_atoms, device=device)  # the critics' returns
    critic = Critic(env.obs_dim, env.act_dim, args.net_dim, support).to(device)
    critic_target = copy.deepcopy(critic)
    log_alpha = torch.tensor(math.log(args.init_alpha), device=device, requires_grad=True)
    adamw = dict(lr=args.learning_rate, betas=(0.9, 0.95), weight_decay=args.weight_decay, fused=True)
    actor_opt = torch.optim.AdamW(actor.parameters(), **adamw)
    critic_opt = torch.optim.AdamW(critic.parameters(), **adamw)
    alpha_opt = torch.optim.Adam([log_alpha], lr=args.learning_rate, fused=True)
    parts = dict(actor=actor, critic=critic, critic_target=critic_target, log_alpha=log_alpha)  # what a checkpoint
    parts.update(actor_opt=actor_opt, critic_opt=critic_opt, alpha_opt=alpha_opt)  # holds
    # the deterministic policy of parts p: the live ones, or the copies that an evaluation beside training runs
    policy = lambda p, obs: p["actor"].deterministic(p["actor"].normalize_obs(obs))  # noqa: E731
    run = Run(args, env, eval_env, ckpt, parts, policy, policy_parts=["actor"])
    if args.eval_only:
        return run.print_evaluation()
    for optimizer in (actor_opt, critic_opt, alpha_opt):  # CUDA graphs: optimisers that keep their state on the GPU
        optimizer.param_groups[0]["capturable"] = args.cudagraphs
    target_entropy = -args.target_entropy_scale * env.act_dim

    # --- storage: the replay buffer (not saved in checkpoints), checked to fit first
    capacity = args.buffer_size // args.env_num
    need = capacity * env.num_envs * (8 * env.obs_dim + 4 * env.act_dim + 7)  # bytes
    free = free_memory(device)
    if free is not None and need > 0.9 * free:  # (a 2-minute iteration, then an out-of-memory kill, otherwise)
        fail(
            "the replay buffer needs {:.1f} GiB ({} steps of {} envs) and {} has {:.1f} GiB free: lower --buffer-size"
            " or --env-num{}".format(
                need / 2**30,
                capacity,
                env.num_envs,
                device,
                free / 2**30,
                "; a quick demo: " + DEMO if device.type == "cpu" else "",
            )
        )
    buffer = ReplayBuffer(capacity, env.num_envs, env.obs_dim, env.act_dim, device)
    # (no autocast weight cache: it would free, between replays, the casts a CUDA graph captured)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16, cache_enabled=False)
    online_params, target_params = list(critic.parameters()), list(critic_target.parameters())

    # --- the hot functions: the policy at each env step, and an update's pieces
    @torch.no_grad()
    def act(obs: torch.Tensor) -> torch.Tensor:
        with autocast:
            return actor(actor.normalize_obs(obs))[0]

    # update: the critics on n-step targets and a soft target update; every policy_frequency-th, the actor and alpha
    def critic_gradients() -> Tuple[torch.Tensor, torch.Tensor]:  # into p.grad; the batch, [critic_loss, q_value]
        obs, actions, reward_sum, next_obs, discount, weight = buffer.sample(args.batch_size, args.n_step, args.gamma)
        obs = actor.normalize_obs(obs)
        next_obs = actor.normalize_obs(next_obs)
        alpha = log_alpha.exp().detach()
        with autocast:
            with torch.no_grad():  # target: reward_sum + discount * (Q(next) - alpha * log pi), the lower of two Qs
                next_actions, next_log_prob = actor(next_obs)
                next1, next2 = critic_target(next_obs, next_actions)
                lower = (critic.q_value(next1) < critic.q_value(next2))[:, None]
                soft_reward_sum = reward_sum - discount * alpha * next_log_prob  # the entropy bonus, bootstrapped
                if args.num_atoms > 1:  # the distribution of the critic with the lower Q, shifted and projected
                    target = project(torch.where(lower, next1, next2).softmax(-1), soft_reward_sum, discount, support)
                else:
                    target = soft_reward_sum + discount * torch.where(lower, next1, next2).squeeze(-1)
            q1, q2 = critic(obs, actions)
            if args.num_atoms > 1:  # cross-entropy to the target distribution
                losses = -(target * (q1.log_softmax(-1) + q2.log_softmax(-1))).sum(-1)
            else:
                losses = (q1.squeeze(-1) - target) ** 2 + (q2.squeeze(-1) - target) ** 2
            # weight 0: transitions not to be learned from (info["valid"]); their states still train the actor
            critic_loss = (weight * losses).sum() / weight.sum().clamp_min(1.0)
        critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        q_value = 0.5 * (critic.q_value(q1) + critic.q_value(q2)).mean()
        return obs, torch.stack([critic_loss, q_value]).detach()

    def critic_step() -> None:
        if args.max_grad_norm > 0:
            nn.utils.clip_grad_norm_(critic.parameters(), args.max_grad_norm)
        critic_opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(target_params, online_params, args.tau)

    def actor_gradients(obs: torch.Tensor) -> torch.Tensor:  # into p.grad; [actor loss, alpha loss, alpha, entropy]
        alpha = log_alpha.exp().detach()
        critic.requires_grad_(False)  # the actor's loss needs gradients through the critics, not of their weights
        with autocast:
            new_actions, log_prob = actor(obs)
            actor_loss = (alpha * log_prob - torch.min(*map(critic.q_value, critic(obs, new_actions)))).mean()
        alpha_loss = -(log_alpha * (log_prob.detach() + target_entropy)).mean()
        for optimizer in (actor_opt, alpha_opt):
            optimizer.zero_grad(set_to_none=True)
        (actor_loss + alpha_loss).backward()  # alpha is detached in actor_loss: two separate gradients
        critic.requires_grad_(True)
        return torch.stack([actor_loss, alpha_loss, alpha, -log_prob.mean()]).detach()

    def actor_step() -> None:
        if args.max_grad_norm > 0:
            nn.utils.clip_grad_norm_(actor.parameters(), args.max_grad_norm)
        actor_opt.step()
        alpha_opt.step()

    hot = (act, critic_gradients, critic_step, actor_gradients, actor_step)  # the fast paths wrap them, same maths
    hot = tuple(map(torch.compile, hot)) if args.compile else hot
    act, critic_gradients, critic_step, actor_gradients, actor_step = (
        tuple(map(CudaGraph, hot)) if args.cudagraphs else hot
    )

    def update(with_actor: bool) -> torch.Tensor:  # LOSS_NAMES' values (the actor's: 0 without). torchrun: the ranks'
        obs, critic_logs = critic_gradients()  # mean gradients, all-reduced between the graphs
        average_over_ranks([p.grad for p in critic.parameters()])
        critic_step()
        if with_actor:
            actor_logs = actor_gradients(obs)
            average_over_ranks([p.grad for p in actor.parameters()] + [log_alpha.grad])
            actor_step()
        return torch.cat([critic_logs, actor_logs if with_actor else critic_logs.new_zeros(4)])

    # --- the loop: Run keeps the step count, the logs, evaluation, checkpoints and Ctrl-C out of the way
    obs = env.reset()
    run.start(steps_per_iteration=args.horizon * env.num_envs)
    random_steps = 0 if ckpt is not None else args.learning_starts  # a warm-up of random actions (not when resuming)
    env_steps, updates_done = 0, 0
    update_stream = torch.cuda.Stream(device) if device.type == "cuda" else None  # (None: torch.cuda.stream no-op)
    while run.training():
        rollout_marks = []  # (start, end) of each env step
        loss_sums = torch.zeros(len(LOSS_NAMES), device=device)
        updates = [0, 0]  # all, and the actor's
        finite = torch.ones((), dtype=torch.bool, device=device)  # observations and rewards
        for _ in range(args.horizon):
            # --- collection: one step of all envs, launched (Brax: JAX simulates it on its own stream, asynchronously)
            step_start = run.mark()
            with torch.no_grad():
                if env_steps < random_steps:
                    actions = torch.rand(env.num_envs, env.act_dim, device=device) * 2 - 1
                else:
                    actions = act(obs)
                if update_stream is not None:  # the updates may start now, not once the simulator is done
                    update_stream.wait_stream(torch.cuda.current_stream(device))
                next_obs, reward, terminated, truncated, info = env.step(actions)
            rollout_marks.append((step_start, run.mark()))  # (torch's stream has waited for the simulator)
            env_steps += 1

            # --- updates: updates_per_step gradient steps on batches drawn from every env's ring, on a stream of their
            # own, so that the GPU runs them beside the simulator's step (1.23x steps/s on Brax's Humanoid, one H100).
            # They see the replay up to the step before: this step's transition enters it after them.
            with torch.cuda.stream(update_stream):
                if env_steps > random_steps and buffer.size >= max(args.n_step, args.learning_starts):
                    for _ in range(args.updates_per_step):
                        with_actor = updates_done % args.policy_frequency == 0  # 1st, then every policy_frequency-th
                        loss_sums += update(with_actor)
                        updates_done += 1
                        updates = [updates[0] + 1, updates[1] + with_actor]
            if update_stream is not None:  # the replay's writes and the next action wait for the updates
                torch.cuda.current_stream(device).wait_stream(update_stream)

            with torch.no_grad():  # --- into the replay buffer; nothing leaves the device
                buffer.add(obs, actions, reward, info["final_obs"], terminated, terminated | truncated, info["valid"])
                actor.obs_rms.update(obs, info["valid"])  # (not where a simulation blew up from obs)
                finite = finite & torch.isfinite(next_obs).all() & torch.isfinite(reward).all()
                obs = next_obs
            if run.stopping():  # Ctrl-C: the iteration ends at this step (on a CPU one can take minutes)
                break

        # --- logging: the iteration's one host sync (then evaluation and a checkpoint, when due)
        means = torch.cat([loss_sums[:2] / updates[0], loss_sums[2:] / max(updates[1], 1)])  # (no copy to the GPU)
        logs = dict(zip(["losses/" + name for name in LOSS_NAMES], means)) if updates[0] else {}
        run.end_iteration(
            len(rollout_marks) * env.num_envs, rollout_marks, logs, checks={"observations or rewards": finite}
        )
    run.finish()


# ========================================= run infrastructure: the same text in ppo_isaac.py and sac_isaac.py (tests)
SCRIPT = os.path.basename(__file__)
STARTUP = {}  # type: Dict[str, float]  # seconds from process start at which each start-up phase ended (summary.json)


def startup_phase(name: str) -> None:  # now: the end of start-up phase `name`
    STARTUP[name] = round(time.time() - START_TIME, 2)


def fail(message: str) -> None:  # one readable line and a non-zero exit code
    sys.exit("{}: error: {}".format(SCRIPT, message))


def parse_args(argv: Optional[List[str]] = None) -> Tuple[Args, Optional[Dict]]:
    """The command line, over a checkpoint's own settings with --resume/--checkpoint, then the task's defaults.
    Options that cannot act in the mode chosen, and a checkpoint of another task, stop here, before any simulator."""
    argv = sys.argv[1:] if argv is None else argv
    args = tyro.cli(Args, args=argv, description=__doc__.splitlines()[0])
    given = [a[2:].split("=")[0].replace("-", "_") for a in argv if a.startswith("--")]
    if args.eval_only != bool(args.checkpoint) or (args.resume and args.checkpoint):
        fail("--checkpoint PATH --eval-only evaluates a saved policy, --resume PATH continues training: one of them")
    if args.export and not args.eval_only:
        fail("--export PATH writes the policy of --checkpoint PATH --eval-only: it cannot act while training")
    missing = [m for m in ("onnx", "onnxscript") if args.export and importlib.util.find_spec(m) is None]
    if missing:  # (now, not after the evaluation that comes first)
        fail("--export needs {}: pip install onnx onnxscript".format(missing[0]))
    if args.episode_length is not None and args.episode_length <= 0:
        fail("--episode-length must be positive, got {}".format(args.episode_length))
    evaluating = (
        "env_name",
        "backend",
        "device",
        "seed",
        "episode_length",
        "eval_times",
        "eval_env_num",
        "checkpoint",
        "eval_only",
        "export",
        "video",
    )  # the options that act with --eval-only
    idle = [n for n in given if n not in evaluating] if args.eval_only else []
    idle += [n for n in ("run_name",) + KEPT_ON_RESUME if args.resume and n in given]
    if idle:
        fail(
            "{} cannot act with {}".format(
                ", ".join("--" + n.replace("_", "-") for n in idle),
                "--eval-only" if args.eval_only else "--resume (it goes on from the checkpoint's state, in its folder)",
            )
        )
    path, ckpt = args.checkpoint or args.resume, None
    if path and os.path.isdir(path):  # a run folder: its latest checkpoint
        path = os.path.join(path, "checkpoint.pt")
    if path:
        try:  # weights_only: tensors and plain containers only, no arbitrary code from the file
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            fail(
                "checkpoint {} {}".format(
                    path,
                    "not found"
                    if not os.path.isfile(path)
                    else "is corrupt or not a torch file ({})".format(type(e).__name__),
                )
            )
        if not isinstance(ckpt, dict) or not {"args", "obs_dim", "act_dim", *CHECKPOINT_PARTS} <= set(ckpt):
            fail("{} is not a {} checkpoint".format(path, SCRIPT))
        for n in [n for n in ("env_name", "net_dim") if n in given]:  # a checkpoint keeps its task and network
            if isaac_env.task_key(str(getattr(args, n))) != isaac_env.task_key(str(ckpt["args"][n])):
                fail(
                    "checkpoint {} has --{} {}, not {}: leave it out".format(
                        path, n.replace("_", "-"), ckpt["args"][n], getattr(args, n)
                    )
                )
        saved = {f.name: ckpt["args"][f.name] for f in fields(Args) if f.name in ckpt["args"]}
        args = tyro.cli(Args, args=argv, default=Args(**dict(saved, resume=None, checkpoint=None, eval_only=False)))
        args.checkpoint, args.resume = (path, None) if args.checkpoint else (None, path)
        if args.resume:
            print(
                "resuming from step {} of {}{}".format(
                    ckpt["global_step"],
                    path,
                    ""
                    if os.path.basename(path) == "checkpoint.pt"
                    else "; its folder's checkpoint.pt will be replaced by this run's",
                )
            )
    for name, value in TASK_DEFAULTS.get(isaac_env.task_key(args.env_name), TASK_DEFAULTS["other"]).items():
        setattr(args, name, value if getattr(args, name) is None else getattr(args, name))
    if args.eval_times <= 0 or args.eval_env_num < 0:
        fail("--eval-times must be positive and --eval-env-num 0 or more")
    if args.track and not args.eval_only and importlib.util.find_spec("wandb") is None:  # (also a resumed --track)
        fail("--track needs wandb: pip install wandb")
    if args.video and not all(importlib.util.find_spec(m) for m in ("imageio", "imageio_ffmpeg")):
        fail("--video needs imageio and imageio-ffmpeg: pip install imageio imageio-ffmpeg")
    if args.video and args.eval_env_num == 0:
        fail("--video records an episode of the separate evaluation envs: --eval-env-num must be positive")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and (args.eval_only or args.device not in ("auto", "cuda", "cpu")):
        fail("under torchrun each rank trains on its own GPU: --device auto, cuda or cpu, and no --eval-only")
    if args.cudagraphs and "cudagraphs" in given and args.device == "cpu":
        fail("--cudagraphs is a GPU fast path; --device cpu runs the eager code")
    check_args(args)
    if args.resume and (
        ckpt["global_step"] >= args.total_timesteps or seconds_to(args.target_return, ckpt["evals"]) is not None
    ):
        print(
            "{} has finished ({} of {} steps, target return {}): nothing changed; raise --total-timesteps or "
            "--target-return to train on".format(path, ckpt["global_step"], args.total_timesteps, args.target_return)
        )
        sys.exit(0)
    return args, ckpt


def seconds_to(target: Optional[float], evals: List[List[float]]) -> Optional[float]:  # of the first eval reaching it
    return next((e[0] for e in evals if e[2] >= target), None) if target is not None else None


def median(values: List[float]) -> Optional[float]:  # (the upper one of an even count)
    return sorted(values)[len(values) // 2] if values else None


def sum_over_ranks(x: torch.Tensor) -> torch.Tensor:  # in place, over the torchrun ranks; alone: x as it is
    if dist.is_initialized():
        dist.all_reduce(x)
    return x


def average_over_ranks(tensors: List[torch.Tensor]) -> None:  # in place, over the torchrun ranks: one all-reduce
    if dist.is_initialized():
        flat = sum_over_ranks(torch.cat([t.flatten() for t in tensors])) / dist.get_world_size()
        for t, mean in zip(tensors, flat.split([t.numel() for t in tensors])):
            t.copy_(mean.view_as(t))


def make_envs(args: Args, ckpt: Optional[Dict]):
    """Seeds torch, makes the training envs with riders for evaluations beside training (isaac_env.VecEnv.ride), or else
    separate evaluation envs (with --eval-only, those alone), and compiles them on threads beside: the networks are
    built meanwhile, and separate evaluation envs compile off the training path. Turns --cudagraphs off on a CPU.
    Under torchrun, each rank has its own envs on its local rank's GPU, seeded with seed + rank, and only rank 0
    evaluates and prints; the ranks join (NCCL on GPUs, gloo on CPUs) once every check has passed."""
    startup_phase("imports")
    rank = int(os.environ.get("RANK", "0"))
    sys.stdout = open(os.devnull, "w") if rank > 0 else sys.stdout  # one console: rank 0's (stderr: every rank's)
    torch.manual_seed(args.seed + rank)
    torch.set_float32_matmul_precision("high")  # TF32 matmuls on GPUs that have them, as in LeanRL and FastTD3
    eval_num = max(min(args.eval_env_num, args.eval_times), 1)  # never more envs than episodes
    beside = rank == 0 and args.async_eval and not args.video and args.eval_env_num > 0  # (--video: separate envs)
    try:
        if (
            beside
            and isaac_env.resolve(args.env_name, args.backend)[0] == "brax"
            and (args.device == "cpu" or (args.device == "auto" and not torch.cuda.is_available()))
        ):  # MJX on a CPU costs per env: a rider's
            beside = False  # step would cost a step of every training env (a final evaluation of Ant at 4096: 30 min)
        env = (
            None
            if args.eval_only
            else isaac_env.make_env(
                args.env_name,
                args.env_num,
                args.backend,
                args.device,
                args.seed + rank,
                args.episode_length,
                riders=eval_num if beside else 0,
            )
        )
        if env is not None and env.one_per_process and args.eval_env_num > 0:
            print(
                "note: {} allows one simulation per process: evaluating the training envs' episodes".format(env.backend)
            )
            args.eval_env_num = 0
        eval_env = (
            None
            if env is not None and (args.eval_env_num == 0 or rank > 0 or env.riders)
            else isaac_env.make_env(
                args.env_name, eval_num, args.backend, args.device, args.seed + 10_000, args.episode_length
            )
        )
        if args.video and rank == 0:  # one line now, not an error after training, where nothing can render
            (eval_env or env).render(0)
    except isaac_env.EnvError as e:
        fail(str(e))
    env = env or eval_env
    print(
        "env: {} on {} ({} envs{}), obs {}, act {}, episode limit {}, device {}".format(
            env.name,
            env.backend,
            env.num_envs,
            " and {} for evaluations beside training".format(env.riders) if env.riders else "",
            env.obs_dim,
            env.act_dim,
            env.max_episode_length,
            env.device,
        )
    )
    startup_phase("envs_built")
    if env.backend == "brax":  # (JAX would compile at the first reset and step: the first evaluation would wait)
        print("compiling the simulator (MJX: 10-30 s, longer for many envs on a CPU; from JAX's cache: seconds)")
        if eval_env is not None and eval_env is not env:
            eval_env.compile(background=True)
        env.compile(background=True)  # while the networks are built: the first reset waits for it (see Run.start)
    if env.device.type != "cuda":
        args.cudagraphs = False  # (the GPU fast path is on by default; a CPU runs the eager code)
    if ckpt is not None and (ckpt["obs_dim"], ckpt["act_dim"]) != (env.obs_dim, env.act_dim):
        fail(
            "checkpoint {} was made for {} on {}, with obs {} / act {}; here obs {} / act {}".format(
                args.checkpoint or args.resume,
                ckpt["env_name"],
                ckpt["backend"],
                ckpt["obs_dim"],
                ckpt["act_dim"],
                env.obs_dim,
                env.act_dim,
            )
        )
    if env.device.type == "cuda":
        torch.cuda.set_device(env.device)  # streams and CUDA graphs go to the current GPU: make it the env's
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # a rank that waits this long in a collective ends the run
        dist.init_process_group("nccl" if env.device.type == "cuda" else "gloo", timeout=timedelta(minutes=10))
    return env, eval_env


class Evaluation:
    """The returns of `episodes` episodes of a deterministic `policy` on `num_envs` envs that start together: each
    env's first ones (a quota per env, so that short episodes are not over-counted). On the device, no host sync but
    in done() and result(); driven by evaluate() on separate envs, or by the training envs' riders (VecEnv.ride)."""

    def __init__(self, policy: Callable, num_envs: int, episodes: int, device: torch.device):
        self.policy = policy
        self.quota = episodes // num_envs + (torch.arange(num_envs, device=device) < episodes % num_envs)
        self.counts, self.returns = torch.zeros(num_envs, device=device), torch.zeros(num_envs, device=device)
        self.sums = torch.zeros(2, device=device)  # of the counted returns and of their squares

    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> torch.Tensor:
        return self.policy(obs)

    @torch.no_grad()
    def record(self, reward: torch.Tensor, done: torch.Tensor) -> None:
        self.returns += reward
        counted = done & (self.counts < self.quota)
        self.sums += torch.stack([self.returns, self.returns**2]) @ counted.float()
        self.counts += counted
        self.returns.masked_fill_(done, 0.0)

    def done(self) -> bool:
        return bool((self.counts >= self.quota).all())

    def result(self) -> List[float]:  # [mean, sample std, count]
        n, (total, squares) = int(self.counts.sum()), self.sums.tolist()
        return [total / n, math.sqrt(max(squares - total**2 / n, 0.0) / (n - 1)) if n > 1 else 0.0, n] if n else []


def evaluate(policy: Callable, env, episodes: int) -> List[float]:
    """[mean, sample std, count] of the returns of `episodes` episodes of `policy` on `env`, here and now"""
    evaluation, obs = Evaluation(policy, env.num_envs, episodes, env.device), env.reset()
    while not evaluation.done():  # a host sync per step: fine here, not in training
        obs, reward, terminated, truncated, _ = env.step(evaluation.act(obs))
        evaluation.record(reward, terminated | truncated)
    return evaluation.result()


@torch.no_grad()
def record_video(policy: Callable, env, path: str) -> Tuple[float, int]:
    """The next episode of `env`'s env 0 under `policy`, rendered to an mp4 at `path`: (its return, its length)."""
    import imageio  # (--video only, as its writer imageio-ffmpeg)

    frames, obs = [], env.reset()
    while True:
        frames.append(env.render(0))
        obs, _, terminated, truncated, info = env.step(policy(obs))
        if bool(terminated[0] | truncated[0]):
            break
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with warnings.catch_warnings():  # (Python warns of fork() beside JAX's threads; ffmpeg's is a fork + exec)
        warnings.simplefilter("ignore", RuntimeWarning)
        imageio.mimwrite(path, frames, fps=env.fps, macro_block_size=8)  # (H.264; 320 x 240 needs no resizing)
    return float(info["episode_return"][0]), len(frames)


class Run:
    """All around the algorithm: checkpoints of `parts`, steps, outputs, Ctrl-C, logs, evaluating `policy`, summary.
    policy(parts, obs): the deterministic actions of those parts (the live ones, or an evaluation's copies of
    policy_parts, the parts it reads)."""

    def __init__(
        self,
        args: Args,
        env,
        eval_env,
        ckpt: Optional[Dict],
        parts: Dict[str, Any],
        policy: Callable,
        policy_parts: List[str],
    ):
        startup_phase("parts_built")
        self.args, self.env, self.eval_env, self.device = args, env, eval_env, env.device
        self.parts, self.policy_of, self.policy_parts = parts, policy, policy_parts
        self.policy = lambda obs: policy(parts, obs)  # the live parts'
        self.iteration = 0
        self.signals, self.last_signal = 0, 0.0  # Ctrl-C or SIGTERM: how many, and when the last one came
        self.interrupted = False  # by Ctrl-C or SIGTERM
        self.job = self.copies = None  # an evaluation beside training, and the parts' copies it evaluates
        self.beside = env.riders > 0  # evaluations beside training, on the training envs' riders (see make_envs)
        self.rank, self.world_size = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
        done = ckpt if args.resume else {}  # a resumed run carries on with the whole run's figures
        self.global_step = done.get("global_step", 0)
        self.evals = done.get("evals", [])  # [seconds, steps, mean, std, episodes]
        self.best_return = done.get("best_eval_return")
        self.start_time = START_TIME - done.get("wall_seconds", 0.0)
        self.first_eval_seconds = None  # how long this process's first evaluation took
        self.train_seconds = done.get("train_seconds", 0.0)
        self.steady = done.get("steady", [])  # per iteration past the first 5 (see end_iteration)
        try:
            with torch.no_grad():
                for name, part in parts.items() if ckpt else []:
                    part.copy_(ckpt[name]) if isinstance(part, torch.Tensor) else part.load_state_dict(ckpt[name])
        except (RuntimeError, KeyError, ValueError) as e:
            fail(
                "checkpoint {} does not fit this network (--net-dim {}), or an earlier {} made it: {}".format(
                    args.checkpoint or args.resume, args.net_dim, SCRIPT, " ".join(str(e).split())[:200]
                )
            )
        for tensor in self.tensors() if self.world_size > 1 else []:  # torchrun: every rank starts as rank 0 does
            dist.broadcast(tensor, 0)
        if args.resume and self.rank == 0:  # (the other ranks draw from their own seeds)
            torch.set_rng_state(ckpt["rng_torch"])
            if self.device.type == "cuda" and ckpt.get("rng_cuda") is not None:
                torch.cuda.set_rng_state(ckpt["rng_cuda"], self.device)

    def tensors(self) -> List[torch.Tensor]:  # the parts' weights and normalisers (optimiser states aside)
        return [
            t
            for p in self.parts.values()
            for t in (
                [p.detach()]
                if isinstance(p, torch.Tensor)
                else p.state_dict().values()
                if isinstance(p, nn.Module)
                else []
            )
        ]

    def print_evaluation(self) -> None:
        r, s, n = evaluate(self.policy, self.eval_env, self.args.eval_times) or [float("nan"), 0.0, 0]
        print(
            json.dumps(dict(checkpoint=self.args.checkpoint, env=self.env.name, eval_return=r, eval_std=s, episodes=n))
        )
        if self.args.export:
            self.export(self.args.export)
        if self.args.video:
            self.record(
                os.path.dirname(self.args.checkpoint),
                os.path.basename(self.args.checkpoint)[:-3] if self.args.checkpoint.endswith(".pt") else "policy",
            )

    def record(self, run_dir: str, name: str) -> None:  # --video: an episode to <run_dir>/videos/<name>.mp4 (and W&B)
        path = os.path.join(run_dir, "videos", name + ".mp4")
        episode_return, length = record_video(self.policy, self.eval_env, path)
        tqdm.write("video: {}  return {:.2f} over {} steps".format(path, episode_return, length))
        if self.args.track and not self.args.eval_only:  # (a checkpoint of a tracked run keeps track=True)
            import wandb

            self.wandb.log({"video": wandb.Video(path, format="mp4")}, step=self.global_step)

    def export(self, path: str) -> None:
        """The deterministic policy as ONNX: obs [batch, obs_dim] float32 in, actions [batch, act_dim] in [-1, 1] out,
        the observation normaliser and its clipping inside; the task and the sizes in the file's metadata."""
        policy = self.policy

        class Policy(nn.Module):
            def forward(self, obs: torch.Tensor) -> torch.Tensor:
                return policy(obs).clamp(-1.0, 1.0)

        logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # (notes on torchvision's ops, which this has none of)
        try:  # (torch >= 2.5 exports through onnxscript)
            import onnx

            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    Policy(),
                    (torch.zeros(1, self.env.obs_dim, device=self.device),),
                    path,
                    input_names=["obs"],
                    output_names=["actions"],
                    dynamic_axes={"obs": {0: "batch"}, "actions": {0: "batch"}},
                )
        except ImportError as e:
            fail("--export needs {}: pip install onnx onnxscript".format(e.name))
        model = onnx.load(path)
        for key, value in dict(
            task=self.env.name,
            backend=self.env.backend,
            obs_dim=self.env.obs_dim,
            act_dim=self.env.act_dim,
            script=SCRIPT,
            checkpoint=self.args.checkpoint,
        ).items():
            model.metadata_props.add(key=key, value=str(value))
        onnx.save(model, path)
        print("exported {}: obs [batch, {}] -> actions [batch, {}]".format(path, self.env.obs_dim, self.env.act_dim))

    def start(self, steps_per_iteration: int) -> None:  # Ctrl-C; on rank 0: the output folder, TensorBoard, progress
        a, steps_per_iteration = self.args, steps_per_iteration * self.world_size
        # (Brax: compiled on a thread since the envs were built, see make_envs; the other simulators compile nothing)
        STARTUP["simulator_compiled"] = round(STARTUP["envs_built"] + self.env.compile_seconds, 2)
        if self.env.backend == "brax":
            print(
                "compiled in {:.1f} s, {:.1f} s from the start; {}".format(
                    self.env.compile_seconds, STARTUP["simulator_compiled"], isaac_env.jax_cache_line()
                )
            )
        startup_phase("envs_reset")
        signal.signal(signal.SIGINT, self.on_signal)
        signal.signal(signal.SIGTERM, self.on_signal)
        self.episodes_seen = sum_over_ranks(self.env.ended.sum(1)).tolist()
        self.last_eval = self.last_save = self.iteration_start = time.time()
        if self.rank > 0:
            return
        self.run_dir = (
            os.path.dirname(os.path.abspath(a.resume))
            if a.resume
            else os.path.join(
                "runs", a.run_name or "{}__{}__{}__{}".format(self.env.name, SCRIPT[:-3], a.seed, int(START_TIME))
            )
        )
        os.makedirs(self.run_dir, exist_ok=True)
        if a.track:  # Weights & Biases gets what TensorBoard gets (see log(); wandb is imported with --track only)
            import wandb

            self.wandb = wandb.init(
                project=a.wandb_project_name,
                entity=a.wandb_entity,
                config=asdict(a),
                name=os.path.basename(self.run_dir),
                dir=self.run_dir,
            )
        self.writer = SummaryWriter(self.run_dir)
        self.writer.add_text("hyperparameters", "\n".join("|{}|{}|".format(k, v) for k, v in asdict(a).items()))
        print(
            "run: {}, training from {:.1f} s after the start (Ctrl-C: stop, save, evaluate, save)".format(
                self.run_dir, time.time() - START_TIME
            )
        )
        if self.device.type == "cpu" and a.total_timesteps - self.global_step > 5_000_000:  # (at iteration 3: how long)
            print("note: {:,} steps on a CPU take hours; a quick demo: {}".format(a.total_timesteps, DEMO))
        left = -(-(a.total_timesteps - self.global_step) // steps_per_iteration) * steps_per_iteration
        self.progress = tqdm(
            total=self.global_step + left,
            initial=self.global_step,
            unit="step",
            unit_scale=True,
            dynamic_ncols=True,
            mininterval=1.0,
        )
        startup_phase("training_started")

    def training(self) -> bool:
        stop = [self.signals > 0, seconds_to(self.args.target_return, self.evals) is not None]
        if self.world_size > 1:  # all ranks stop at the same iteration: on any rank's Ctrl-C, or rank 0's target
            stop = sum_over_ranks(torch.tensor(stop, dtype=torch.float, device=self.device)).tolist()
        self.interrupted = bool(stop[0])
        return self.global_step < self.args.total_timesteps and not any(stop)

    def stopping(self) -> bool:  # at the end of each env step: Ctrl-C came and this is one process (see on_signal)
        self.interrupted = self.interrupted or (self.signals > 0 and self.world_size == 1)
        return self.interrupted

    def mark(self):  # now, on the device's stream: a CUDA event on a GPU (the host runs ahead), else the clock
        cuda = self.device.type == "cuda"
        return torch.cuda.current_stream().record_event(torch.cuda.Event(enable_timing=True)) if cuda else time.time()

    def end_iteration(
        self,
        steps: int,
        rollout_marks: List[Tuple[Any, Any]],
        logs: Dict[str, torch.Tensor],
        checks: Dict[str, torch.Tensor],
    ) -> None:
        """The iteration's one sync: NaN guard, timing, logs; then evaluation, checkpoint when due. rollout_marks:
        (start, end) of each env-stepping phase, the rest is update. Under torchrun: logs and checks are rank means."""
        end = self.mark()
        names, steps = list(logs) + list(checks), steps * self.world_size
        evaluating = self.job is not None  # (an evaluation beside training ran during this iteration)
        between = (lambda a, b: a.elapsed_time(b) / 1000) if self.device.type == "cuda" else (lambda a, b: b - a)
        values = torch.stack([v.float() for v in (*logs.values(), *checks.values())])
        values = sum_over_ranks(torch.cat([values, self.env.ended.sum(1)])).tolist()  # summed over the ranks
        self.iteration += 1
        self.global_step += steps
        bad = [n for n, v in zip(names, values) if not (v == self.world_size if n in checks else math.isfinite(v))]
        if bad:  # on every rank at once: the checks are all ranks'
            if self.rank > 0:
                sys.exit(1)  # rank 0 says why
            self.progress.close()
            fail(
                "non-finite {} at iteration {} (step {}; {} simulations restarted after blowing up); stopped, the "
                "last good checkpoint in {} is kept".format(
                    ", ".join(bad), self.iteration, self.global_step, int(self.env.nonfinite_resets), self.run_dir
                )
            )
        seconds = time.time() - self.iteration_start
        rollout = sum(between(a, b) for a, b in rollout_marks)
        update = between(rollout_marks[0][0], end) - rollout
        self.train_seconds += seconds
        if self.iteration == 1:
            startup_phase("first_iteration_ended")
        if self.iteration > 5:  # steady state past compilation and capture: [steps/s, rollout steps/s, update s,
            self.steady.append([steps / seconds, steps / rollout, update, float(evaluating)])  # 1: an evaluation ran
        if self.rank > 0:
            return
        scalars = [(n, v / self.world_size) for n, v in zip(logs, values)] + [
            ("charts/SPS", steps / seconds),
            ("charts/rollout_seconds", rollout),
            ("charts/update_seconds", update),
        ]
        episodes, seen = values[-3:], self.episodes_seen
        if episodes[2] > seen[2]:  # episodes ended during this iteration
            scalars += [
                ("charts/episodic_return", (episodes[0] - seen[0]) / (episodes[2] - seen[2])),
                ("charts/episodic_length", (episodes[1] - seen[1]) / (episodes[2] - seen[2])),
            ]
            self.progress.set_postfix(ret="{:.1f}".format(scalars[-2][1]), refresh=False)
        self.log(scalars)
        self.episodes_seen = episodes
        self.progress.update(steps)
        left = (self.args.total_timesteps - self.global_step) * seconds / steps
        if self.iteration == 3 and self.device.type == "cpu" and left > 600:
            tqdm.write("note: on a CPU this run needs about {:.1f} h more; a quick demo: {}".format(left / 3600, DEMO))
        self.collect_evaluation()  # (one that has ended, beside training)
        if self.job is None and time.time() - self.last_eval >= self.args.eval_gap:
            self.start_evaluation()
        if time.time() - self.last_save >= self.args.save_gap:
            self.save()
        self.iteration_start = time.time()

    def log(self, scalars: List[Tuple[str, float]], step: Optional[int] = None) -> None:  # TensorBoard, W&B (--track)
        for name, value in scalars:  # at `step`, by default now's
            self.writer.add_scalar(name, value, self.global_step if step is None else step)
        if self.args.track:  # (W&B's steps may only grow: an evaluation's own step goes along as a value)
            self.wandb.log(dict(scalars, **({} if step is None else {"charts/eval_step": step})), step=self.global_step)

    def evaluate_now(self) -> None:  # the live policy, here and now, recorded
        started = time.time()
        if self.eval_env is not None:
            result = evaluate(self.policy, self.eval_env, self.args.eval_times)
        elif self.beside:  # on the riders, the training envs stepping on with zero actions meanwhile
            evaluation = Evaluation(self.policy, self.env.riders, self.args.eval_times, self.device)
            self.env.ride(evaluation)
            result = self.ride_out(evaluation)
        else:  # each training env's latest finished episode: one per env, so short (failed) ones are not over-counted
            returns = self.env.last_return[self.env.ended[2] > 0]
            result = [returns.mean().item(), returns.std().nan_to_num().item(), len(returns)] if len(returns) else []
        self.record_evaluation(self.global_step, result, started, time.time())

    def start_evaluation(self) -> None:
        """Evaluates the parts as they are now. --async-eval: copies of them, on the training envs' riders, beside
        training (the result counts from when it is known; a due evaluation waits for the one running). Else (Isaac
        Gym, --video, --no-async-eval): here and now, on separate evaluation envs, or the training envs' episodes."""
        self.last_eval = time.time()
        if not self.beside:  # (the next one is due eval_gap after this one's end: training runs between them)
            self.evaluate_now()
            self.last_eval = time.time()
            return
        # a snapshot of all that a checkpoint holds (SAC's Humanoid: 32 MB, copied on the device), so that best.pt is
        # a whole checkpoint of the step evaluated, resumable; the policy's parts are copied once more, to run
        job = self.job = dict(step=self.global_step, state=copy.deepcopy(self.state()), started=self.last_eval)
        self.copies = self.copies or {name: copy.deepcopy(self.parts[name]) for name in self.policy_parts}
        for name, module in self.copies.items():
            module.load_state_dict(job["state"][name])
        job["evaluation"] = Evaluation(
            lambda obs: self.policy_of(self.copies, obs), self.env.riders, self.args.eval_times, self.device
        )
        self.env.ride(job["evaluation"])

    def collect_evaluation(self, wait: bool = False) -> None:  # the result of the one beside training, once it ended
        job = self.job  # (wait: the training envs step on, with zero actions, until it has)
        if job is None or not (wait or job["evaluation"].done()):
            return
        result, self.job = self.ride_out(job["evaluation"]), None
        self.record_evaluation(job["step"], result, job["started"], time.time(), job["state"])

    def ride_out(self, evaluation: Evaluation) -> List[float]:  # the result of the one riding, once it is done
        zeros = torch.zeros(self.env.num_envs, self.env.act_dim, device=self.device)  # (for the training envs)
        with torch.no_grad():
            while not evaluation.done():
                self.env.step(zeros)
        self.env.ride(None)
        return evaluation.result()

    def record_evaluation(
        self, step: int, result: List[float], started: float, ended: float, state: Optional[Dict] = None
    ) -> None:  # state: the parts evaluated (None: the live ones)
        if not result:
            return
        self.evals.append([round(ended - self.start_time, 2), step] + result)  # [s, steps, mean, std, count]
        self.first_eval_seconds = self.first_eval_seconds or round(ended - started, 2)
        self.log([("charts/eval_return", result[0]), ("charts/eval_seconds", ended - started)], step)
        tqdm.write(
            "eval at {:.0f}s, step {}: return {:.2f} ± {:.2f} over {} episodes".format(
                ended - self.start_time, step, *result
            )
        )
        if self.best_return is None or result[0] > self.best_return:
            self.best_return = result[0]
            self.save("best.pt", state and dict(state, evals=list(self.evals), best_eval_return=self.best_return))
        if self.args.video:
            self.record(self.run_dir, "step_{}".format(step))

    def on_signal(self, signum, frame) -> None:
        """Ctrl-C or SIGTERM: stop at the end of this env step (the script asks stopping(); on a CPU an iteration can
        take minutes), or under torchrun at the end of this iteration, all ranks together; save, evaluate once more,
        save, exit 0. Another one, a second later (one Ctrl-C can come twice: to the process and to its group), during
        the final evaluation skips it, and the summary is written without it (a slow simulator's episodes of 1000
        steps take minutes); elsewhere, or a third one, stops at once."""
        if time.time() - self.last_signal < 1.0:
            return
        self.signals, self.last_signal = self.signals + 1, time.time()
        if self.signals > 1:
            raise KeyboardInterrupt
        tqdm.write(
            "stopping {}, then saving, one more evaluation and saving (Ctrl-C again: the summary without it)".format(
                "after this iteration, all ranks together" if self.world_size > 1 else "at this step's end"
            )
        )

    def write(self, name: str, write: Callable) -> None:  # a crash mid-write leaves the previous file intact
        path = os.path.join(self.run_dir, name)
        with open(path + ".tmp", "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(path + ".tmp", path)

    def state(self) -> Dict[str, Any]:  # all that a checkpoint holds (modules' state_dicts share their tensors)
        state = {
            key: part.detach().clone() if isinstance(part, torch.Tensor) else part.state_dict()
            for key, part in self.parts.items()
        }
        state.update(
            args=asdict(self.args),
            env_name=self.env.name,
            backend=self.env.backend,
            obs_dim=self.env.obs_dim,
            act_dim=self.env.act_dim,
            global_step=self.global_step,
            evals=list(self.evals),
            best_eval_return=self.best_return,
            wall_seconds=time.time() - self.start_time,
            train_seconds=self.train_seconds,
            steady=list(self.steady),
            rng_torch=torch.get_rng_state(),
            rng_cuda=torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
        )
        return state

    def save(self, name: str = "checkpoint.pt", state: Optional[Dict] = None) -> None:  # state: by default now's
        state = state or self.state()
        self.write(name, lambda f: torch.save(state, f))
        if name == "checkpoint.pt":  # (best.pt does not postpone the periodic checkpoint)
            self.last_save = time.time()

    def finish(self) -> None:
        """The final evaluation (unless this step has one), checkpoint and summary.json."""
        checksums = [float(sum(t.double().sum() for t in self.tensors()))] * self.world_size  # this rank's weights
        if self.world_size > 1:  # and every other rank's: all equal, as the ranks stay identical
            dist.all_gather_object(checksums, checksums[0])
        if self.rank > 0:
            return
        self.progress.close()
        reached = seconds_to(self.args.target_return, self.evals) is not None  # (before the final evaluation)
        if self.interrupted:
            self.save()  # first, so that nothing is lost if another Ctrl-C stops the evaluations below
        final_eval_skipped = False
        try:  # (a second Ctrl-C raises KeyboardInterrupt here: see on_signal)
            if self.job is not None and self.job["step"] != self.global_step:  # one of earlier weights still riding:
                self.job = None  # not waited for (on a slow simulator it takes as long as the final one would)
                self.env.ride(None)
            self.collect_evaluation(wait=True)
            if not self.evals or self.evals[-1][1] != self.global_step:
                self.evaluate_now()
            self.save()
        except KeyboardInterrupt:  # the summary, at once, without the final evaluation; a third Ctrl-C: no summary
            tqdm.write("the final evaluation skipped by a second Ctrl-C; writing the summary")
            if not self.interrupted:
                self.save()
            self.interrupted, final_eval_skipped = True, not self.evals or self.evals[-1][1] != self.global_step
        status = "interrupted" if self.interrupted else "target_reached" if reached else "completed"
        steady = [median([row[i] for row in self.steady]) for i in range(3)]
        evaluating = [median([row[0] for row in self.steady if row[3:] == [flag]]) for flag in (1.0, 0.0)]
        cuda = self.device.type == "cuda"
        summary = dict(
            env=self.env.name,
            backend=self.env.backend,
            env_num=self.args.env_num,
            device=str(self.device),
            gpu=torch.cuda.get_device_name(self.device) if cuda else None,
            seed=self.args.seed,
            status=status,
            steps=self.global_step,
            wall_seconds=round(time.time() - self.start_time, 2),
            train_seconds=round(self.train_seconds, 2),
            sps=round(self.global_step / self.train_seconds, 1) if self.train_seconds else None,
            # steady: the median iteration past the first 5 of each segment (compilation, graph capture)
            steady_sps=steady[0] and round(steady[0], 1),
            steady_rollout_sps=steady[1] and round(steady[1], 1),
            steady_update_seconds=steady[2] and round(steady[2], 4),
            # training's steps/s in the iterations during which an evaluation ran beside it, and in the others
            steady_sps_evaluating=evaluating[0] and round(evaluating[0], 1),
            steady_sps_not_evaluating=evaluating[1] and round(evaluating[1], 1),
            startup_seconds=STARTUP.get("training_started"),
            first_eval_seconds=self.first_eval_seconds,
            startup=dict(STARTUP),
            jax_cache=isaac_env.jax_cache_line() if self.env.backend == "brax" else None,
            final_eval_return=self.evals[-1][2] if self.evals else None,
            final_eval_skipped=final_eval_skipped,  # (by a second Ctrl-C: the last evaluation is of earlier weights)
            best_eval_return=self.best_return,
            final_eval_std=(self.evals[-1] + [None])[3] if self.evals else None,
            eval_episodes=self.args.eval_times,
            eval_mode="deterministic, beside training, on riders of the training envs"
            if self.beside
            else "deterministic, separate envs"
            if self.eval_env is not None
            else "stochastic, training envs' latest episodes",
            target_return=self.args.target_return,
            seconds_to_target=seconds_to(self.args.target_return, self.evals),
            torch_peak_memory_gib=round(torch.cuda.max_memory_allocated(self.device) / 2**30, 3) if cuda else None,
            nonfinite_resets=int(self.env.nonfinite_resets),  # (this rank's: simulations that blew up, restarted)
            world_size=self.world_size,
            total_env_num=self.args.env_num * self.world_size,
            rank_checksums=checksums,
            evals=self.evals,
            args=asdict(self.args),
            **isaac_env.provenance((__file__,)),  # (this script and isaac_env.py, by git's ids)
        )
        self.write("summary.json", lambda f: f.write(json.dumps(summary, indent=2).encode()))
        self.writer.close()
        if self.args.track:
            self.wandb.finish()
        print("summary: " + os.path.join(self.run_dir, "summary.json"))


if __name__ == "__main__":
    try:
        main(*parse_args())
    except KeyboardInterrupt:  # a second Ctrl-C, or one before training started
        sys.exit("\n{}: stopped at once by Ctrl-C; checkpoints already written are kept".format(SCRIPT))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # all is written: a late Ctrl-C would only break JAX's exit handlers
    if dist.is_initialized():  # torchrun: the ranks leave the group together, once rank 0's summary is written
        dist.barrier()
        rank = dist.get_rank()
        dist.destroy_process_group()
        if rank > 0:  # it has written nothing: it leaves without the interpreter's teardown, in which gloo's threads
            sys.stderr.flush()  # aborted at times (std::terminate, 1 in 6 two-rank SAC runs on 2 CPU cores)
            os._exit(0)
