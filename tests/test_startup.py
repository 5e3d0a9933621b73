"""Start-up: JAX's persistent compilation cache (on by default, in the user's cache folder, before JAX is used; a
user's own JAX_COMPILATION_CACHE_DIR wins; JAX_ENABLE_COMPILATION_CACHE=false turns it off), a second process that
loads a Brax env's programs from it, the simulator compiling while the networks are built, and --cudagraphs following
the device."""

import os
import subprocess
import sys

import pytest
from conftest import ROOT

import ppo_isaac
import sac_isaac

CACHE_STATE = """
import os, isaac_env
print(os.environ["JAX_COMPILATION_CACHE_DIR"])
import jax
print(jax.config.jax_compilation_cache_dir)
print(isaac_env.jax_cache_line())
"""

COMPILE = """
import sys
import isaac_env
import torch
env = isaac_env.make_env("InvertedPendulum", 3, backend="brax", device="cpu", seed=0, max_episode_length=5)
env.compile()
env.reset()
env.step(torch.zeros(3, env.act_dim))
print(env.programs, "with Brax imported" if "brax" in sys.modules else "without Brax")
print(isaac_env.jax_cache_line())
"""


def python(code, tmp_path, **env_vars):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}  # (conftest sets the tests' own cache)
    env.update(XDG_CACHE_HOME=str(tmp_path / "xdg"), PYTHONPATH=ROOT, **env_vars)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()


def test_the_jax_cache_is_set_before_jax_loads_and_a_users_own_folder_or_opt_out_wins(tmp_path):
    default = str(tmp_path / "xdg" / "ppo_isaac" / "jax")
    assert python(CACHE_STATE, tmp_path)[:2] == [default, default]
    own = str(tmp_path / "mine")
    assert python(CACHE_STATE, tmp_path, JAX_COMPILATION_CACHE_DIR=own)[:2] == [own, own]
    off = python(CACHE_STATE, tmp_path, JAX_ENABLE_COMPILATION_CACHE="false")
    assert off[2].startswith("JAX compilation cache off")


def test_a_second_process_loads_a_brax_envs_programs_from_the_cache(tmp_path):
    """The first process traces MJX's programs, exports them and compiles them into JAX's cache folder; the second
    loads both, tracing and compiling nothing, and does not import Brax (its task list is kept there too); an export
    it cannot read is traced and written again, and its compiled programs still come from the cache."""
    first = python(COMPILE, tmp_path)[-2:]
    folder = str(tmp_path / "xdg" / "ppo_isaac" / "jax")
    loaded = "JAX compilation cache {}: 2 programs loaded from it, 0 compiled and written to it".format(folder)
    assert first == [
        "traced with Brax imported",
        "JAX compilation cache {}: 0 programs loaded from it, 2 compiled and written to it".format(folder),
    ]
    exported = [f for f in os.listdir(folder) if f.endswith(".npz")]
    assert len(exported) == 1 and len(os.listdir(folder)) == 4  # and the compiled reset and step, Brax's task list
    assert python(COMPILE, tmp_path)[-2:] == ["exported without Brax", loaded]  # (its task list kept too)
    with open(os.path.join(folder, exported[0]), "wb") as f:
        f.write(b"cut short")
    assert python(COMPILE, tmp_path)[-2:] == ["traced with Brax imported", loaded]
    assert python(COMPILE, tmp_path)[-2:] == ["exported without Brax", loaded]  # (written again)


RENDER = COMPILE.replace("print(isaac_env.jax_cache_line())", "print(env.render(0).shape)")


def test_a_warm_start_renders_though_it_imported_no_brax(tmp_path):
    """--video on a warm start: Brax is imported only when rendering asks for its model, and before MuJoCo, whose
    OpenGL Brax's import picks (MuJoCo imported first took no OpenGL on a headless machine, and rendering failed)."""
    python(COMPILE, tmp_path)
    assert python(RENDER, tmp_path)[-2:] == ["exported without Brax", "(240, 320, 3)"]


@pytest.mark.parametrize("module", [ppo_isaac, sac_isaac])
def test_cudagraphs_is_on_by_default_and_no_cudagraphs_is_accepted(module):
    argv = ["--env-name", "Pendulum"]
    assert module.parse_args(argv)[0].cudagraphs is True  # (a CPU run turns it off: see test_cli's learning tests)
    assert module.parse_args(argv + ["--no-cudagraphs"])[0].cudagraphs is False


@pytest.mark.parametrize("module", [ppo_isaac, sac_isaac])
def test_the_simulator_compiles_on_a_thread_while_the_networks_are_built(module):
    """make_envs returns with the Brax env's compilation under way on a thread (the script builds its networks
    meanwhile); the first reset waits for it."""
    argv = ["--env-name", "InvertedPendulum", "--backend", "brax", "--device", "cpu", "--env-num", "6"]
    args = module.parse_args(argv + ["--episode-length", "10", "--eval-env-num", "0"])[0]  # (conftest's brax_env)
    env, eval_env = module.make_envs(args, None)
    assert eval_env is None and env._compiling is not None
    assert env.reset().shape == (6, env.obs_dim)
    assert env._compiling is None and env.compile_seconds > 0
