"""The vec-env contract of isaac_env.py, pinned for every backend: the pure-torch tasks, Brax MJX (a few envs on
the CPU) and Isaac Gym (through the fake in tests/fake_isaacgym, which reproduces its quirks)."""

import os
import subprocess
import sys

import pytest
import torch
from conftest import FAKE_ISAACGYM, ROOT

import isaac_env

ENV_KINDS = ["pendulum", "cartpole", "brax", "isaacgym"]


@pytest.fixture(params=ENV_KINDS)
def env(request):
    if request.param == "brax":
        return request.getfixturevalue("brax_env")
    if request.param == "isaacgym":
        return request.getfixturevalue("isaac_fake_env")
    limit = 40 if request.param == "cartpole" else 10  # random CartPole falls after ~20 steps
    return isaac_env.make_env(request.param, 6, backend="torch", device="cpu", seed=0, max_episode_length=limit)


def random_actions(env, generator):
    return torch.rand(env.num_envs, env.act_dim, generator=generator) * 2 - 1


def test_shapes_dtypes_devices(env):
    obs = env.reset()
    assert obs.shape == (env.num_envs, env.obs_dim) and obs.dtype == torch.float32 and obs.device == env.device
    obs, reward, terminated, truncated, info = env.step(random_actions(env, torch.Generator().manual_seed(0)))
    assert obs.shape == (env.num_envs, env.obs_dim) and obs.dtype == torch.float32
    assert reward.shape == (env.num_envs,) and reward.dtype == torch.float32
    assert terminated.dtype == truncated.dtype == torch.bool
    assert terminated.shape == truncated.shape == (env.num_envs,)
    assert info["final_obs"].shape == obs.shape
    assert info["episode_return"].shape == info["episode_length"].shape == (env.num_envs,)
    for t in (obs, reward, terminated, truncated, info["final_obs"], info["episode_return"]):
        assert t.device == env.device


def test_episode_bookkeeping_over_three_time_limits(env):
    """terminated and truncated never coincide; truncation happens at the time limit; episode_return and
    episode_length are the sums over each finished episode; final_obs equals obs wherever nothing ended."""
    generator = torch.Generator().manual_seed(1)
    env.reset()
    returns = torch.zeros(env.num_envs)
    lengths = torch.zeros(env.num_envs, dtype=torch.long)
    ended = {"terminated": 0, "truncated": 0}
    totals_before, ended_returns, ended_lengths = env.ended.sum(1), 0.0, 0
    for _ in range(3 * env.max_episode_length + 2):
        obs, reward, terminated, truncated, info = env.step(random_actions(env, generator))
        returns += reward
        lengths += 1
        done = terminated | truncated
        assert not (terminated & truncated).any()
        assert torch.equal(info["final_obs"][~done], obs[~done])
        assert torch.allclose(info["episode_return"][done], returns[done], atol=1e-4)
        assert torch.equal(env.last_return[done], info["episode_return"][done])
        if env.backend != "isaacgym":  # no deferred resets: every transition can be learned from
            assert info["valid"].dtype == torch.bool and info["valid"].all()
        assert torch.equal(info["episode_length"][done].long(), lengths[done])
        if env.backend == "isaacgym":  # its reset() spends one step of the first episode; later ones are full
            assert (lengths[truncated] <= env.max_episode_length).all()
        else:
            assert (lengths[truncated] == env.max_episode_length).all()
        assert (lengths[terminated] <= env.max_episode_length).all()
        ended["terminated"] += int(terminated.sum())
        ended["truncated"] += int(truncated.sum())
        ended_returns, ended_lengths = (
            ended_returns + float(returns[done].sum()),
            ended_lengths + int(lengths[done].sum()),
        )
        returns[done], lengths[done] = 0.0, 0
    assert ended["truncated"] > 0
    # env.ended: every ended episode's return and length summed, and their count
    totals = (env.ended.sum(1) - totals_before).tolist()
    assert totals[2] == ended["terminated"] + ended["truncated"] and totals[1] == ended_lengths
    assert abs(totals[0] - ended_returns) < 1e-3 * max(1.0, abs(ended_returns))
    if env.name.lower() in ("cartpole", "inverted_pendulum"):  # tasks that random actions fail quickly
        assert ended["terminated"] > 0


def test_resets_differ_between_envs(env):
    obs = env.reset()
    assert torch.unique(obs, dim=0).shape[0] == env.num_envs
    generator = torch.Generator().manual_seed(2)
    restarts = 0
    for _ in range(2 * env.max_episode_length + 2):
        obs, _, terminated, truncated, _ = env.step(random_actions(env, generator))
        done = terminated | truncated
        if env.backend == "isaacgym":
            continue  # deferred resets: checked in test_isaacgym_deferred_reset
        if int(done.sum()) >= 2:
            assert torch.unique(obs[done], dim=0).shape[0] == int(done.sum())
            restarts += 1
    assert restarts > 0 or env.backend == "isaacgym"


@pytest.mark.parametrize("name", ["pendulum", "cartpole"])
def test_torch_final_obs_is_the_state_reached_before_reset(name):
    env = isaac_env.make_env(name, 16, backend="torch", device="cpu", seed=0, max_episode_length=7)
    env.reset()
    generator = torch.Generator().manual_seed(3)
    restarted = 0
    for _ in range(30):
        actions = random_actions(env, generator)
        expected = env._observe(env._dynamics(env.state.clone(), actions)[0])
        obs, _, terminated, truncated, info = env.step(actions)
        done = terminated | truncated
        assert torch.allclose(info["final_obs"], expected)
        assert not torch.isclose(obs[done], info["final_obs"][done]).all(dim=1).any()
        restarted += int(done.sum())
    assert restarted > 0


def test_brax_final_obs_is_the_state_reached_before_reset(brax_env):
    import jax

    plain_step = jax.jit(jax.vmap(brax_env.env.step))  # Brax's own step, with no reset after it
    brax_env.reset()
    generator = torch.Generator().manual_seed(4)
    restarted = 0
    for _ in range(25):
        actions = random_actions(brax_env, generator)
        state_before = brax_env.brax_state()
        obs, _, terminated, truncated, info = brax_env.step(actions)
        expected = torch.from_dlpack(plain_step(state_before, jax.numpy.asarray(actions.numpy())).obs)
        done = terminated | truncated
        assert torch.allclose(info["final_obs"], expected, atol=1e-5)
        assert not torch.isclose(obs[done], info["final_obs"][done]).all(dim=1).any()
        restarted += int(done.sum())
    assert restarted > 0


class Recorder:
    """An evaluation riding on an env's riders (VecEnv.ride): acts with tanh(obs) and keeps what it is told."""

    def __init__(self):
        self.obs, self.actions, self.rewards, self.dones = [], [], [], []

    def act(self, obs):
        self.obs.append(obs.clone())
        self.actions.append(torch.tanh(obs[:, :1]))
        return self.actions[-1]

    def record(self, reward, done):
        self.rewards.append(reward.clone())
        self.dones.append(done.clone())


@pytest.mark.parametrize("kind", ["pendulum", "brax"])
def test_riders_run_an_evaluation_beside_and_never_touch_the_training_envs(kind, request):
    """Two envs of one seed with riders, one of them riding: their training envs give the very same outputs. The
    riders restart at the first step, then act with the evaluation's actions: their rewards are the simulator's own
    for those states and actions, and an episode is told to have ended at the time limit or on termination."""
    if kind == "brax":  # 4 + 2 envs: brax_env's shape, whose compiled functions are shared
        import jax

        plain_step = jax.jit(jax.vmap(request.getfixturevalue("brax_env").env.step))  # Brax's own, no reset after it

        def make():
            return isaac_env.make_env(
                "InvertedPendulum", 4, backend="brax", device="cpu", seed=5, max_episode_length=10, riders=2
            )

        def simulate(env, actions):  # every env's reward for these actions, riders' too
            return torch.from_dlpack(plain_step(env.brax_state(), jax.numpy.asarray(actions.numpy())).reward)
    else:

        def make():
            return isaac_env.make_env(
                "pendulum", 4, backend="torch", device="cpu", seed=5, max_episode_length=10, riders=3
            )

        def simulate(env, actions):
            return env._dynamics(env.state, actions)[1]

    riding, plain = make(), make()
    assert riding.num_envs == 4 and riding.riders in (2, 3)
    riding.reset(), plain.reset()
    recorder, generator = Recorder(), torch.Generator().manual_seed(2)
    riding.ride(recorder)
    for t in range(25):
        actions = random_actions(riding, generator)
        acted = len(recorder.actions)
        if t > 0:  # (the first step restarts the riders: nothing to act on yet)
            rewards = simulate(riding, torch.cat([actions, torch.tanh(riding._rider_obs[:, :1])]).clamp(-1, 1))
        out_riding, out_plain = riding.step(actions), plain.step(actions)
        for a, b in zip(out_riding[:4], out_plain[:4]):
            assert torch.equal(a, b)
        for key in ("final_obs", "episode_return", "valid"):
            assert torch.equal(out_riding[4][key], out_plain[4][key])
        assert len(recorder.actions) == acted + (t > 0)
        if t > 0:
            assert torch.allclose(recorder.rewards[-1], rewards[4:], atol=1e-5)
    steps = torch.arange(1, 25)[:, None].expand(-1, riding.riders)  # steps since the riders restarted
    dones = torch.stack(recorder.dones)
    if kind == "pendulum":  # no termination: exactly at the limit
        assert torch.equal(dones, steps % 10 == 0)
    else:
        assert dones.any(0).all()
    riding.ride(None)
    riding.step(actions)
    assert len(recorder.actions) == 24


def test_brax_returned_tensors_do_not_alias_simulator_state(brax_env):
    """torch.from_dlpack shares memory with JAX, which treats its arrays as immutable: writing into a returned
    tensor must not change the simulation. Two envs of one seed must stay identical when one is scribbled on."""
    # the same shape as brax_env, so the compiled functions are shared and nothing compiles again
    env_a, env_b = (
        isaac_env.make_env(
            "InvertedPendulum", brax_env.num_envs, backend="brax", device="cpu", seed=5, max_episode_length=10
        )
        for _ in range(2)
    )
    env_a.reset(), env_b.reset()
    actions = torch.full((env_a.num_envs, env_a.act_dim), 0.3)
    for _ in range(20):
        out_a, out_b = env_a.step(actions), env_b.step(actions)
        for a, b in zip(out_a[:4], out_b[:4]):
            assert torch.equal(a, b)
        out_a[0].add_(100.0)
        out_a[4]["final_obs"].mul_(-7.0)
        out_a[1].add_(5.0)


def test_a_brax_compilation_that_fails_on_its_thread_fails_the_first_reset(brax_env, monkeypatch):
    """compile() compiles the step beside the reset; compile(background=True) does so on a thread of its own, and
    what fails there (XLA running out of memory, say) is raised by the first reset, which waits for it: once."""
    env = isaac_env.make_env(
        "InvertedPendulum", brax_env.num_envs, backend="brax", device="cpu", seed=5, max_episode_length=10
    )  # (brax_env's shape: nothing compiles again)

    def failing_step(*args):
        raise RuntimeError("RESOURCE_EXHAUSTED: out of memory")

    monkeypatch.setattr(env, "_step", failing_step)
    with pytest.raises(RuntimeError, match="out of memory"):
        env.compile()
    env.compile(background=True)
    with pytest.raises(RuntimeError, match="out of memory"):
        env.reset()
    assert env.reset().shape == (env.num_envs, env.obs_dim)


def test_isaacgym_quirks_are_absorbed(isaac_fake_env):
    import isaacgymenvs.tasks

    raw = isaacgymenvs.tasks.Ant(4, "cpu", "cpu")
    assert torch.count_nonzero(raw.reset()["obs"]) == 0  # the quirk: zeros before the first step
    assert torch.count_nonzero(isaac_fake_env.reset()) > 0  # the adapter returns real observations
    _, reward_1, _, _ = raw.step(torch.zeros(4, 8))
    _, reward_2, _, _ = raw.step(torch.ones(4, 8))
    assert reward_1.data_ptr() == reward_2.data_ptr()  # the quirk: the same buffer, overwritten

    ones = torch.ones(isaac_fake_env.num_envs, isaac_fake_env.act_dim)
    _, kept_reward, kept_terminated, _, _ = isaac_fake_env.step(ones)
    kept = kept_reward.clone(), kept_terminated.clone()
    isaac_fake_env.step(-ones)
    assert torch.equal(kept_reward, kept[0]) and torch.equal(kept_terminated, kept[1])


def test_isaacgym_deferred_reset(isaac_fake_env):
    """An env flagged done at step t restarts during step t+1: its obs at t is its final one, and at t+1 it
    is a fresh start (the fake's progress feature, obs[:, 24], is back to 0)."""
    env = isaac_fake_env
    env.reset()
    actions = torch.zeros(env.num_envs, env.act_dim)
    actions[:, 1] = 1.0  # drift sideways until the point mass "falls" (terminates)
    saw_termination = saw_truncation = False
    for _ in range(3 * env.max_episode_length):
        obs, _, terminated, truncated, info = env.step(actions)
        done = terminated | truncated
        saw_termination |= bool(terminated.any())
        saw_truncation |= bool(truncated.any())
        if done.any():
            assert torch.equal(info["final_obs"][done], obs[done])
            next_obs, _, _, _, _ = env.step(actions)
            assert (next_obs[done, 24] == 0).all() and (obs[done, 24] > 0).all()
    assert saw_termination
    actions[:, 1] = 0.0
    env.reset()
    for _ in range(2 * env.max_episode_length):
        _, _, terminated, truncated, _ = env.step(actions)
        saw_truncation |= bool(truncated.any())
    assert saw_truncation


def test_isaacgym_marks_the_cross_episode_step_invalid(isaac_fake_env):
    """The step after a done starts from the old episode's final observation and ends in the new one: info["valid"]
    is False there, and only there. The new episode's first observation carries a stale sensor channel."""
    env = isaac_fake_env
    env.reset()
    actions = torch.zeros(env.num_envs, env.act_dim)
    actions[:, 1] = 1.0  # drift sideways until the point mass "falls"
    previous_done = torch.zeros(env.num_envs, dtype=torch.bool)
    checked = 0
    for _ in range(2 * env.max_episode_length):
        obs, _, terminated, truncated, info = env.step(actions)
        assert torch.equal(info["valid"], ~previous_done)
        if previous_done.any():  # the fresh start's velocity is small, its sensor still reads the old speed
            fresh = obs[previous_done]
            assert (fresh[:, 25] > fresh[:, 8:16].norm(dim=1) + 0.1).all() and (fresh[:, 24] < 0.05).all()
            checked += int(previous_done.sum())
        previous_done = terminated | truncated
    assert checked > 0


def test_isaacgym_reset_restarts_every_env_and_make_quirks(isaac_fake_env):
    import isaacgymenvs

    env = isaac_fake_env
    env.reset()
    for _ in range(5):
        obs, _, _, _, _ = env.step(torch.ones(env.num_envs, env.act_dim))
    assert (obs[:, 24] > 0).all()  # progress through the episode
    assert (env.reset()[:, 24] == 0).all()  # reset() restarts every env (VecTask.reset() alone would not)
    # the quirks: make() again silently returns the simulation there is, whatever it asks for; make_env refuses
    assert isaacgymenvs.make(seed=5, task="Humanoid", num_envs=2, sim_device="cpu", rl_device="cpu") is env.env
    with pytest.raises(isaac_env.EnvError, match="one simulation per process"):
        isaac_env.make_env("Ant", 4, backend="isaacgym", device="cpu")


def test_isaacgym_make_ignores_its_seed():
    """isaacgymenvs.make takes a seed and ignores it: resets draw from torch's global generator."""
    import isaacgymenvs

    made, first_obs = list(isaacgymenvs._made), []  # (a session's fixture holds the one simulation of this process)
    try:
        for seed in (1, 2):
            isaacgymenvs._clear()
            torch.manual_seed(7)
            task = isaacgymenvs.make(seed, "Ant", 4, "cpu", "cpu")
            task.step(torch.zeros(4, 8))
            first_obs.append(task.obs_buf.clone())
    finally:
        isaacgymenvs._made[:] = made
    assert torch.equal(*first_obs) and first_obs[0].abs().sum() > 0
    out = _python(
        "import isaacgym, torch, isaacgymenvs\ntorch.manual_seed(7)\n"
        "t = isaacgymenvs.make(seed=123, task='Ant', num_envs=4, sim_device='cpu', rl_device='cpu')\n"
        "t.step(torch.zeros(4, 8))\nprint(round(float(t.obs_buf.abs().sum()), 4))",
        fake_isaacgym=True,
    )
    assert out.returncode == 0 and float(out.stdout) == round(float(first_obs[0].abs().sum()), 4), out.stderr


def _python(code, fake_isaacgym):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(([FAKE_ISAACGYM] if fake_isaacgym else []) + [ROOT]))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_isaacgym_must_be_imported_before_torch():
    wrong = _python(
        "import torch, isaac_env\nprint(isaac_env.ISAACGYM_IMPORT_ERROR)\n"
        "try:\n    isaac_env.make_env('Ant', 4)\nexcept isaac_env.EnvError as e:\n    print('EnvError', e)",
        fake_isaacgym=True,
    )
    assert "PyTorch was imported before isaacgym" in wrong.stdout, wrong.stderr
    assert "EnvError" in wrong.stdout and "import isaac_env before torch" in wrong.stdout
    right = _python(
        "import isaac_env, torch\nprint(isaac_env.ISAACGYM_IMPORT_ERROR, isaac_env.resolve('ant'))", fake_isaacgym=True
    )
    assert right.stdout.strip() == "None ('isaacgym', 'Ant')", right.stderr


def test_auto_backend_and_case_insensitive_names():
    assert isaac_env.resolve("ANT") == ("isaacgym", "Ant")  # the fake is importable in this process
    out = _python(
        "import isaac_env\nfor n in ('ANT', 'pendulum', 'HalfCheetah', 'inverted-pendulum'):\n"
        "    print(*isaac_env.resolve(n))",
        fake_isaacgym=False,
    )
    assert out.stdout.split("\n")[:4] == ["brax ant", "torch pendulum", "brax halfcheetah", "brax inverted_pendulum"], (
        out.stderr
    )


def test_unknown_task_and_bad_sizes_raise_env_error():
    with pytest.raises(isaac_env.EnvError, match="unknown env 'Nope'.*pendulum"):
        isaac_env.make_env("Nope", 4)
    with pytest.raises(isaac_env.EnvError, match="positive"):
        isaac_env.make_env("Pendulum", 0)
    with pytest.raises(isaac_env.EnvError, match="'tpu9' is not a torch device"):
        isaac_env.make_env("Pendulum", 4, device="tpu9")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert isaac_env.make_env("Pendulum", 4, device="auto").device.type == expected
    if not torch.cuda.is_available():
        with pytest.raises(isaac_env.EnvError, match="no CUDA GPU"):
            isaac_env.make_env("Pendulum", 4, device="cuda")


def test_a_brax_task_without_an_mjx_version_is_one_clear_error():
    """Brax lists swimmer, which has no MJX version: one EnvError that says so (the scripts print it as one line),
    not Brax's ValueError from deep in its constructor."""
    pytest.importorskip("brax")
    assert "swimmer" in isaac_env.available_tasks()["brax"]  # (else this checks nothing: Brax changed)
    with pytest.raises(isaac_env.EnvError, match="Brax's swimmer has no MJX version .*Unsupported backend: mjx"):
        isaac_env.make_env("swimmer", 2, backend="brax", device="cpu")


def test_under_torchrun_each_rank_lists_its_own_gpu_first(monkeypatch):
    # Before CUDA starts, the local rank's GPU goes first in CUDA_VISIBLE_DEVICES: torch and JAX then take it as GPU 0
    # (JAX alone on it), and the other GPUs stay visible behind it for NCCL's direct paths. Decided once per process.
    import isaac_env

    for visible, world, rank, expected in [
        ("4,5,6,7", "4", "1", "5,4,6,7"),
        (None, "4", "2", "2,0,1,3"),
        (None, "2", "0", "0,1"),
    ]:
        monkeypatch.setattr(isaac_env, "_RANK_GPU", [])
        monkeypatch.setenv("LOCAL_RANK", rank)
        monkeypatch.setenv("LOCAL_WORLD_SIZE", world)
        if visible is None:
            monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
        else:
            monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
        assert isaac_env._local_rank_gpu() == "cuda:0" and os.environ["CUDA_VISIBLE_DEVICES"] == expected
        assert isaac_env._local_rank_gpu() == "cuda:0" and os.environ["CUDA_VISIBLE_DEVICES"] == expected  # once


def test_brax_restarts_an_env_whose_simulation_blew_up(brax_env):
    # MJX has no check for a simulation that diverged; a NaN action makes one (the adapter passes NaN through its clip)
    brax_env.reset()
    before = int(brax_env.nonfinite_resets)
    actions = torch.zeros(brax_env.num_envs, brax_env.act_dim)
    actions[2] = float("nan")
    obs, reward, terminated, truncated, info = brax_env.step(actions)
    assert bool(torch.isfinite(obs).all() & torch.isfinite(reward).all() & torch.isfinite(info["final_obs"]).all())
    assert info["valid"].tolist() == [True, True, False, True, True, True]  # not to be learned from
    assert bool(truncated[2]) and not bool(terminated[2]) and float(reward[2]) == 0.0
    assert bool((info["final_obs"][2] == 0).all()) and int(brax_env.nonfinite_resets) == before + 1
    obs, _, _, _, info = brax_env.step(torch.zeros(brax_env.num_envs, brax_env.act_dim))
    assert bool(torch.isfinite(obs).all()) and bool(info["valid"].all())  # it restarted from a fresh state


@pytest.mark.parametrize("speed, diverged", [(5e4, True), (1e3, False)])
def test_brax_restarts_a_simulation_that_diverges_long_before_it_overflows(brax_env, speed, diverged):
    """A finite velocity past isaac_env.DIVERGED (1e4) counts as a blow-up, as MuJoCo's own 1e10 or a NaN does, so
    that the values on the way there never reach a normaliser; below it, nothing happens."""
    import jax

    brax_env.reset()
    before, state = int(brax_env.nonfinite_resets), brax_env.brax_state()
    qvel = state.pipeline_state.qvel.at[1].set(speed)
    brax_env._state = jax.tree_util.tree_leaves(state.replace(pipeline_state=state.pipeline_state.replace(qvel=qvel)))
    _, _, _, truncated, info = brax_env.step(torch.zeros(brax_env.num_envs, brax_env.act_dim))
    assert info["valid"].tolist() == [True, not diverged, True, True, True, True]
    assert int(brax_env.nonfinite_resets) == before + diverged and bool(truncated[1]) == diverged


def test_render_says_plainly_where_it_cannot(isaac_fake_env):
    with pytest.raises(isaac_env.EnvError, match="not supported on Isaac Gym here: its viewer needs a display"):
        isaac_fake_env.render(0)
    with pytest.raises(isaac_env.EnvError, match="the torch task Pendulum has none"):
        isaac_env.make_env("Pendulum", 2, backend="torch", device="cpu").render(0)
