"""One vectorised-environment contract for massively parallel simulators, and a small adapter per simulator.

    env = make_env("Ant", num_envs=4096, backend="auto", device="cuda", seed=0)
    obs = env.reset()                                          # [N, obs_dim] float32 on env.device
    obs, reward, terminated, truncated, info = env.step(act)   # act: [N, act_dim] in [-1, 1]

`reward` is [N] float32; `terminated` and `truncated` are [N] bool (an episode that hits its time limit is
truncated, not terminated, so a learner bootstraps through it). Episodes auto-reset inside `step`, so `obs`
is already the first observation of the next episode wherever one ended. `info` holds [N] tensors:
  final_obs       the observation each env reached in this step, before any reset (equals `obs` where no
                  episode ended): the state to bootstrap from, V(final_obs), for every transition;
  episode_return  the undiscounted return of the episode that just ended (valid where terminated|truncated);
  episode_length  its length in steps (likewise);
  valid           False where the transition must not be learned from: on Isaac Gym, which defers resets, the
                  step after a done starts from the old episode's final observation and ends in the new episode.
                  On Brax, False where the simulation blew up (as MuJoCo defines it: a position, velocity or
                  acceleration past 1e10, or NaN; here also the observation and reward): that env's episode is
                  truncated, it restarts, and its final_obs and reward are zeros. Always True on the torch tasks.
Per env, `env.ended` ([3, N]) sums the returns and lengths of the episodes ended so far and counts them, and
`env.last_return` ([N]) is the return of its latest ended episode. `env.render(i)` draws env i's current state as an
RGB image ([240, 320, 3] uint8, for --video; Brax only), `env.fps` its frames per second of simulated time.
Every tensor stays on `env.device`; nothing loops over envs in Python. Treat returned tensors as read-only.

Two additions for start-up and evaluation: `env.compile()` compiles now what the first reset and step would (Brax:
MJX's programs, 10-30 s; kept traced and compiled in JAX's cache folder, so 1-3 s in a later run);
`make_env(..., riders=E)` adds E envs to the same simulation, hidden from the contract above, on which
`env.ride(evaluation)` runs an evaluation beside training, one step of it with each training step (see VecEnv.ride;
not on Isaac Gym).

Backends: "isaacgym" (NVIDIA Isaac Gym through isaacgymenvs), "brax" (Brax on MuJoCo-XLA, pip-installable,
handed to torch through DLPack) and "torch" (small classic-control tasks written in torch). "auto" takes the
first of isaacgym, torch, brax that has the task.
"""

import atexit
import collections
import contextlib
import ctypes.util
import hashlib
import importlib.metadata
import io
import json
import os
import platform
import socket
import subprocess
import threading
import time
import warnings
from typing import Callable, Dict, List, Optional, Tuple

# Isaac Gym must be imported before torch (it refuses to load after it), so this module imports it first, and
# scripts import this module before torch. A missing Isaac Gym is normal; one that fails to load is reported.
try:
    import isaacgym  # noqa: F401

    ISAACGYM_IMPORT_ERROR = None  # type: Optional[str]
except ModuleNotFoundError as e:
    if e.name != "isaacgym":
        ISAACGYM_IMPORT_ERROR = "isaacgym is installed but failed to import: {}".format(e)
    else:
        ISAACGYM_IMPORT_ERROR = "missing"
except ImportError as e:
    ISAACGYM_IMPORT_ERROR = "isaacgym is installed but failed to import: {}".format(e)

import math

import torch

# JAX grabs 75% of GPU memory when it starts unless told not to, leaving torch (which shares the GPU) too little.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
# MJX compiles each env's reset and step for 10-30 s; JAX's persistent cache keeps the executables on disk, so a
# later run of the same task and env count loads them in a second or two (and the programs themselves, exported
# there by _brax_programs, so that nothing is traced either). On by default, in the user's cache folder;
# JAX reads these variables when it is imported (after this), so a user's own JAX_COMPILATION_CACHE_DIR wins, and
# JAX_ENABLE_COMPILATION_CACHE=false (JAX's own switch) turns it off. The threshold (JAX's default: 1 s) also keeps
# the evaluation envs' smaller programs.
JAX_CACHE_DIR = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ppo_isaac", "jax")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", JAX_CACHE_DIR)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")

# The order of --backend auto. No task name is in two of them; the torch tasks come before Brax only because looking
# up Brax's tasks imports JAX and Brax (seconds).
BACKENDS = ("isaacgym", "torch", "brax")
INSTALL_HINTS = {
    "isaacgym": "Isaac Gym is not installed: download Isaac Gym Preview 4 from https://developer.nvidia.com/isaac-gym "
    "(Python 3.6-3.8), `pip install -e isaacgym/python`, then `pip install -e` a clone of "
    "github.com/isaac-sim/IsaacGymEnvs; or use --backend brax",
    "brax": "Brax is not installed: `pip install brax==0.14.2` (for a GPU also `pip install -U 'jax[cuda12]'`)",
}


class EnvError(Exception):
    """A user-facing problem (unknown task, simulator missing, bad device): one readable line, no traceback."""


class SetupError(EnvError):
    """An installed simulator that cannot load as this machine is set up: said even under --backend auto."""


class VecEnv:
    """What every backend shares: the contract's attributes and the per-env episode bookkeeping."""

    backend = ""
    one_per_process = False  # True where the simulator allows only one simulation per process (Isaac Gym)
    fps = 30.0  # frames per second of simulated time, for videos
    compile_seconds = 0.0  # how long compile() took (Brax: MJX's reset and step; the other backends need none)

    def __init__(
        self,
        name: str,
        num_envs: int,
        obs_dim: int,
        act_dim: int,
        device: torch.device,
        max_episode_length: int,
        riders: int = 0,
    ):
        self.name, self.num_envs, self.obs_dim, self.act_dim = name, num_envs, obs_dim, act_dim
        self.device, self.max_episode_length = torch.device(device), max_episode_length
        self.riders, self._rows = riders, num_envs + riders  # rider envs: see ride()
        self._evaluation, self._restart_riders, self._rider_obs = None, False, None
        self._episode_return = torch.zeros(num_envs, device=self.device)
        self._episode_length = torch.zeros(num_envs, dtype=torch.int32, device=self.device)
        # per env: returns, lengths, count of ended episodes (float64: float32 sums stop counting past 2^24)
        self.ended = torch.zeros(3, num_envs, dtype=torch.float64, device=self.device)
        self.last_return = torch.zeros(num_envs, device=self.device)  # per env: the latest ended episode's return
        self._valid = torch.ones(num_envs, dtype=torch.bool, device=self.device)
        self.nonfinite_resets = torch.zeros((), dtype=torch.long, device=self.device)  # Brax: restarts of blown-up envs

    def _clear_episodes(self) -> None:
        self._episode_return.zero_()
        self._episode_length.zero_()

    def _episode_info(self, reward: torch.Tensor, done: torch.Tensor) -> Dict[str, torch.Tensor]:
        self._episode_return += reward
        self._episode_length += 1
        info = {
            "episode_return": self._episode_return.clone(),
            "episode_length": self._episode_length.clone(),
            "valid": self._valid,
        }
        self.ended[0].addcmul_(info["episode_return"], done)
        self.ended[1].addcmul_(info["episode_length"], done)
        self.ended[2] += done
        self.last_return = torch.where(done, info["episode_return"], self.last_return)
        self._episode_return.masked_fill_(done, 0.0)
        self._episode_length.masked_fill_(done, 0)
        return info

    def compile(self, background: bool = False) -> None:
        """Compiles what the first reset and step would (Brax), now, or on a thread of its own (background: the
        first reset waits for it)."""

    def ride(self, evaluation) -> None:
        """Runs `evaluation` on the rider envs: `riders` more envs of the same simulation, stepped with the training
        envs and hidden from them. They restart at the next step; from the one after, each step acts on them with
        evaluation.act(obs) and tells it evaluation.record(reward, done). None ends the ride. So an evaluation runs
        beside training at the cost of a wider step (riders / num_envs more, less where the simulator's step is
        bound by its kernels' launches): a separate evaluation env would queue its own steps between training's
        on the GPU, slowing both (halfcheetah on an H200: training at 0.59x while one ran)."""
        self._evaluation, self._restart_riders = evaluation, evaluation is not None

    def reset(self) -> torch.Tensor:
        obs = self._start()
        self._clear_episodes()
        self._evaluation, self._rider_obs = None, obs[self.num_envs :]
        return obs[: self.num_envs]

    def step(self, actions: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, Dict]:
        n, evaluation, restart = self.num_envs, self._evaluation, self._restart_riders
        riding = evaluation is not None and not restart
        if self.riders:
            actions = torch.cat(
                [actions, evaluation.act(self._rider_obs) if riding else actions.new_zeros(self.riders, self.act_dim)]
            )
        obs, final_obs, reward, terminated, truncated, valid = self._simulate(actions, restart)
        if self.riders:
            if riding:
                evaluation.record(reward[n:], terminated[n:] | truncated[n:])
            self._rider_obs, self._restart_riders = obs[n:], False
            obs, final_obs, reward, terminated, truncated, valid = (
                x[:n] for x in (obs, final_obs, reward, terminated, truncated, valid)
            )
        info = self._episode_info(reward, terminated | truncated)
        info["final_obs"], info["valid"] = final_obs, valid
        return obs, reward, terminated, truncated, info

    def _start(self) -> torch.Tensor:  # every env's first observation, riders' too
        raise NotImplementedError

    def _simulate(self, actions: torch.Tensor, restart: bool) -> Tuple[torch.Tensor, ...]:
        """One step of every env, riders too (restart: the riders start over after it): obs, final_obs, reward,
        terminated, truncated, valid, as the contract says."""
        raise NotImplementedError

    def render(self, index: int = 0):
        raise EnvError(
            "--video renders the MuJoCo models of Brax tasks (e.g. --env-name Ant --backend brax); the {} "
            "task {} has none".format(self.backend, self.name)
        )


# ---------------------------------------------------------------------------------------------- pure torch
class TorchTask(VecEnv):
    """A classic-control task in plain torch, batched over envs: a state tensor [N, k] and three functions."""

    backend = "torch"
    obs_size = act_size = episode_steps = 0

    def __init__(
        self, num_envs: int, device: torch.device, seed: int, max_episode_length: Optional[int], riders: int = 0
    ):
        super().__init__(
            type(self).__name__,
            num_envs,
            self.obs_size,
            self.act_size,
            device,
            max_episode_length or self.episode_steps,
            riders,
        )
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.state = self._initial_state(self._rows)
        self.steps = torch.zeros(self._rows, dtype=torch.int32, device=self.device)
        self._is_rider = torch.arange(self._rows, device=self.device) >= num_envs
        self._all_valid = torch.ones(self._rows, dtype=torch.bool, device=self.device)

    def _uniform(self, n: int, low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=self.generator, device=self.device) * (high - low) + low

    def _start(self) -> torch.Tensor:
        self.state = self._initial_state(self._rows)
        self.steps.zero_()
        return self._observe(self.state)

    def _simulate(self, actions, restart):
        next_state, reward, terminated = self._dynamics(self.state, actions.clamp(-1.0, 1.0))
        self.steps += 1
        truncated = (self.steps >= self.max_episode_length) & ~terminated
        start_over = (terminated | truncated) | (self._is_rider if restart else False)
        final_obs = self._observe(next_state)
        # Drawing fresh states for every env and keeping those that ended is cheaper than indexing on the GPU.
        self.state = torch.where(start_over[:, None], self._initial_state(self._rows), next_state)
        self.steps.masked_fill_(start_over, 0)
        return self._observe(self.state), final_obs, reward, terminated, truncated, self._all_valid

    def _initial_state(self, n: int) -> torch.Tensor:
        raise NotImplementedError

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _dynamics(self, state, actions) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class Pendulum(TorchTask):
    """Gymnasium's Pendulum-v1 swing-up: torque = 2 * action. Random policy about -1200, a good one about -150."""

    obs_size, act_size, episode_steps = 3, 1, 200

    def _initial_state(self, n):
        return torch.stack([self._uniform(n, -math.pi, math.pi), self._uniform(n, -1.0, 1.0)], dim=1)

    def _observe(self, state):
        theta, theta_dot = state.unbind(1)
        return torch.stack([theta.cos(), theta.sin(), theta_dot], dim=1)

    def _dynamics(self, state, actions):
        theta, theta_dot = state.unbind(1)
        torque = 2.0 * actions[:, 0]
        angle = torch.remainder(theta + math.pi, 2 * math.pi) - math.pi
        reward = -(angle**2 + 0.1 * theta_dot**2 + 0.001 * torque**2)
        dt, g = 0.05, 10.0
        theta_dot = (theta_dot + (3 * g / 2 * theta.sin() + 3.0 * torque) * dt).clamp(-8.0, 8.0)
        next_state = torch.stack([theta + theta_dot * dt, theta_dot], dim=1)
        return next_state, reward, torch.zeros_like(reward, dtype=torch.bool)


class CartPole(TorchTask):
    """Gymnasium's CartPole balance with a continuous force = 10 * action; it terminates when the pole falls
    (|angle| > 12 deg) or the cart leaves the track (|x| > 2.4). Reward 1 per step; random about 20, best 500."""

    obs_size, act_size, episode_steps = 4, 1, 500

    def _initial_state(self, n):
        return self._uniform(4 * n, -0.05, 0.05).view(n, 4)

    def _observe(self, state):
        return state.clone()

    def _dynamics(self, state, actions):
        x, x_dot, theta, theta_dot = state.unbind(1)
        force = 10.0 * actions[:, 0]
        cos, sin = theta.cos(), theta.sin()
        total_mass, pole_mass_length, half_length, tau = 1.1, 0.05, 0.5, 0.02
        temp = (force + pole_mass_length * theta_dot**2 * sin) / total_mass
        theta_acc = (9.8 * sin - cos * temp) / (half_length * (4.0 / 3.0 - 0.1 * cos**2 / total_mass))
        x_acc = temp - pole_mass_length * theta_acc * cos / total_mass
        next_state = torch.stack(
            [x + tau * x_dot, x_dot + tau * x_acc, theta + tau * theta_dot, theta_dot + tau * theta_acc], dim=1
        )
        terminated = (next_state[:, 0].abs() > 2.4) | (next_state[:, 2].abs() > 12 * math.pi / 180)
        return next_state, torch.ones_like(x), terminated


TORCH_TASKS = {"pendulum": Pendulum, "cartpole": CartPole}


# ---------------------------------------------------------------------------------------------- Brax (MJX)
def _import_brax_envs():
    # MuJoCo picks its OpenGL when imported. Headless EGL (a GPU driver's, or Mesa's software one on a CPU) renders
    # --video with no display; where no libEGL is installed, MUJOCO_GL=egl breaks the import: then MuJoCo's default.
    if "MUJOCO_GL" not in os.environ and ctypes.util.find_library("EGL"):
        os.environ["MUJOCO_GL"] = "egl"
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # MJX prints "Failed to import warp" (an optional backend)
            from brax import envs
    except ImportError as e:  # (one place for every caller: resolving a task, building an env, rendering)
        raise EnvError("{} ({})".format(INSTALL_HINTS["brax"], e)) from e
    except Exception as e:  # MuJoCo loads the OpenGL that MUJOCO_GL names when imported, and fails if it is missing
        if not os.environ.get("MUJOCO_GL"):
            raise
        raise SetupError(
            "MuJoCo could not load OpenGL as MUJOCO_GL={} asks ({}: {}): install it (osmesa: libosmesa6; "
            "egl: libegl1), or unset MUJOCO_GL, which leaves the choice to this module (EGL where "
            "libEGL is installed)".format(os.environ["MUJOCO_GL"], type(e).__name__, e)
        ) from None
    return envs


JAX_CACHE_EVENTS = {}  # type: Dict[str, int]


def _watch_jax_cache() -> None:  # (once) count what JAX's persistent cache loads (hits) and writes (misses)
    if not JAX_CACHE_EVENTS:
        import jax

        JAX_CACHE_EVENTS.update(hits=0, misses=0)
        jax.monitoring.register_event_listener(_count_jax_cache_event)


def _count_jax_cache_event(event: str, **kwargs) -> None:
    for name in ("hits", "misses"):
        if event == "/jax/compilation_cache/cache_" + name:
            JAX_CACHE_EVENTS[name] += 1


def jax_cache_line() -> str:
    """Where MJX's programs came from so far: JAX's persistent cache (loaded), or compiled and written to it."""
    import jax

    folder = jax.config.jax_compilation_cache_dir
    if not (folder and jax.config.jax_enable_compilation_cache):
        return "JAX compilation cache off (JAX_ENABLE_COMPILATION_CACHE=false or JAX_COMPILATION_CACHE_DIR empty)"
    return "JAX compilation cache {}: {} programs loaded from it, {} compiled and written to it".format(
        folder, JAX_CACHE_EVENTS.get("hits", 0), JAX_CACHE_EVENTS.get("misses", 0)
    )


# A simulation whose position, velocity or observation passes this has diverged (see step() below). With random
# actions, 400 steps of 16 envs on a CPU reached |obs| 16 (Ant), 120 (Humanoid), 25 (halfcheetah), 10 (hopper,
# walker2d) and 120 (humanoidstandup), and |qvel| 16 to 60.
DIVERGED = 1e4


_BRAX_PROGRAMS = {}  # type: Dict[Tuple[str, int, int, str], Dict]


def _package_version(name: str) -> Optional[str]:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _local_jax_cache() -> Optional[str]:
    """JAX's cache folder where JAX's cache is on and the folder is local (a remote one is JAX's business alone)."""
    import jax

    folder = jax.config.jax_compilation_cache_dir
    return folder if folder and jax.config.jax_enable_compilation_cache and "://" not in folder else None


def _brax_env(name: str):
    brax_envs = _import_brax_envs()  # (here too where the task list came from JAX's cache folder: see _brax_tasks)
    with warnings.catch_warnings():  # Brax warns at every load that it is not actively maintained (MJX is)
        warnings.filterwarnings("ignore", message="Brax System")
        try:
            return brax_envs.get_environment(name, backend="mjx")
        except ValueError as e:  # Brax lists tasks that have no MJX version (0.14.2: swimmer) and says so this way
            if "backend" not in str(e):
                raise
            raise EnvError(
                "Brax's {} has no MJX version (Brax says: {}); this adapter runs Brax's tasks on MJX only".format(
                    name, e
                )
            ) from None


def _brax_programs(name: str, num_envs: int, max_episode_length: int, jax_platform: str) -> Dict:
    """MJX's reset and step for one (task, env count, limit), jitted over flat lists of the state's arrays, and what
    the adapter needs to know of them. Tracing them means building Brax's env and tracing MJX (3-5 s on a GPU, before
    any compilation); so they are exported (jax.export) into JAX's cache folder, from which a later process loads
    them in milliseconds, and JAX's cache then holds their compiled code: a warm start traces and compiles nothing.
    Kept per process too, so that two env objects of one shape share one compilation."""
    key = (name, num_envs, max_episode_length, jax_platform)
    if key not in _BRAX_PROGRAMS:
        path = _exported_path(key)
        programs = _load_exported(path) if path else None
        _BRAX_PROGRAMS[key] = programs or _traced_programs(name, num_envs, max_episode_length, jax_platform, path)
    return _BRAX_PROGRAMS[key]


def _exported_path(key: Tuple) -> Optional[str]:
    """Where the programs of `key` are exported: JAX's cache folder (off where JAX's cache is off), under a name that
    changes with this file's code and with the versions of the packages that make the programs."""
    import jax

    folder = _local_jax_cache()
    if not folder or not hasattr(jax, "export"):  # (a JAX older than jax.export, 0.4.30: traced at every start)
        return None
    versions = [_package_version(p) for p in ("jax", "jaxlib", "brax", "mujoco", "mujoco-mjx")]
    with open(__file__, "rb") as f:
        digest = hashlib.sha256(f.read() + repr((key, versions)).encode()).hexdigest()[:16]
    return os.path.join(folder, "isaac_env-{}-{}x{}-{}-{}.npz".format(key[0], key[1], key[2], key[3], digest))


def _load_exported(path: str) -> Optional[Dict]:
    import jax
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as saved:
            meta = json.loads(str(saved["meta"]))
            fresh, step = (jax.export.deserialize(bytearray(saved[n].tobytes())) for n in ("fresh", "step"))
    except FileNotFoundError:
        return None
    except Exception as e:  # unreadable (a write cut short, another JAX): traced again, and written again
        warnings.warn(
            "isaac_env: could not load {} ({}: {}); tracing MJX again".format(path, type(e).__name__, e), stacklevel=3
        )
        return None
    return dict(meta, fresh=jax.jit(fresh.call), step=jax.jit(step.call), source="exported", env=None)


def _traced_programs(name: str, num_envs: int, max_episode_length: int, jax_platform: str, path: Optional[str]):
    import jax
    import jax.numpy as jnp
    import numpy as np

    env = _brax_env(name)

    def fresh_states(rng):
        rng, sub = jax.random.split(rng)
        return rng, jax.vmap(env.reset)(jax.random.split(sub, num_envs))

    def step(state, steps, fresh, actions, restart):  # restart: rider envs to start over (VecEnv.ride)
        next_state = jax.vmap(env.step)(state, actions)
        steps = steps + 1
        # MuJoCo's C engine resets a simulation whose positions, velocities or accelerations pass 1e10 or turn NaN
        # (mjMAXVAL, mjWARN_BADQACC); MJX does not, and one env blowing up (huge values first, then inf and NaN)
        # would poison every network through the observation normaliser: restart it, and zero what it returned.
        # Positions, velocities and observations count as diverged long before that, past DIVERGED: on the way
        # up, one observation of 1e6 among 16M of a feature of std 1 leaves its normaliser's std at about 250.
        data = next_state.pipeline_state
        bounded = lambda x, bound=DIVERGED: (jnp.abs(x) < bound).all(-1)  # noqa: E731  (False for NaN)
        broken = ~(
            bounded(data.qpos)
            & bounded(data.qvel)
            & bounded(next_state.obs)
            & bounded(data.qacc, 1e10)
            & (jnp.abs(next_state.reward) < 1e10)
        )
        terminated = (next_state.done > 0) & ~broken
        truncated = ((steps >= max_episode_length) & ~terminated) | broken
        start_over = terminated | truncated | restart

        def select(start, current):  # envs that ended restart from their own fresh state
            return jnp.where(start_over.reshape((-1,) + (1,) * (current.ndim - 1)), start, current)

        state = jax.tree_util.tree_map(select, fresh, next_state)
        steps = jnp.where(start_over, 0, steps)
        final_obs = jnp.where(broken[:, None], 0.0, next_state.obs)
        return (
            state,
            steps,
            (state.obs, final_obs, jnp.where(broken, 0.0, next_state.reward), terminated, truncated, broken),
        )

    # The programs take and return the state as the flat list of its arrays: a loaded program knows no Brax types.
    found = {}  # the state's structure and its arrays' names (".obs"), as tracing the reset finds them

    def flat_fresh_states(rng):
        rng, state = fresh_states(rng)
        named, found["structure"] = jax.tree_util.tree_flatten_with_path(state)
        found["names"] = [jax.tree_util.keystr(path) for path, _ in named]
        return rng, [x for _, x in named]

    def flat_step(state, steps, fresh, actions, restart):
        state, fresh = (jax.tree_util.tree_unflatten(found["structure"], x) for x in (state, fresh))
        state, steps, outputs = step(state, steps, fresh, actions, restart)
        return jax.tree_util.tree_leaves(state), steps, outputs

    programs = dict(fresh=jax.jit(flat_fresh_states), step=jax.jit(flat_step), source="traced", env=env)
    rng = jax.eval_shape(lambda: jax.random.PRNGKey(0))
    leaves = jax.eval_shape(programs["fresh"], rng)[1]  # (traces the reset; the jitted function keeps the trace)
    obs_leaf = found["names"].index(".obs")
    meta = dict(obs_dim=leaves[obs_leaf].shape[-1], act_dim=env.action_size, dt=float(env.dt), obs_leaf=obs_leaf)
    programs.update(meta)
    if path is None:
        return programs
    inputs = [
        leaves,
        jax.ShapeDtypeStruct((num_envs,), jnp.int32),
        leaves,
        jax.ShapeDtypeStruct((num_envs, env.action_size), jnp.float32),
        jax.ShapeDtypeStruct((num_envs,), jnp.bool_),
    ]
    platforms = None if jax_platform == "gpu" else [jax_platform]  # (None: JAX's default backend: its GPU if any)
    try:
        exported = dict(
            fresh=jax.export.export(programs["fresh"], platforms=platforms)(rng),
            step=jax.export.export(programs["step"], platforms=platforms)(*inputs),
        )
        os.makedirs(os.path.dirname(path), exist_ok=True)  # (JAX makes it when its cache starts: not relied on)
        written = "{}.{}.tmp.npz".format(path[: -len(".npz")], os.getpid())
        blobs = {n: np.frombuffer(e.serialize(), dtype=np.uint8) for n, e in exported.items()}
        np.savez(written, meta=np.array(json.dumps(meta)), **blobs)
        os.replace(written, path)  # (whole or not at all, for a process starting beside)
    except Exception as e:  # a program JAX cannot export, or a folder it cannot write: traced next time too
        warnings.warn(
            "isaac_env: MJX's programs not exported to {} ({}: {})".format(path, type(e).__name__, e), stacklevel=3
        )
        return programs
    # the exported programs run here too: JAX's cache then holds what a later process compiles from the same file
    return dict(programs, fresh=jax.jit(exported["fresh"].call), step=jax.jit(exported["step"].call))


def _catching(function: Callable[[], None], failed: List[BaseException]) -> None:  # (a thread's body)
    try:
        function()
    except BaseException as e:  # kept for the thread that waits for this one, which raises it
        failed.append(e)


class BraxEnv(VecEnv):
    """Brax environments on the MJX (MuJoCo-XLA) pipeline, batched with vmap and handed to torch without copies.

    Brax's own AutoResetWrapper restarts every env from one cached start state and loses the final observation;
    here each env that ends restarts from its own fresh random state. Drawing fresh states for all envs costs
    about a quarter of the step time, so a pool of them is drawn every `FRESH_EVERY` steps (an env that ends
    twice within that window restarts from the same state twice): a tenth of the step time instead."""

    backend = "brax"
    FRESH_EVERY = 16
    LENT_STEPS = 32

    def __init__(
        self,
        name: str,
        num_envs: int,
        device: torch.device,
        seed: int,
        max_episode_length: Optional[int],
        riders: int = 0,
    ):
        import jax
        import jax.numpy as jnp

        _watch_jax_cache()
        platform, index = ("gpu", device.index or 0) if device.type == "cuda" else ("cpu", 0)
        if (
            index == 0
            and platform == "gpu"
            and not getattr(jax._src.xla_bridge, "backends_are_initialized", lambda: True)()
        ):
            jax.config.update("jax_cuda_visible_devices", "0")  # else JAX takes memory on every GPU it sees
        try:
            jax_devices = jax.devices(platform)
        except RuntimeError:
            jax_devices = []
        if len(jax_devices) <= index:
            raise EnvError(
                "JAX sees no {} device {}; for a GPU `pip install -U 'jax[cuda12]'`, or use --device cpu".format(
                    platform.upper(), index
                )
            )
        self.jax_device = jax_devices[index]
        max_episode_length = max_episode_length or 1000
        programs = _brax_programs(name, num_envs + riders, max_episode_length, platform)
        self._fresh_states, self._step, self._obs_leaf = programs["fresh"], programs["step"], programs["obs_leaf"]
        self.programs = programs["source"]  # "exported": loaded from JAX's cache folder, no Brax env built or traced
        self._brax, self._structure = programs["env"], None  # Brax's env and State's structure: where needed
        super().__init__(name, num_envs, programs["obs_dim"], programs["act_dim"], device, max_episode_length, riders)
        self._rng = jax.device_put(jax.random.PRNGKey(seed), self.jax_device)
        riders_mask = jax.device_put(jnp.arange(self._rows) >= num_envs, self.jax_device)
        self._restart = {False: jnp.zeros_like(riders_mask), True: riders_mask}  # which envs start over (riders)
        self._calls, self._renderer, self._state, self.fps = 0, None, None, 1.0 / programs["dt"]
        # JAX frees an array once unreferenced and may give its memory to the next computation at once, before torch's
        # stream (behind the host under CUDA graphs) has read it. This env's next step waits for that stream (it takes
        # torch's actions); other JAX work does not (another env's, such as an evaluation env compiling on a thread
        # beside). So what torch was handed stays referenced, with an event of torch's stream recorded when it was
        # handed over, and is let go LENT_STEPS steps later, once torch's stream has passed the event recorded two
        # steps after it: the scripts queue every read of a step's outputs before the step after next.
        self._lent = collections.deque()  # type: collections.deque
        self._compiling = None  # type: Optional[threading.Thread]
        self._compile_failed = []  # type: List[BaseException]  # what compile(background=True) raised

    def compile(self, background: bool = False) -> None:
        import jax
        import jax.numpy as jnp
        import numpy as np

        def reset() -> None:  # (reset()'s first key: the results are dropped)
            jax.block_until_ready(self._fresh_states(self._rng))

        def run() -> None:  # one reset, and one step of zero actions, on inputs typed as reset() and step() type theirs
            # Compiled side by side, the reset and the step take 0.7x the time of one after the other on a GPU machine
            # (Humanoid on an H200: 16 s against 23 s; a 2-core CPU gains nothing). So the step runs on a state of
            # zeros of the state's shapes and types (the same program), not on the reset's state.
            start = time.time()
            failed = []  # type: List[BaseException]
            leaves = jax.eval_shape(self._fresh_states, self._rng)[1]
            beside = threading.Thread(target=_catching, args=(reset, failed), daemon=True)
            beside.start()
            state = jax.device_put([np.zeros(x.shape, x.dtype) for x in leaves], self.jax_device)  # (no compiling)
            steps = jnp.zeros(self._rows, dtype=jnp.int32, device=self.jax_device)
            actions = jax.dlpack.from_dlpack(torch.zeros(self._rows, self.act_dim, device=self.device))
            jax.block_until_ready(self._step(state, steps, state, actions, self._restart[False]))
            beside.join()
            if failed:
                raise failed[0]
            self.compile_seconds = time.time() - start

        if background:  # (what fails there is raised by the first reset, which waits for it)
            self._compiling = threading.Thread(target=_catching, args=(run, self._compile_failed), daemon=True)
            self._compiling.start()
        else:
            run()

    def _refresh_pool(self) -> None:
        # JAX may build the new pool in memory that torch has just released (an earlier step's observations) while
        # torch's stream, far behind the host under CUDA graphs, has yet to read it: it corrupted SAC's replay and
        # normaliser with NaNs. JAX waits for torch's stream only in work that takes a torch tensor (the step, its
        # actions); this does not, so torch's queued work finishes first (a sync every FRESH_EVERY steps)
        if self.device.type == "cuda":
            torch.cuda.current_stream(self.device).synchronize()
        self._rng, self._fresh = self._fresh_states(self._rng)

    def _start(self):
        import jax.numpy as jnp

        if self._compiling is not None:  # (compile(background=True): JAX would compile the same programs again)
            self._compiling.join()
            self._compiling = None
            if self._compile_failed:
                raise self._compile_failed.pop()
        self._refresh_pool()
        self._state = self._fresh
        self._steps = jnp.zeros(self._rows, dtype=jnp.int32, device=self.jax_device)
        self._calls = 0
        self._lend(self._state[self._obs_leaf])
        return torch.from_dlpack(self._state[self._obs_leaf])

    def _lend(self, arrays) -> None:  # keep what torch is handed until its stream is done with it (see __init__)
        cuda = self.device.type == "cuda"
        self._lent.append((arrays, torch.cuda.current_stream(self.device).record_event() if cuda else None))
        if len(self._lent) > self.LENT_STEPS:
            if cuda:
                self._lent[2][1].synchronize()  # (long passed, unless torch's stream lags LENT_STEPS - 2 steps)
            self._lent.popleft()

    def _simulate(self, actions, restart):
        import jax

        self._calls += 1
        if self._calls % self.FRESH_EVERY == 0:
            self._refresh_pool()
        jax_actions = jax.dlpack.from_dlpack(actions.clamp(-1.0, 1.0).float().contiguous())
        self._state, self._steps, out = self._step(
            self._state, self._steps, self._fresh, jax_actions, self._restart[restart]
        )
        self._lend(out)
        obs, final_obs, reward, terminated, truncated, broken = (torch.from_dlpack(x) for x in out)
        self.nonfinite_resets += broken.sum()
        return obs, final_obs, reward, terminated, truncated, ~broken

    @property
    def env(self):  # Brax's env object, built on first use where the programs came from JAX's cache folder
        if self._brax is None:
            self._brax = _brax_env(self.name)
        return self._brax

    def brax_state(self):
        """The current state of every env (riders too) as Brax's State, as Brax's own env.step takes it."""
        import jax

        if self._structure is None:  # (a trace of Brax's reset, once: render() asks at every frame)
            self._structure = jax.tree_util.tree_structure(jax.eval_shape(self.env.reset, jax.random.PRNGKey(0)))
        return jax.tree_util.tree_unflatten(self._structure, self._state)  # (vmapped: the same, batched arrays)

    def render(self, index: int = 0):
        """Env `index`'s current state (before reset(): the model's rest pose) through MuJoCo's own renderer, from the
        model's tracking camera if it has one."""
        model = self.env.sys.mj_model  # (first: Brax's import picks MuJoCo's OpenGL, which MuJoCo reads when imported)
        import mujoco
        import numpy as np

        if self._renderer is None:
            try:
                self._renderer = mujoco.Renderer(model, height=240, width=320)
            except Exception as e:  # no OpenGL: MuJoCo says so in its own terms, which name no fix
                raise EnvError(
                    "--video renders with MuJoCo through OpenGL, and none works here ({}: {}). Headless, "
                    "MuJoCo uses EGL: on a GPU machine install libegl1 (the NVIDIA driver has the rest), on "
                    "a CPU-only one also Mesa's libegl-mesa0".format(type(e).__name__, e)
                ) from None
            atexit.register(self._renderer.close)  # (else its destructor fails noisily as Python exits)
            self._data = mujoco.MjData(model)
            self._camera = "track" if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, "track") >= 0 else -1
        if self._state is not None:
            state = self.brax_state().pipeline_state
            self._data.qpos[:], self._data.qvel[:] = np.asarray(state.q[index]), np.asarray(state.qd[index])
        mujoco.mj_forward(model, self._data)  # the bodies' positions from the joints'
        self._renderer.update_scene(self._data, camera=self._camera)
        return self._renderer.render()


def _brax_tasks() -> Dict[str, str]:
    """Brax's task names. Importing Brax to list them takes a second or more, and a warm start needs nothing else of
    Brax (MJX's programs come exported: see _brax_programs), so the list is kept in JAX's cache folder too, per
    version of Brax."""
    folder, version = _local_jax_cache(), _package_version("brax")  # (no version: imported below, or an EnvError)
    path = None
    if folder and version:
        path = os.path.join(folder, "isaac_env-brax-{}-tasks.json".format(version))
        try:
            with open(path) as f:
                return {task_key(n): n for n in json.load(f)}
        except (OSError, ValueError):
            pass
    names = [n for n in _import_brax_envs()._envs if n != "fast"]  # "fast" is Brax's own test stub
    try:
        if path:
            os.makedirs(folder, exist_ok=True)
            with open(path + ".{}.tmp".format(os.getpid()), "w") as f:
                json.dump(names, f)
            os.replace(f.name, path)
    except OSError:
        pass  # (a folder it cannot write: Brax is imported next time too)
    return {task_key(n): n for n in names}


# ---------------------------------------------------------------------------------------------- Isaac Gym
class IsaacGymEnv(VecEnv):
    """NVIDIA Isaac Gym tasks through isaacgymenvs.make, with its quirks absorbed:
    - reset() returns zeros until the first step (observations are computed after physics), so reset() here
      takes one zero-action step to return real observations;
    - the reward and reset tensors it returns are its own buffers, overwritten by the next step: cloned here;
    - resets are deferred one step: an env flagged done at step t restarts during step t+1. Its observation at
      step t is its final one, and the transition of step t+1 crosses episodes: the policy acts on that final
      observation, and the reward and next observation (whose force-sensor channels are still stale on Ant) come
      from the new episode. info["valid"] is False there; its reward counts towards the new episode;
    - extras["time_outs"] marks which of the done envs hit the time limit: those are truncated, not terminated
      (also one that fell on its last allowed step: IsaacGymEnvs does not tell the two apart there, where Brax and
      the torch tasks say terminated);
    - VecTask.reset() resets nothing (it only returns the observation buffer): reset() here flags every env;
    - one simulation per process: isaacgymenvs.make silently returns the first one when called again (with the
      first one's task and env count), so a second IsaacGymEnv is refused; and make ignores its seed (resets draw
      from torch's global generator: seed that). So there is no second env to evaluate on."""

    backend = "isaacgym"
    one_per_process = True
    made = []  # type: List[str]  # the one simulation of this process

    def __init__(
        self,
        name: str,
        num_envs: int,
        device: torch.device,
        seed: int,
        max_episode_length: Optional[int],
        riders: int = 0,
    ):  # (no riders: one simulation, its own envs)
        import isaacgymenvs

        if IsaacGymEnv.made:
            raise EnvError(
                "Isaac Gym allows one simulation per process, and this one has {}: a second "
                "isaacgymenvs.make would silently return it".format(IsaacGymEnv.made[0])
            )
        sim_device = "cuda:{}".format(device.index or 0) if device.type == "cuda" else "cpu"
        self.env = isaacgymenvs.make(
            seed=seed,
            task=name,
            num_envs=num_envs,
            sim_device=sim_device,
            rl_device=sim_device,
            graphics_device_id=-1,
            headless=True,
        )
        if max_episode_length:
            self.env.max_episode_length = max_episode_length
        super().__init__(
            name,
            num_envs,
            self.env.num_obs,
            self.env.num_actions,
            torch.device(sim_device),
            int(self.env.max_episode_length),
        )
        IsaacGymEnv.made.append("{} x {}".format(name, num_envs))

    def reset(self):
        self.env.reset_buf[:] = 1  # every env restarts during the zero-action step below (resets are deferred)
        obs, _, _, _, _ = self.step(torch.zeros(self.num_envs, self.act_dim, device=self.device))
        self._clear_episodes()
        self._valid = torch.ones_like(self._valid)  # that step was the cross-episode one
        return obs

    def step(self, actions):
        obs_dict, reward, reset, extras = self.env.step(actions.clamp(-1.0, 1.0))
        obs, reward, done = obs_dict["obs"].clone(), reward.clone(), reset != 0  # `!= 0` makes a new tensor
        time_outs = extras.get("time_outs")
        truncated = done & (time_outs != 0) if time_outs is not None else torch.zeros_like(done)
        terminated = done & ~truncated
        info = self._episode_info(reward, done)
        info["final_obs"] = obs  # deferred reset: the final observation is the one just returned
        self._valid = ~done  # the next step of an env that ended here crosses episodes
        return obs, reward, terminated, truncated, info

    def render(self, index: int = 0):
        raise EnvError(
            "--video is not supported on Isaac Gym here: its viewer needs a display and its camera sensors "
            "a graphics device, and this adapter runs headless with neither (graphics_device_id -1). "
            "Record with IsaacGymEnvs' own capture_video=True on a machine with a display"
        )


def _isaacgym_tasks() -> Dict[str, str]:
    from isaacgymenvs.tasks import isaacgym_task_map

    return {task_key(n): n for n in isaacgym_task_map}


# ---------------------------------------------------------------------------------------------- make_env
def task_key(name: str) -> str:
    """A task name as compared here: case, "_" and "-" do not matter."""
    return name.lower().replace("_", "").replace("-", "")


def _tasks(backend: str) -> Dict[str, str]:
    """The tasks a backend offers, by case-insensitive key; raises EnvError if the backend is not installed."""
    if backend == "torch":
        return {k: k for k in TORCH_TASKS}
    if backend == "isaacgym":
        if ISAACGYM_IMPORT_ERROR:
            raise EnvError(
                INSTALL_HINTS["isaacgym"]
                if ISAACGYM_IMPORT_ERROR == "missing"
                else ISAACGYM_IMPORT_ERROR + " (import isaac_env before torch, or use --backend brax)"
            )
        try:
            return _isaacgym_tasks()
        except ImportError as e:
            message = "isaacgymenvs failed to import ({}): install IsaacGymEnvs, or use --backend brax".format(e)
            raise EnvError(message) from e
    if backend == "brax":
        try:
            return _brax_tasks()
        except ImportError as e:
            raise EnvError("{} ({})".format(INSTALL_HINTS["brax"], e)) from e
    raise EnvError("unknown backend {!r}: choose from auto, {}".format(backend, ", ".join(BACKENDS)))


def available_tasks() -> Dict[str, List[str]]:
    """The task names of every installed backend."""
    found = {}
    for backend in BACKENDS:
        try:
            found[backend] = sorted(_tasks(backend).values())
        except EnvError:
            pass
    return found


def resolve(name: str, backend: str = "auto") -> Tuple[str, str]:
    """(backend, the backend's own spelling of the task) for a case-insensitive task name."""
    candidates = BACKENDS if backend == "auto" else (backend,)
    if backend == "auto" and ISAACGYM_IMPORT_ERROR not in (None, "missing"):
        raise EnvError(ISAACGYM_IMPORT_ERROR + " (import isaac_env before torch, or pass --backend brax)")
    for candidate in candidates:
        try:
            tasks = _tasks(candidate)
        except EnvError as e:
            if backend != "auto" or isinstance(e, SetupError):
                raise
            continue
        if task_key(name) in tasks:
            return candidate, tasks[task_key(name)]
    listing = "; ".join("{}: {}".format(b, ", ".join(t)) for b, t in available_tasks().items())
    where = "any installed backend" if backend == "auto" else "backend " + backend
    raise EnvError("unknown env {!r} for {}. Available: {}".format(name, where, listing))


_RANK_GPU = []  # type: List[str]


def _local_rank_gpu() -> str:
    """Under torchrun, the GPU of this process's local rank, decided once, before CUDA starts: that GPU is listed first
    in CUDA_VISIBLE_DEVICES (the others after it, so that NCCL still reaches them directly), so torch and JAX find it
    as their GPU 0, and JAX is kept off the others (JAX 0.11 fails when told to use only a GPU other than its first)."""
    if not _RANK_GPU:
        rank = int(os.environ["LOCAL_RANK"])
        visible = [v for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v] or [
            str(i) for i in range(int(os.environ.get("LOCAL_WORLD_SIZE", rank + 1)))
        ]
        if torch.cuda.is_initialized() or rank >= len(visible):  # too late to reorder, or too few: by index
            _RANK_GPU.append("cuda:{}".format(rank))
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join([visible[rank]] + visible[:rank] + visible[rank + 1 :])
            _RANK_GPU.append("cuda:0")
    return _RANK_GPU[0]


def make_env(
    name: str,
    num_envs: int,
    backend: str = "auto",
    device="cpu",
    seed: int = 0,
    max_episode_length: Optional[int] = None,
    riders: int = 0,
) -> VecEnv:
    """Build `num_envs` parallel copies of task `name` on `device` ("auto": cuda if torch sees a GPU, else cpu; under
    torchrun, "auto" and "cuda" are the GPU of this process's local rank); see the module docstring for the contract.
    riders: more envs of the same simulation for evaluations beside training (VecEnv.ride; Isaac Gym has none)."""
    if num_envs <= 0:
        raise EnvError("num_envs must be positive, got {}".format(num_envs))
    if device in ("auto", "cuda") and "LOCAL_RANK" in os.environ:
        rank_gpu = _local_rank_gpu()
        device = rank_gpu if device == "cuda" or torch.cuda.is_available() else "cpu"
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(device)
    except RuntimeError:
        raise EnvError("device {!r} is not a torch device (try cuda, cuda:1 or cpu)".format(device)) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EnvError("device {} was asked for but torch sees no CUDA GPU; use --device cpu".format(device))
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise EnvError(
            "there is no {}: torch sees {} GPUs (torchrun: one process per GPU)".format(
                device, torch.cuda.device_count()
            )
        )
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())  # an index: torch.cuda.set_device needs one
    backend, task = resolve(name, backend)
    if backend == "torch":
        return TORCH_TASKS[task](num_envs, device, seed, max_episode_length, riders)
    if backend == "brax":
        return BraxEnv(task, num_envs, device, seed, max_episode_length, riders)
    return IsaacGymEnv(task, num_envs, device, seed, max_episode_length)


def provenance(paths: Tuple[str, ...] = ()) -> Dict:
    """What a cited number needs besides its arguments: this code's git commit (and whether tracked files had
    changes), the versions of the packages that shape results, and the machine. `files`: git's id of the contents of
    this file and of `paths` (the caller's script), by path (`git hash-object`; `git log --find-object=ID` names the
    commits), which say what ran also where the folder's .git is missing or stale, as in a copied script."""

    def git(*command: str) -> Optional[str]:
        try:
            done = subprocess.run(
                ("git",) + command,
                cwd=os.path.dirname(os.path.abspath(__file__)),
                capture_output=True,
                text=True,
                timeout=10,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    def blob_id(path: str) -> str:
        with open(path, "rb") as f:
            data = f.read()
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()

    def name(path: str) -> str:  # relative to this file's folder where inside it
        here, path = os.path.dirname(os.path.abspath(__file__)), os.path.abspath(path)
        return os.path.relpath(path, here) if path.startswith(here + os.sep) else path

    versions = {n: _package_version(n) for n in ("torch", "jax", "brax", "mujoco", "mujoco-mjx", "isaacgym")}
    commit = git("rev-parse", "HEAD")
    dirty = None if commit is None else bool(git("status", "--porcelain", "--untracked-files=no"))
    files = {name(p): blob_id(p) for p in (__file__,) + tuple(paths) if os.path.isfile(p)}
    return dict(
        commit=commit,
        dirty=dirty,
        files=files,
        versions=versions,
        host=socket.gethostname(),
        python=platform.python_version(),
    )


if __name__ == "__main__":  # python isaac_env.py: list the tasks of every installed backend
    for backend_name, names in available_tasks().items():
        print("{:9s} {}".format(backend_name, ", ".join(names)))
    if ISAACGYM_IMPORT_ERROR:
        print(
            "isaacgym  not available: "
            + ("not installed" if ISAACGYM_IMPORT_ERROR == "missing" else ISAACGYM_IMPORT_ERROR)
        )
