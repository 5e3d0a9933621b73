"""PPO for massively parallel GPU simulators, in one file.

    python ppo_isaac.py --env-num 4096                 # Ant: Isaac Gym if installed, else Brax MJX
    torchrun --nproc-per-node 2 ppo_isaac.py --env-num 4096   # the same on 2 GPUs, 4096 envs each
    python ppo_isaac.py --env-name Pendulum --env-num 64 --device cpu   # a quick CPU demo (about 10 s)

Top to bottom: arguments (Args, with per-task defaults), networks, advantages (compute_gae), the loss (ppo_loss),
then main(), the algorithm: rollout, advantages, update, with one host sync per iteration. A copier who changes the
advantage estimator or the loss reads only that far. Below the line "run infrastructure" comes what is not the
algorithm (envs, evaluation, checkpoints, Ctrl-C, logs, summary), the same text as in sac_isaac.py.
Outputs: runs/<run-name>/ (checkpoints, TensorBoard logs, summary.json). All options: python ppo_isaac.py --help
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
import tyro  # noqa: E402
from torch.distributions import Normal  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402
from tqdm import tqdm  # noqa: E402
from typing_extensions import Annotated  # noqa: E402  (typing.Annotated is Python 3.9+)

# ---------------------------------------------------------------------------------------------- arguments
DEMO = "python ppo_isaac.py --env-name Pendulum --env-num 64 --device cpu"
CHECKPOINT_PARTS = ("agent", "optimizer")
# Options that set only where training starts: a resumed run goes on from its checkpoint's (the optimiser's state holds
# the learning rate)
KEPT_ON_RESUME = ("learning_rate", "init_noise_std")
# Per-task defaults of the options left None in Args (other tasks: "other"); Ant, Humanoid: rl_games' Isaac Gym choices
TASK_DEFAULTS = {
    "ant": dict(
        total_timesteps=50_000_000,
        net_dim=256,
        horizon=16,
        minibatches=2,
        repeat_times=4,
        learning_rate=3e-4,
        kl_target=0.008,
        gamma=0.99,
        init_noise_std=0.6,  # not rl_games' 1: learns sooner (ant-sweep-2 of 2026-12-03: 2765, not 2384, at 8.3M steps)
    ),
    "humanoid": dict(
        total_timesteps=60_000_000,
        net_dim=400,
        horizon=32,
        minibatches=4,
        repeat_times=5,
        learning_rate=5e-4,
        kl_target=0.008,
        gamma=0.99,
        init_noise_std=1.0,
    ),
    "pendulum": dict(
        total_timesteps=300_000,
        net_dim=64,
        horizon=64,
        minibatches=4,
        repeat_times=8,
        learning_rate=1e-3,
        kl_target=0.0,
        gamma=0.95,
        init_noise_std=1.0,
    ),  # the KL schedule let some seeds diverge
    "cartpole": dict(
        total_timesteps=2_000_000,
        net_dim=64,
        horizon=16,
        minibatches=4,
        repeat_times=4,
        learning_rate=1e-3,
        kl_target=0.008,
        gamma=0.99,
        init_noise_std=1.0,
    ),
    "other": dict(
        total_timesteps=30_000_000,
        net_dim=256,
        horizon=16,
        minibatches=4,
        repeat_times=4,
        learning_rate=3e-4,
        kl_target=0.008,
        gamma=0.99,
        init_noise_std=1.0,
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
    env_name: str = "Ant"
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
    """width of the first hidden layer; actor and critic are MLPs net_dim, net_dim/2, net_dim/4 wide"""
    horizon: Optional[int] = None
    """rollout steps per env per iteration"""
    minibatches: Optional[int] = None
    """minibatches per epoch: each is env_num * horizon / minibatches transitions"""
    repeat_times: Optional[int] = None
    """epochs over each rollout"""
    learning_rate: Optional[float] = None
    """initial Adam learning rate"""
    kl_target: Optional[float] = None
    """adaptive learning rate (rl_games): /1.5 after an epoch whose KL is over twice this, x1.5 under half; 0: fixed"""
    gamma: Optional[float] = None
    """discount factor"""
    init_noise_std: Optional[float] = None
    """standard deviation of the policy's Gaussian action noise at the start (learnt from there, one per action)"""
    gae_lambda: float = 0.95
    """GAE lambda"""
    clip_coef: float = 0.2
    """PPO clip range, for the policy ratio and for the (normalised) value"""
    ent_coef: float = 0.0
    """entropy bonus coefficient"""
    vf_coef: float = 2.0
    """value loss coefficient, on the squared error without CleanRL's and rl_games' 1/2: twice the weight that
    coefficient has there (a choice; the recipe's results were measured with it)"""
    bounds_coef: float = 1e-4
    """penalty on action means outside [-1.1, 1.1], which the env would clip anyway"""
    max_grad_norm: float = 1.0
    """gradient clipping by global norm"""
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
    """output folder under runs/; None: <env>__ppo_isaac__<seed>__<unix time>"""
    resume: Optional[str] = None
    """checkpoint to continue training from, in its run folder; options not given here are the checkpoint's"""
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
    wandb_project_name: str = "ppo_isaac"
    """Weights & Biases project, with --track"""
    wandb_entity: Optional[str] = None
    """Weights & Biases team or user, with --track; None: your own"""
    cudagraphs: bool = True
    """GPU fast path, on by default (a CPU run is eager): replay the rollout's policy step and each minibatch update as
    CUDA graphs, the same maths; --no-cudagraphs runs the eager reference"""
    compile: bool = False
    """also torch.compile those functions (any device; compiles for a minute or so at the start)"""


def check_args(args: Args) -> None:  # PPO's own checks, once the task's defaults are in
    for name in ("env_num", "total_timesteps", "net_dim", "horizon", "minibatches", "repeat_times", "init_noise_std"):
        if getattr(args, name) <= 0:
            fail("--{} must be positive, got {}".format(name.replace("_", "-"), getattr(args, name)))
    if args.env_num * args.horizon % args.minibatches:
        fail("--minibatches {} must divide env_num * horizon, {}".format(args.minibatches, args.env_num * args.horizon))


# ---------------------------------------------------------------------------------------------- networks
def mlp(in_dim: int, net_dim: int, out_dim: int, out_std: float) -> nn.Sequential:
    dims = [in_dim, net_dim, net_dim // 2, net_dim // 4, out_dim]
    layers = []  # type: List[nn.Module]
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):  # orthogonal weights: gain sqrt 2, the output's out_std
        layers += [nn.Linear(a, b), nn.ELU()]
        nn.init.orthogonal_(layers[-2].weight, out_std if i == 3 else 2**0.5)
        nn.init.zeros_(layers[-2].bias)
    return nn.Sequential(*layers[:-1])


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


class Agent(nn.Module):
    """Actor and critic MLPs (ELU, orthogonal init) of normalised observations, a state-independent log std."""

    def __init__(self, obs_dim: int, act_dim: int, net_dim: int, init_noise_std: float = 1.0):
        super().__init__()
        self.obs_rms = RunningMeanStd((obs_dim,))
        self.value_rms = RunningMeanStd(())  # of the returns: the critic learns normalised values
        self.critic = mlp(obs_dim, net_dim, 1, out_std=1.0)
        self.actor_mean = mlp(obs_dim, net_dim, act_dim, out_std=0.01)
        self.actor_logstd = nn.Parameter(torch.full((act_dim,), math.log(init_noise_std)))

    def normalize_obs(self, obs: torch.Tensor) -> torch.Tensor:
        return self.obs_rms.normalize(obs, clip=5.0)

    def value(self, norm_obs: torch.Tensor) -> torch.Tensor:
        return self.critic(norm_obs).squeeze(-1)

    def policy(self, norm_obs: torch.Tensor) -> Tuple[Normal, torch.Tensor]:
        mean = self.actor_mean(norm_obs)
        # validate_args=False: argument validation syncs the host with the GPU at every call
        return Normal(mean, self.actor_logstd.exp().expand_as(mean), validate_args=False), mean


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


# ---------------------------------------------------------------------------------------------- advantages
def compute_gae(rewards, values, next_values, terminated, dones, valid, gamma: float, lam: float):
    """Generalised advantage estimation over a [T, N] rollout; returns (advantages, returns). next_values[t] is V of
    the state each env reached at step t, before any reset (the env's final_obs), so a truncated episode bootstraps
    from its true last state; a terminated one does not bootstrap at all; and no advantage flows back across the end
    of an episode (dones = terminated | truncated), nor out of a transition not to be learned from (valid False:
    a Brax simulation that blew up, whose reward and final_obs are zeros): the one before it ends there, bootstrapping
    from the state it reached, as if truncated."""
    advantages, last = torch.zeros_like(rewards), torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        delta = rewards[t] + gamma * next_values[t] * (~terminated[t]) - values[t]
        last = (delta + gamma * lam * (~dones[t]) * last) * valid[t]
        advantages[t] = last
    return advantages, advantages + values


def weighted_mean(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:  # weight 0: not learned from (no host sync)
    return (x * weight).sum() / weight.sum().clamp_min(1.0)


def variance(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:  # of the valid entries
    return weighted_mean((x - weighted_mean(x, valid.float())) ** 2, valid.float())


# ---------------------------------------------------------------------------------------------- loss
def ppo_loss(agent: Agent, args: Args, obs, actions, old_logp, adv, old_values, returns, weight):
    """The clipped-PPO loss of a minibatch (normalised observations and values) and its LOSS_NAMES statistics.
    Each transition counts with its weight: 0 for those not to be learned from (info["valid"]), 1 for the rest."""
    mean = lambda x: weighted_mean(x, weight)  # noqa: E731
    pi, action_mean = agent.policy(obs)
    log_ratio = pi.log_prob(actions).sum(-1) - old_logp
    ratio = log_ratio.exp()
    adv = (adv - mean(adv)) / (mean((adv - mean(adv)) ** 2).sqrt() + 1e-8)
    pg_loss = mean(torch.max(-adv * ratio, -adv * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef)))
    value = agent.value(obs)
    value_clipped = old_values + (value - old_values).clamp(-args.clip_coef, args.clip_coef)
    v_loss = mean(torch.max((value - returns) ** 2, (value_clipped - returns) ** 2))
    entropy = mean(pi.entropy().sum(-1))
    bounds = mean(((action_mean - 1.1).clamp_min(0) ** 2 + (-1.1 - action_mean).clamp_min(0) ** 2).sum(-1))
    loss = pg_loss + args.vf_coef * v_loss - args.ent_coef * entropy + args.bounds_coef * bounds
    approx_kl = mean((ratio - 1) - log_ratio)
    clip_frac = mean(((ratio - 1).abs() > args.clip_coef).float())
    return loss, torch.stack([pg_loss, v_loss, entropy, approx_kl, clip_frac, loss]).detach()


# ---------------------------------------------------------------------------------------------- main
LOSS_NAMES = ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac", "loss")


def main(args: Args, ckpt: Optional[Dict] = None) -> None:
    # --- environment: the training envs (with riders for evaluations beside training), or separate evaluation envs
    env, eval_env = make_envs(args, ckpt)
    device = env.device

    # --- agent and optimiser (restored from a checkpoint by Run, if one was given)
    agent = Agent(env.obs_dim, env.act_dim, args.net_dim, args.init_noise_std).to(device)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5, fused=True)
    parts = {"agent": agent, "optimizer": optimizer}  # what a checkpoint holds
    # the deterministic policy of parts p: the live ones, or the copies that an evaluation beside training runs
    policy = lambda p, obs: p["agent"].actor_mean(p["agent"].normalize_obs(obs))  # noqa: E731
    run = Run(args, env, eval_env, ckpt, parts, policy, policy_parts=["agent"])
    if args.eval_only:
        return run.print_evaluation()
    # the learning rate as a tensor on the device: the KL schedule adapts it without a host sync (CUDA graphs replay
    # the optimiser's step with it: capturable)
    lr = torch.tensor(float(optimizer.param_groups[0]["lr"]), device=device)
    optimizer.param_groups[0].update(lr=lr, capturable=args.cudagraphs)

    # --- storage: one preallocated tensor per quantity, [T, N, ...], on the device
    T, N = args.horizon, args.env_num
    obs_buf = torch.zeros(T, N, env.obs_dim, device=device)  # raw observations (normalised when learned from)
    final_obs_buf = torch.zeros(T, N, env.obs_dim, device=device)  # the state reached, before any reset
    act_buf = torch.zeros(T, N, env.act_dim, device=device)
    logp_buf = torch.zeros(T, N, device=device)
    value_buf = torch.zeros(T, N, device=device)  # normalised values
    rew_buf = torch.zeros(T, N, device=device)
    term_buf = torch.zeros(T, N, dtype=torch.bool, device=device)
    done_buf = torch.zeros(T, N, dtype=torch.bool, device=device)  # terminated or truncated
    valid_buf = torch.zeros(T, N, dtype=torch.bool, device=device)  # False: not learned from (see isaac_env)

    # --- the hot functions: the policy at each rollout step; a minibatch's gradients; the optimiser's step
    @torch.no_grad()
    def act(obs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        norm_obs = agent.normalize_obs(obs)
        pi, _ = agent.policy(norm_obs)
        # rsample() draws the same mean + std * noise as sample(), which first checks std >= 0 on the host: a
        # GPU sync at every step that stalls the pipeline (and cannot be captured in a CUDA graph)
        action = pi.rsample()
        return action, pi.log_prob(action).sum(-1), agent.value(norm_obs)

    def gradients(*minibatch: torch.Tensor) -> torch.Tensor:  # into p.grad; returns the LOSS_NAMES values, stacked
        loss, stats = ppo_loss(agent, args, *minibatch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        return stats

    def step() -> None:
        nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
        optimizer.step()

    if args.compile:  # the GPU fast paths wrap those functions and leave the maths alone: few launches, not hundreds
        act, gradients, step = torch.compile(act), torch.compile(gradients), torch.compile(step)
    if args.cudagraphs:
        act, gradients, step = CudaGraph(act), CudaGraph(gradients), CudaGraph(step)

    # --- the loop: Run keeps the step count, the logs, evaluation, checkpoints and Ctrl-C out of the way
    obs = env.reset()
    run.start(steps_per_iteration=T * N)
    while run.training():
        # --- rollout: T steps of all envs, nothing leaves the device. The normalisers stay fixed during a
        # rollout, so normalising the stored raw observations later gives exactly what the policy saw.
        rollout_start = run.mark()
        with torch.no_grad():
            for t in range(T):
                action, logp, value = act(obs)
                obs_buf[t] = obs
                act_buf[t] = action
                logp_buf[t] = logp
                value_buf[t] = value
                obs, reward, terminated, truncated, info = env.step(action)
                rew_buf[t] = reward
                term_buf[t] = terminated
                done_buf[t] = terminated | truncated
                final_obs_buf[t] = info["final_obs"]
                valid_buf[t] = info["valid"]
                if run.stopping():  # Ctrl-C: now, not at the rollout's end (on a CPU a rollout can take a minute)
                    break
            rollout_end = run.mark()
            if run.stopping():  # (so this rollout is not learned from: the run ends with the last update)
                break

            # --- advantages, in unnormalised value units
            next_values = agent.value_rms.denormalize(agent.value(agent.normalize_obs(final_obs_buf)))
            values = agent.value_rms.denormalize(value_buf)
            advantages, returns = compute_gae(
                rew_buf, values, next_values, term_buf, done_buf, valid_buf, args.gamma, args.gae_lambda
            )
            b_obs = agent.normalize_obs(obs_buf).reshape(T * N, -1)  # the batch, flat: [T * N, ...]
            agent.obs_rms.update(obs_buf, valid_buf)  # for the next rollout (not from steps where a simulation blew up)
            agent.value_rms.update(returns, valid_buf)  # (the returns of transitions not learned from mean nothing)
            b_act = act_buf.reshape(T * N, -1)
            b_logp = logp_buf.reshape(-1)
            b_adv = advantages.reshape(-1)
            b_weight = valid_buf.reshape(-1).float()
            b_returns = agent.value_rms.normalize(returns).reshape(-1)
            b_values = agent.value_rms.normalize(values).reshape(-1)
            explained_var = 1 - variance(returns - values, valid_buf) / variance(returns, valid_buf).clamp_min(1e-8)

        # --- update: repeat_times epochs of shuffled minibatches
        loss_sums = torch.zeros(len(LOSS_NAMES), device=device)
        for epoch in range(args.repeat_times):
            epoch_kl = torch.zeros((), device=device)
            for idx in torch.randperm(T * N, device=device).split(T * N // args.minibatches):
                losses = gradients(*(x[idx] for x in (b_obs, b_act, b_logp, b_adv, b_values, b_returns, b_weight)))
                average_over_ranks([p.grad for p in agent.parameters()] + [losses])  # torchrun: the ranks' mean
                step()
                epoch_kl += losses[LOSS_NAMES.index("approx_kl")]
                loss_sums += losses
            measured = args.minibatches - (epoch == 0)  # (epoch 0's first KL is before any step: 0, left out)
            if args.kl_target > 0 and measured:  # rl_games' adaptive schedule, on the device: no sync
                with torch.no_grad():
                    kl = epoch_kl / measured
                    lr.mul_(
                        torch.where(kl > 2 * args.kl_target, 1 / 1.5, torch.where(kl < args.kl_target / 2, 1.5, 1.0))
                    ).clamp_(1e-6, 1e-2)

        # --- logging: the iteration's one host sync (then evaluation and a checkpoint, when due)
        logs = dict(zip(["losses/" + name for name in LOSS_NAMES], loss_sums / (args.repeat_times * args.minibatches)))
        logs.update({"losses/explained_variance": explained_var, "charts/learning_rate": lr})
        run.end_iteration(
            T * N,
            [(rollout_start, rollout_end)],
            logs,
            checks={"observations": torch.isfinite(obs_buf).all(), "rewards": torch.isfinite(rew_buf).all()},
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
