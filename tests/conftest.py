"""Shared set-up. The fake Isaac Gym goes on sys.path and is imported before torch, as the real one demands, so
that in-process tests can build it; subprocess tests choose for themselves whether it is there."""

import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE_ISAACGYM = os.path.join(ROOT, "tests", "fake_isaacgym")
sys.path[:0] = [ROOT, FAKE_ISAACGYM]
# MJX compiles for 5-30 s on a CPU: keep the executables on disk so that subprocesses reuse them (in the system's
# temporary folder: the tests write nothing into the checkout).
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), "ppo_isaac-tests-jax-cache"))

import isaacgym  # noqa: E402,F401  (the fake, before torch)
import pytest  # noqa: E402


def pytest_configure(config):
    # Brax and MJX warn about their own deprecations at every import; they are not this project's to fix.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning")
    config.addinivalue_line("filterwarnings", "ignore:Brax System:UserWarning")


def run_ppo(*args, cwd, fake_isaacgym=False, extra_path=(), extra_env=None, timeout=300, script="ppo_isaac.py"):
    """Run a script of the repo through its real command line, in `cwd`; returns the CompletedProcess."""
    env = dict(os.environ, **(extra_env or {}))
    path = list(extra_path) + ([FAKE_ISAACGYM] if fake_isaacgym else [])
    env["PYTHONPATH"] = os.pathsep.join(path + [ROOT])
    env["PYTHONUNBUFFERED"] = "1"
    target = script if os.path.isabs(script) else os.path.join(ROOT, script)
    return subprocess.run(
        [sys.executable, target] + [str(a) for a in args],
        cwd=str(cwd),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def brax_env():
    """One small Brax env for the whole session (compiling MJX is the slow part); InvertedPendulum terminates
    quickly under random actions, and a 10-step limit makes truncation frequent too."""
    import isaac_env

    return isaac_env.make_env("InvertedPendulum", 6, backend="brax", device="cpu", seed=3, max_episode_length=10)


@pytest.fixture(scope="session")
def isaac_fake_env():
    import isaacgymenvs

    import isaac_env

    isaacgymenvs._clear()
    isaac_env.IsaacGymEnv.made.clear()
    env = isaac_env.make_env("Ant", 8, backend="isaacgym", device="cpu", seed=0, max_episode_length=40)
    yield env
    isaacgymenvs._clear()
    isaac_env.IsaacGymEnv.made.clear()
