"""Run NAN_SCRIPT (ppo_isaac.py or sac_isaac.py) through its command line with the Pendulum task poisoned from a
given env step on: NAN_AT_STEP (the step at which NaN appears) and NAN_IN ("obs" or "reward"). Used by the
NaN-guard tests."""

import os
import runpy
import sys

import isaac_env  # before torch, as in the script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
at_step, poisoned = int(os.environ["NAN_AT_STEP"]), os.environ["NAN_IN"]
original = isaac_env.Pendulum._dynamics
calls = [0]


def poisoned_dynamics(self, state, actions):
    next_state, reward, terminated = original(self, state, actions)
    calls[0] += 1
    if calls[0] >= at_step:
        if poisoned == "reward":
            reward = reward * float("nan")
        else:
            next_state = next_state * float("nan")
    return next_state, reward, terminated


isaac_env.Pendulum._dynamics = poisoned_dynamics
script = os.path.join(ROOT, os.environ.get("NAN_SCRIPT", "ppo_isaac.py"))
sys.argv = [script] + sys.argv[1:]
runpy.run_path(script, run_name="__main__")
