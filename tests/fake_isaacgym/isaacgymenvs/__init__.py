"""A stand-in for `isaacgymenvs` that behaves like its VecTask tasks where it matters to an RL library:

- `make(...)` has the real signature and ignores its seed; called again, it silently returns the first simulation
  (as the real one's `_create_sim_once` does), whatever task and env count it was asked for;
- `reset()` returns the observation buffer, which is zeros until the first step computes observations;
- `step()` returns (obs_dict, rew_buf, reset_buf, extras): rew_buf and reset_buf are the task's own buffers,
  written in place by the next step;
- every env starts flagged for reset (reset_buf is all ones), and resets are deferred: an env flagged done at
  step t is restarted inside step t+1, after that step's physics (as Ant.post_physics_step does); the first
  observation after a reset carries a stale "force sensor" channel, measured before the reset (as Ant's are), and
  resets draw from torch's global generator; `reset()` itself resets nothing;
- extras["time_outs"] marks envs at the time limit (progress >= max_episode_length - 1), a subset of reset_buf.

The physics is a point mass per env in act_dim dimensions: actions accelerate it, the reward is the velocity
along the first axis plus an alive bonus, and it "falls" (terminates) when it drifts 1.0 off that axis."""

import torch  # noqa: F401  (as the real package: torch is loaded once isaacgymenvs is)

from isaacgymenvs.tasks import isaacgym_task_map

_made = []


def _clear():
    """Tests only: forget the one simulation made in this process (GlobalHydra.instance().clear() in the real one)."""
    _made.clear()


def make(
    seed,
    task,
    num_envs,
    sim_device,
    rl_device,
    graphics_device_id=-1,
    headless=False,
    multi_gpu=False,
    virtual_screen_capture=False,
    force_render=True,
    cfg=None,
):
    if _made:
        return _made[0]
    if task not in isaacgym_task_map:
        raise KeyError(task)
    _made.append(isaacgym_task_map[task](num_envs, sim_device, rl_device))
    return _made[0]
