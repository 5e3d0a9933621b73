"""ppo_isaac.py and sac_isaac.py through their real command lines, in subprocesses: learning, every backend,
checkpoints, resume, evaluation-only, bad input, the NaN guard, seeding and Ctrl-C."""

import ctypes.util
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import ROOT, run_ppo

import isaac_env
import ppo_isaac
import sac_isaac


def summary(run_dir):
    with open(os.path.join(run_dir, "summary.json")) as f:
        return json.load(f)


SCRIPTS = ["ppo_isaac.py", "sac_isaac.py"]
# Small SAC settings for runs that only check plumbing on a CPU (its defaults are sized for a GPU).
TINY_SAC = ["--net-dim", "32", "--batch-size", "64", "--learning-starts", "2", "--horizon", "8"]


def tiny(script, *args):
    return list(args) + (TINY_SAC if script == "sac_isaac.py" else [])


def assert_one_line_error(result, *fragments, script="ppo_isaac.py"):
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(script + ": error:"), result.stderr
    for fragment in fragments:
        assert fragment in last, last


# ---------------------------------------------------------------------------------------------- learning
PENDULUM_THRESHOLD = -400.0  # a random policy scores about -1200 here, a trained one about -200


def test_random_policy_misses_the_pendulum_threshold():
    env = isaac_env.make_env("Pendulum", 64, backend="torch", seed=123)
    env.reset()
    generator = torch.Generator().manual_seed(0)
    returns = []
    for _ in range(2 * env.max_episode_length):
        _, _, terminated, truncated, info = env.step(torch.rand(64, 1, generator=generator) * 2 - 1)
        returns += info["episode_return"][terminated | truncated].tolist()
    assert len(returns) == 128
    best_16 = sorted(returns)[-16:]  # even the 16 luckiest random episodes stay far below the threshold
    assert sum(returns) / len(returns) < -1000 and sum(best_16) / 16 < PENDULUM_THRESHOLD - 100


def test_ppo_learns_pendulum(tmp_path):  # the README's CPU demo, as written there
    result = run_ppo("--env-name", "Pendulum", "--env-num", 64, "--device", "cpu", "--run-name", "learn", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    s = summary(tmp_path / "runs" / "learn")
    assert s["status"] == "completed" and s["steps"] >= 300_000 and s["backend"] == "torch"
    assert s["final_eval_return"] > PENDULUM_THRESHOLD, s  # margin: random -1200, trained about -200
    for key in ("env", "env_num", "device", "wall_seconds", "sps", "best_eval_return", "seconds_to_target"):
        assert key in s
    assert s["seconds_to_target"] is None and s["evals"][-1][1] == s["steps"]
    # what the number is: 16 deterministic episodes on riders of the training simulation, their spread, and where
    # it came from; a CPU run is eager (--cudagraphs is on by default on a GPU only); how long it took to start
    assert s["eval_mode"] == "deterministic, beside training, on riders of the training envs"
    assert s["eval_episodes"] == 16 and s["evals"][-1][4] == 16 and s["args"]["cudagraphs"] is False
    assert 0 < s["startup"]["imports"] <= s["startup_seconds"] == s["startup"]["training_started"] < s["wall_seconds"]
    assert 0 < s["first_eval_seconds"] < s["wall_seconds"] and s["jax_cache"] is None
    assert s["final_eval_std"] == s["evals"][-1][3] and 0 < s["final_eval_std"] < 1000
    assert s["args"]["env_name"] == "Pendulum" and s["args"]["minibatches"] == 4 and s["host"]
    assert all(s["versions"][name] for name in ("torch", "jax", "brax", "mujoco", "mujoco-mjx"))
    if os.path.isdir(os.path.join(ROOT, ".git")):
        assert len(s["commit"]) == 40 and isinstance(s["dirty"], bool)
        # and what ran, by content: git's ids of the files, which name their commits where a .git is stale or gone
        names = ["ppo_isaac.py", "isaac_env.py"]
        ids = subprocess.run(["git", "hash-object"] + names, cwd=ROOT, capture_output=True, text=True).stdout.split()
        assert s["files"] == dict(zip(names, ids))


def test_sac_learns_pendulum(tmp_path):  # the README's CPU demo, as written there
    result = run_ppo(
        "--env-name",
        "Pendulum",
        "--env-num",
        64,
        "--device",
        "cpu",
        "--run-name",
        "learn",
        cwd=tmp_path,
        script="sac_isaac.py",
    )
    assert result.returncode == 0, result.stderr
    s = summary(tmp_path / "runs" / "learn")
    assert s["status"] == "completed" and s["steps"] >= 24_000 and s["backend"] == "torch"
    assert s["final_eval_return"] > PENDULUM_THRESHOLD, s  # margin: random -1200, trained about -170


def test_sac_compiled_bf16_path_runs(tmp_path):
    result = run_ppo(
        "--env-name",
        "Pendulum",
        "--env-num",
        16,
        "--total-timesteps",
        16 * 24,
        "--compile",
        "--bf16",
        "--run-name",
        "fast",
        *TINY_SAC,
        cwd=tmp_path,
        script="sac_isaac.py",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    s = summary(tmp_path / "runs" / "fast")
    assert s["steps"] == 16 * 24 and s["final_eval_return"] < 0


# ---------------------------------------------------------------------------------------------- backends
def assert_video(folder, path, printed):  # an mp4 of 320 x 240 frames, one per step of the episode printed beside it
    import imageio.v3 as iio

    line = next(line for line in printed.splitlines() if line.startswith("video: " + path))
    frames = iio.imread(folder / path)
    assert frames.shape == (int(line.split(" over ")[1].split()[0]), 240, 320, 3) and frames.std() > 10, line


@pytest.mark.parametrize("script", SCRIPTS)
def test_short_brax_run_on_cpu_with_video(tmp_path, script, monkeypatch, capsys):
    extra = ["--buffer-size", 600] if script == "sac_isaac.py" else ["--horizon", 8, "--track"]  # (W&B: PPO's)
    result = run_ppo(
        "--env-name",
        "inverted_pendulum",
        "--env-num",
        6,
        "--episode-length",
        10,
        *extra,
        "--total-timesteps",
        96,
        "--eval-env-num",
        6,
        "--eval-times",
        6,
        "--run-name",
        "brax",
        *tiny(script),
        "--video",
        cwd=tmp_path,
        script=script,
        extra_env={"WANDB_MODE": "offline", "WANDB_SILENT": "true"},
    )
    assert result.returncode == 0, result.stderr  # (evaluation envs of the training envs' shape: one MJX compilation)
    assert "on brax (6 envs), obs 4, act 1" in result.stdout and "compiling the simulator" in result.stdout
    assert "Brax System" not in result.stderr and "ret=nan" not in result.stderr  # no console noise
    s = summary(tmp_path / "runs" / "brax")
    assert s["backend"] == "brax" and s["steps"] == 96 and s["final_eval_return"] > 0 and s["nonfinite_resets"] == 0
    assert_video(tmp_path, "runs/brax/videos/step_96.mp4", result.stdout)  # the one evaluation's (at the end)
    if script == "ppo_isaac.py":  # and the video went to Weights & Biases
        assert list((tmp_path / "runs" / "brax" / "wandb").glob("offline-run-*/files/media/videos/video_96_*.mp4"))
    monkeypatch.chdir(tmp_path)  # a checkpoint's video, in-process: the env's shape is compiled in this process too
    module = ppo_isaac if script == "ppo_isaac.py" else sac_isaac
    module.main(
        *module.parse_args(["--checkpoint", "runs/brax/best.pt", "--eval-only", "--video", "--eval-times", "6"])
    )
    assert_video(tmp_path, "runs/brax/videos/best.mp4", capsys.readouterr().out)


def test_video_without_opengl_is_one_line(tmp_path):
    result = run_ppo(
        "--env-name",
        "inverted_pendulum",
        "--env-num",
        6,
        "--episode-length",
        10,
        "--eval-env-num",
        6,
        "--video",
        cwd=tmp_path,
        extra_env={"MUJOCO_GL": "disable"},
    )  # as on a machine without OpenGL
    assert_one_line_error(result, "--video renders with MuJoCo through OpenGL, and none works here", "libegl1")


@pytest.mark.parametrize("script", SCRIPTS)
def test_fake_isaacgym_end_to_end(tmp_path, script):
    result = run_ppo(
        "--env-name",
        "Ant",
        "--env-num",
        64,
        "--total-timesteps",
        64 * 16 * 3,
        "--run-name",
        "isaac",
        "--episode-length",
        20,
        "--save-gap",
        0,
        *tiny(script),
        cwd=tmp_path,
        fake_isaacgym=True,
        script=script,
    )
    assert result.returncode == 0, result.stderr
    assert "on isaacgym (64 envs), obs 60, act 8" in result.stdout
    assert "allows one simulation per process" in result.stdout
    s = summary(tmp_path / "runs" / "isaac")
    assert s["backend"] == "isaacgym" and s["steps"] == 3072 and s["evals"] and s["final_eval_return"] > 0
    # training episodes: each env's latest, at most one per env
    assert s["eval_mode"] == "stochastic, training envs' latest episodes" and 0 < s["evals"][-1][4] <= 64
    evaluation = run_ppo(
        "--checkpoint",
        tmp_path / "runs" / "isaac" / "checkpoint.pt",
        "--eval-only",
        "--eval-times",
        2,
        cwd=tmp_path,
        fake_isaacgym=True,
        script=script,
    )
    assert evaluation.returncode == 0, evaluation.stderr
    assert json.loads(evaluation.stdout.strip().splitlines()[-1])["episodes"] == 2


# ---------------------------------------------------------------------------------------------- checkpoints
def test_track_mirrors_scalars_and_settings_to_wandb_offline(tmp_path):
    result = run_ppo(
        "--env-name",
        "Pendulum",
        "--env-num",
        64,
        "--horizon",
        16,
        "--total-timesteps",
        2048,
        "--run-name",
        "tracked",
        "--track",
        "--wandb-project-name",
        "tests",
        cwd=tmp_path,
        extra_env={"WANDB_MODE": "offline", "WANDB_SILENT": "true"},
    )
    assert result.returncode == 0, result.stderr
    runs = list((tmp_path / "runs" / "tracked" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1, runs  # one run, in the run's own folder
    log = runs[0].read_bytes()  # wandb's record of the run: TensorBoard's scalars and the settings went in
    for name in (b"losses/policy_loss", b"charts/SPS", b"charts/eval_return", b"kl_target", b"tests"):
        assert name in log, name
    assert summary(tmp_path / "runs" / "tracked")["status"] == "completed"


def test_checkpoint_round_trip_resume_and_eval_only(tmp_path, capsys):
    first = run_ppo(
        "--env-name",
        "Pendulum",
        "--env-num",
        64,
        "--horizon",
        16,
        "--total-timesteps",
        2048,
        "--run-name",
        "ck",
        "--save-gap",
        0,
        cwd=tmp_path,
    )
    assert first.returncode == 0, first.stderr
    path = tmp_path / "runs" / "ck" / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    assert state["global_step"] == 2048 and state["env_name"] == "Pendulum" and state["args"]["env_num"] == 64
    agent = ppo_isaac.Agent(state["obs_dim"], state["act_dim"], state["args"]["net_dim"])
    agent.load_state_dict(state["agent"])
    assert torch.equal(agent.obs_rms.mean, state["agent"]["obs_rms.mean"]) and agent.obs_rms.count > 1000
    assert os.path.exists(tmp_path / "runs" / "ck" / "best.pt")

    first_summary = summary(tmp_path / "runs" / "ck")

    # resume: the env count and task come from the checkpoint; only the step budget is new
    second = run_ppo("--resume", path, "--total-timesteps", 4096, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    s = summary(tmp_path / "runs" / "ck")
    assert s["steps"] == 4096 and s["env_num"] == 64 and s["env"] == "Pendulum"
    assert len(s["evals"]) == 2 and s["evals"][0][1] == 2048 and s["evals"][1][1] == 4096
    assert s["evals"][1][0] > s["evals"][0][0]  # wall seconds carry on from the first run
    assert s["train_seconds"] > first_summary["train_seconds"] and s["sps"] > 0  # whole-run figures

    # resuming the finished run again: it says so and changes nothing (in this process: it stops before any env)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        ppo_isaac.parse_args(["--resume", str(path)])
    assert stop.value.code == 0 and "has finished (4096 of 4096 steps" in capsys.readouterr().out
    assert summary(tmp_path / "runs" / "ck") == s
    resumed = torch.load(path, weights_only=True)
    assert not torch.equal(resumed["agent"]["critic.0.weight"], state["agent"]["critic.0.weight"])

    ppo_isaac.main(*ppo_isaac.parse_args(["--checkpoint", str(path), "--eval-only", "--eval-times", "3"]))  # (here too)
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["episodes"] == 3 and result["env"] == "Pendulum" and -2000 < result["eval_return"] < 0


def test_sac_checkpoint_round_trip_resume_and_eval_only(tmp_path):
    first = run_ppo(
        "--env-name",
        "Pendulum",
        "--env-num",
        16,
        "--total-timesteps",
        16 * 40,
        "--run-name",
        "ck",
        "--save-gap",
        0,
        *TINY_SAC,
        cwd=tmp_path,
        script="sac_isaac.py",
    )
    assert first.returncode == 0, first.stderr
    path = tmp_path / "runs" / "ck" / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    assert state["global_step"] == 640 and state["args"]["env_num"] == 16 and state["args"]["batch_size"] == 64
    import sac_isaac

    actor = sac_isaac.Actor(state["obs_dim"], state["act_dim"], state["args"]["net_dim"])
    actor.load_state_dict(state["actor"])
    assert actor.obs_rms.count > 600
    second = run_ppo("--resume", path, "--total-timesteps", 16 * 80, cwd=tmp_path, script="sac_isaac.py")
    assert second.returncode == 0, second.stderr
    s = summary(tmp_path / "runs" / "ck")
    assert s["steps"] == 1280 and s["env_num"] == 16 and len(s["evals"]) == 2 and s["evals"][0][1] == 640
    resumed = torch.load(path, weights_only=True)
    assert not torch.equal(resumed["critic"]["q1.0.weight"], state["critic"]["q1.0.weight"])
    # The replay rings are not saved: after a resume, learning waits again until they hold --learning-starts steps
    # per env (here 9, more than the one iteration of 8 steps this run adds), so the critics do not change.
    third = run_ppo(
        "--resume", path, "--total-timesteps", 16 * 88, "--learning-starts", 9, cwd=tmp_path, script="sac_isaac.py"
    )
    assert third.returncode == 0, third.stderr
    waited = torch.load(path, weights_only=True)
    assert waited["global_step"] == 16 * 88
    assert torch.equal(waited["critic"]["q1.0.weight"], resumed["critic"]["q1.0.weight"])
    evaluation = run_ppo("--checkpoint", path, "--eval-only", "--eval-times", 2, cwd=tmp_path, script="sac_isaac.py")
    assert evaluation.returncode == 0, evaluation.stderr
    assert json.loads(evaluation.stdout.strip().splitlines()[-1])["episodes"] == 2


# ---------------------------------------------------------------------------------------------- evaluation
def in_process(module, argv):  # a run in this process (no seconds of imports), its signal handlers restored after
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        module.main(*module.parse_args([str(a) for a in argv]))
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_target_stops_training_only_when_an_evaluation_during_training_reaches_it(tmp_path, monkeypatch, script):
    """--target-return: "target_reached" is a run that stopped early for it; a run that trained its whole budget is
    "completed" even where its final evaluation is the first to reach the target (the return-at-budget columns of the
    benchmarks count completed runs only)."""
    module = ppo_isaac if script == "ppo_isaac.py" else sac_isaac
    monkeypatch.chdir(tmp_path)
    common = ["--env-name", "Pendulum", "--env-num", 16, "--total-timesteps", 4096, "--target-return", -1e9]
    common += ["--episode-length", 20, "--eval-env-num", 4, "--eval-times", 4]
    in_process(module, tiny(script, *common, "--eval-gap", 1e9, "--run-name", "final"))  # the final evaluation only
    in_process(module, tiny(script, *common, "--eval-gap", 0, "--run-name", "during"))  # one at every iteration
    final, during = summary(tmp_path / "runs" / "final"), summary(tmp_path / "runs" / "during")
    assert final["status"] == "completed" and final["steps"] >= 4096 and len(final["evals"]) == 1
    assert final["seconds_to_target"] is not None  # (it did reach it, at the end)
    assert during["status"] == "target_reached" and during["steps"] < 4096


@pytest.mark.parametrize("script", SCRIPTS)
def test_evaluations_run_beside_training_on_copies_and_leave_it_as_it_was(tmp_path, monkeypatch, script):
    """The default (--async-eval) with --eval-gap 0: an evaluation is due at every iteration's end. Each rides on the
    training envs' riders, 21 env steps for one 20-step episode per rider (a restart, then the episode): nearly 3
    iterations of 8 steps, while training goes on; each is of the step it started at. Training ends with the very
    weights of a run that evaluates only at the end."""
    module = ppo_isaac if script == "ppo_isaac.py" else sac_isaac
    monkeypatch.chdir(tmp_path)
    steps = 16 * 8 * 12  # 12 iterations of 16 envs x 8 steps
    common = [
        "--env-name",
        "Pendulum",
        "--env-num",
        16,
        "--horizon",
        8,
        "--total-timesteps",
        steps,
        "--seed",
        3,
        "--episode-length",
        20,
        "--eval-env-num",
        4,
        "--eval-times",
        4,
    ]
    common += TINY_SAC[:-2] if script == "sac_isaac.py" else ["--minibatches", 2]
    copied = []  # the parts that each evaluation's copies hold: the policy's only (not the critics or optimisers)
    start_evaluation = module.Run.start_evaluation
    monkeypatch.setattr(
        module.Run, "start_evaluation", lambda run: [start_evaluation(run), copied.append(sorted(run.copies or []))]
    )
    in_process(module, common + ["--eval-gap", 0, "--run-name", "often"])
    assert copied and all(names == (["agent"] if script == "ppo_isaac.py" else ["actor"]) for names in copied)
    in_process(module, common + ["--eval-gap", 1e9, "--run-name", "once"])
    often, once = summary("runs/often"), summary("runs/once")
    assert often["eval_mode"] == "deterministic, beside training, on riders of the training envs"
    evaluated = [e[1] for e in often["evals"]]
    assert evaluated[0] == 128 and evaluated[-1] == steps and len(evaluated) >= 3
    assert all(b - a == 3 * 128 for a, b in zip(evaluated[:-2], evaluated[1:-1]))  # training went on meanwhile
    assert all(e[4] == 4 for e in often["evals"])
    assert [e[1] for e in once["evals"]] == [steps]
    a, b = (torch.load(os.path.join("runs", name, "checkpoint.pt"), weights_only=True) for name in ("often", "once"))
    for part in module.CHECKPOINT_PARTS:
        flat = [torch.utils._pytree.tree_flatten(x[part])[0] for x in (a, b)]
        assert all(torch.equal(x, y) if torch.is_tensor(x) else x == y for x, y in zip(*flat)), part
    best = torch.load(os.path.join("runs", "often", "best.pt"), weights_only=True)  # of the best one's step
    assert (
        best["global_step"] == max(often["evals"], key=lambda e: e[2])[1]
        and best["evals"][-1][1] == best["global_step"]
    )


@pytest.mark.parametrize("script", SCRIPTS)
def test_best_checkpoints_do_not_postpone_the_periodic_one(script):
    """Evaluations that keep improving write best.pt often; the periodic checkpoint.pt stays due save_gap after the
    last checkpoint.pt all the same, so that a crash finds a recent one."""
    module = ppo_isaac if script == "ppo_isaac.py" else sac_isaac

    class Stub:  # what Run.save uses of a run
        last_save, written = 5.0, []

        def write(self, name, write):
            self.written.append(name)

        def state(self):
            return {}

    run = Stub()
    for _ in range(3):
        module.Run.save(run, "best.pt", {"evals": []})
    assert run.last_save == 5.0
    module.Run.save(run)
    assert run.last_save > 5.0 and run.written == ["best.pt"] * 3 + ["checkpoint.pt"]


def test_ppo_adaptive_learning_rate_leaves_out_the_kl_before_any_step(tmp_path, monkeypatch):
    """Epoch 0's first minibatch measures the KL of a policy that has not changed yet: 0. With one minibatch and one
    epoch per iteration no KL is measured after a step, so the KL-adaptive learning rate stays as it was (counting
    that 0 raised it 1.5x at every iteration: 1e-3 became 3.375e-3 in 3 iterations)."""
    monkeypatch.chdir(tmp_path)
    in_process(
        ppo_isaac,
        [
            "--env-name",
            "Pendulum",
            "--env-num",
            16,
            "--horizon",
            8,
            "--total-timesteps",
            3 * 128,
            "--minibatches",
            1,
            "--repeat-times",
            1,
            "--kl-target",
            0.008,
            "--learning-rate",
            1e-3,
            "--eval-gap",
            1e9,
            "--run-name",
            "lr",
        ],
    )
    state = torch.load(os.path.join("runs", "lr", "checkpoint.pt"), weights_only=True)
    assert float(state["optimizer"]["param_groups"][0]["lr"]) == pytest.approx(1e-3)


@pytest.mark.skipif(bool(ctypes.util.find_library("OSMesa")), reason="OSMesa is installed here: MUJOCO_GL=osmesa works")
def test_a_mujoco_gl_that_cannot_load_is_one_line(tmp_path):  # a common headless recipe, on a machine without OSMesa
    # (without the PYOPENGL_PLATFORM that MuJoCo set in this process when Brax loaded here: it would pick that one)
    env = {k: v for k, v in os.environ.items() if k != "PYOPENGL_PLATFORM"}
    # (a JAX cache of its own: a warm start, whose MJX programs come exported, needs no Brax, MuJoCo or OpenGL)
    env.update(MUJOCO_GL="osmesa", PYTHONPATH=ROOT, JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jax"))
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "ppo_isaac.py"),
            "--env-name",
            "Ant",
            "--env-num",
            "2",
            "--device",
            "cpu",
            "--total-timesteps",
            "64",
            "--eval-times",
            "1",
        ],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ppo_isaac.py: error: MuJoCo could not load OpenGL"), lines
    assert "MUJOCO_GL=osmesa" in result.stderr and "libosmesa6" in result.stderr


# ---------------------------------------------------------------------------------------------- bad input
# Through the real command line; every flag combination is also checked in-process in test_flags.py.
BAD_INPUT = [
    (["ppo_isaac.py"], ["--env-num", "-3"], ["--env-num must be positive"]),
    (["sac_isaac.py"], ["--env-name", "Nope"], ["unknown env 'Nope'", "pendulum"]),
    (
        ["ppo_isaac.py"],
        ["--env-name", "Ant", "--backend", "isaacgym"],
        ["Isaac Gym is not installed", "--backend brax"],
    ),
    (["sac_isaac.py"], ["--device", "tpu9"], ["not a torch device"]),
    (["ppo_isaac.py"], ["--env-name", "Pendulum", "--video"], ["--video renders the MuJoCo models of Brax tasks"]),
    (
        ["ppo_isaac.py", "sac_isaac.py"],
        ["--env-name", "Pendulum", "--device", "cpu", "--cudagraphs"],
        ["GPU fast path", "cpu"],
    ),
    (
        ["sac_isaac.py"],
        ["--env-name", "Pendulum", "--env-num", "16", "--buffer-size", "10" + "0" * 15, "--device", "cpu"],
        ["the replay buffer needs", "GiB free: lower --buffer-size", "a quick demo"],
    ),
]


@pytest.mark.parametrize(
    "script, args, fragments",
    [(script, args, fragments) for scripts, args, fragments in BAD_INPUT for script in scripts],
)
def test_bad_input_gets_one_line(tmp_path, script, args, fragments):
    assert_one_line_error(run_ppo(*args, cwd=tmp_path, script=script), *fragments, script=script)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
@pytest.mark.parametrize("script", ["ppo_isaac.py"])  # make_envs, where this fails, is one text in both scripts
def test_cuda_without_gpu(tmp_path, script):
    result = run_ppo("--env-name", "Pendulum", "--device", "cuda", cwd=tmp_path, script=script)
    assert_one_line_error(result, "no CUDA GPU", script=script)


@pytest.mark.parametrize("script", ["sac_isaac.py"])  # likewise
def test_brax_missing(tmp_path, script):
    isaac_env.resolve("Ant", "brax")  # Brax's task list kept in the tests' JAX cache folder, as a warm start finds it
    fake = tmp_path / "no_brax" / "brax"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'brax'\", name='brax')\n")
    result = run_ppo(
        "--env-name", "Ant", "--backend", "brax", cwd=tmp_path, extra_path=[str(fake.parent)], script=script
    )
    assert_one_line_error(result, "Brax is not installed", "pip install brax", script=script)


# ---------------------------------------------------------------------------------------------- NaN guard
@pytest.mark.parametrize("script, poisoned", [("ppo_isaac.py", "obs"), ("sac_isaac.py", "reward")])
def test_nan_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, poisoned, script):
    # NaN appears at env step 53 of 16 envs. PPO, horizon 16: iteration k covers steps 16(k-1)+1 .. 16k, so it is
    # iteration 4, and iterations 1-3 (768 env steps) were saved. SAC, horizon 10: iteration 6, and iterations 1-5
    # (800 env steps) were saved.
    settings = ["--horizon", 16] if script == "ppo_isaac.py" else [*TINY_SAC[:-2], "--horizon", 10]
    result = run_ppo(
        "--env-name",
        "Pendulum",
        "--env-num",
        16,
        "--total-timesteps",
        16 * 16 * 8,
        *settings,
        "--save-gap",
        0,
        "--run-name",
        "nan",
        cwd=tmp_path,
        script=os.path.join("tests", "nan_run.py"),
        extra_env={"NAN_AT_STEP": "53", "NAN_IN": poisoned, "NAN_SCRIPT": script},
    )
    iteration, saved_steps = (4, 768) if script == "ppo_isaac.py" else (6, 800)
    assert_one_line_error(
        result,
        "non-finite",
        "at iteration {}".format(iteration),
        "last good checkpoint",
        "0 simulations restarted after blowing up",
        script=script,
    )
    state = torch.load(tmp_path / "runs" / "nan" / "checkpoint.pt", weights_only=True)
    assert state["global_step"] == saved_steps
    weights = state["agent"] if script == "ppo_isaac.py" else {**state["actor"], **state["critic"]}
    assert all(torch.isfinite(t).all() for t in weights.values())
    assert not os.path.exists(tmp_path / "runs" / "nan" / "checkpoint.pt.tmp")


# ---------------------------------------------------------------------------------------------- seeding
def first_iteration_losses(tmp_path, seed, name):
    """One iteration in this process (a subprocess each would spend seconds on imports), its signal handlers
    restored afterwards."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        ppo_isaac.main(
            *ppo_isaac.parse_args(
                [
                    "--env-name",
                    "Pendulum",
                    "--env-num",
                    "64",
                    "--total-timesteps",
                    "1024",
                    "--eval-env-num",
                    "0",
                    "--seed",
                    str(seed),
                    "--run-name",
                    name,
                ]
            )
        )
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    events = EventAccumulator(str(tmp_path / "runs" / name))
    events.Reload()
    tags = ["losses/policy_loss", "losses/value_loss", "losses/entropy", "losses/approx_kl"]
    return [events.Scalars(tag)[0].value for tag in tags]


def test_same_seed_same_first_iteration_losses(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # (runs/ goes under the current folder)
    a = first_iteration_losses(tmp_path, 7, "a")
    b = first_iteration_losses(tmp_path, 7, "b")
    c = first_iteration_losses(tmp_path, 8, "c")
    assert a == b
    assert a != c  # and the comparison can fail


# ---------------------------------------------------------------------------------------------- signals
def start_endless_run(tmp_path, script, *flags):
    """A 1e9-step Pendulum run of 64 envs in runs/stop under tmp_path, its output piped, to be stopped by signals."""
    command = [sys.executable, os.path.join(ROOT, script), "--env-name", "Pendulum", "--env-num", "64"]
    command += ["--total-timesteps", "1000000000", "--run-name", "stop", *flags] + tiny(script)
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        command, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.parametrize("script, sig", [("ppo_isaac.py", signal.SIGINT), ("sac_isaac.py", signal.SIGTERM)])
def test_interrupt_saves_checkpoint_and_summary(tmp_path, sig, script):
    process = start_endless_run(tmp_path, script, "--save-gap", "0")
    for line in process.stdout:  # after 3 iterations (saved: --save-gap 0), a 1e9-step run on a CPU says how long
        if line.startswith("note: on a CPU this run needs about"):
            assert "a quick demo: python {} --env-name Pendulum".format(script) in line
            break
    else:
        raise AssertionError("the run ended without the note: " + process.stderr.read())
    process.send_signal(sig)
    process.send_signal(sig)  # one Ctrl-C can arrive twice (to the process and to its group): it counts once
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    s = summary(tmp_path / "runs" / "stop")
    assert s["status"] == "interrupted" and s["steps"] > 0
    assert s["final_eval_return"] is not None and s["evals"][-1][1] == s["steps"]  # one evaluation on the way out
    assert s["final_eval_skipped"] is False
    state = torch.load(tmp_path / "runs" / "stop" / "checkpoint.pt", weights_only=True)
    assert state["global_step"] == s["steps"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_ctrl_c_stops_at_the_end_of_the_env_step_not_of_the_iteration(tmp_path, monkeypatch, script):
    """Ctrl-C at the 5th env step of a 64-step iteration (on a CPU one can take minutes): the run stops after that
    step. PPO learns nothing from the rollout cut short (0 steps); SAC keeps the 5 steps it took and learned from."""
    module = ppo_isaac if script == "ppo_isaac.py" else sac_isaac
    monkeypatch.chdir(tmp_path)
    make_env, steps_taken = isaac_env.make_env, []

    def make_env_with_ctrl_c(*args, **kwargs):
        env = make_env(*args, **kwargs)
        step = env.step

        def step_with_ctrl_c(actions):
            steps_taken.append(1)
            if len(steps_taken) == 5:
                os.kill(os.getpid(), signal.SIGINT)  # (Run's handler runs before this step returns)
            return step(actions)

        env.step = step_with_ctrl_c
        return env

    monkeypatch.setattr(isaac_env, "make_env", make_env_with_ctrl_c)
    in_process(
        module,
        tiny(
            script,
            "--env-name",
            "Pendulum",
            "--env-num",
            16,
            "--total-timesteps",
            10**6,
            "--eval-env-num",
            0,
            "--run-name",
            "stop",
        )
        + ["--horizon", 64],
    )
    s = summary(tmp_path / "runs" / "stop")
    assert s["status"] == "interrupted" and len(steps_taken) == 5
    assert s["steps"] == (0 if script == "ppo_isaac.py" else 5 * 16)
    assert torch.load(tmp_path / "runs" / "stop" / "checkpoint.pt", weights_only=True)["global_step"] == s["steps"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_second_ctrl_c_skips_the_final_evaluation_and_writes_the_summary(tmp_path, script):
    # The first Ctrl-C stops training at once; the second lands in the final evaluation, of episodes of 10^6 steps,
    # which would never end: the run ends at once all the same, with its checkpoint and its summary.
    process = start_endless_run(tmp_path, script, "--episode-length", "1000000")
    for line in process.stdout:
        if line.startswith("run: "):  # training starts
            break
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    time.sleep(1.5)  # a second later: not the same Ctrl-C delivered twice
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0 and "Traceback" not in stderr, stderr
    assert "the final evaluation skipped by a second Ctrl-C; writing the summary" in stdout + stderr
    s = summary(tmp_path / "runs" / "stop")
    assert s["status"] == "interrupted" and s["final_eval_skipped"] is True and s["steps"] > 0
    assert not s["evals"] or s["evals"][-1][1] < s["steps"]  # (no episode of 10^6 steps ended: none at all)
    assert torch.load(tmp_path / "runs" / "stop" / "checkpoint.pt", weights_only=True)["global_step"] == s["steps"]
