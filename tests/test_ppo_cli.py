"""ppo_isaac.py through its real command line, in subprocesses: learning, every backend, checkpoints, resume,
evaluation-only, bad input, the NaN guard, seeding and Ctrl-C."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import isaac_env
import ppo_isaac
from conftest import ROOT, run_ppo


def summary(run_dir):
    with open(os.path.join(run_dir, "summary.json")) as f:
        return json.load(f)


def assert_one_line_error(result, *fragments):
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ppo_isaac.py: error:"), result.stderr
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


def test_ppo_learns_pendulum(tmp_path):
    result = run_ppo("--env-name", "Pendulum", "--env-num", 512, "--total-timesteps", 500_000, "--eval-env-num", 16,
                     "--eval-times", 16, "--run-name", "learn", "--seed", 1, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    s = summary(tmp_path / "runs" / "learn")
    assert s["status"] == "completed" and s["steps"] >= 500_000 and s["backend"] == "torch"
    assert s["final_eval_return"] > PENDULUM_THRESHOLD, s  # margin: random -1200, trained about -200
    for key in ("env", "env_num", "device", "wall_seconds", "sps", "best_eval_return", "seconds_to_target"):
        assert key in s
    assert s["seconds_to_target"] is None and s["evals"][-1][1] == s["steps"]


# ---------------------------------------------------------------------------------------------- backends
def test_short_brax_run_on_cpu(tmp_path):
    result = run_ppo("--env-name", "inverted_pendulum", "--env-num", 6, "--episode-length", 10, "--horizon", 8,
                     "--total-timesteps", 96, "--eval-times", 2, "--run-name", "brax", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "on brax (6 envs), obs 4, act 1" in result.stdout
    s = summary(tmp_path / "runs" / "brax")
    assert s["backend"] == "brax" and s["steps"] == 96 and s["final_eval_return"] > 0


def test_fake_isaacgym_end_to_end(tmp_path):
    result = run_ppo("--env-name", "Ant", "--env-num", 64, "--total-timesteps", 64 * 16 * 3, "--run-name", "isaac",
                     "--save-gap", 0, cwd=tmp_path, fake_isaacgym=True)
    assert result.returncode == 0, result.stderr
    assert "on isaacgym (64 envs), obs 60, act 8" in result.stdout
    assert "allows one simulation per process" in result.stdout
    s = summary(tmp_path / "runs" / "isaac")
    assert s["backend"] == "isaacgym" and s["steps"] == 3072 and s["evals"] and s["final_eval_return"] > 0
    evaluation = run_ppo("--checkpoint", tmp_path / "runs" / "isaac" / "checkpoint.pt", "--eval-only",
                         "--eval-times", 2, cwd=tmp_path, fake_isaacgym=True)
    assert evaluation.returncode == 0, evaluation.stderr
    assert json.loads(evaluation.stdout.strip().splitlines()[-1])["episodes"] == 2


# ---------------------------------------------------------------------------------------------- checkpoints
def test_checkpoint_round_trip_resume_and_eval_only(tmp_path):
    first = run_ppo("--env-name", "Pendulum", "--env-num", 64, "--total-timesteps", 2048, "--run-name", "ck",
                    "--save-gap", 0, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    path = tmp_path / "runs" / "ck" / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    assert state["global_step"] == 2048 and state["env_name"] == "Pendulum" and state["args"]["env_num"] == 64
    agent = ppo_isaac.Agent(state["obs_dim"], state["act_dim"], state["args"]["net_dim"])
    agent.load_state_dict(state["agent"])
    assert torch.equal(agent.obs_rms.mean, state["agent"]["obs_rms.mean"]) and agent.obs_rms.count > 1000
    assert os.path.exists(tmp_path / "runs" / "ck" / "best.pt")

    # resume: the env count and task come from the checkpoint; only the step budget is new
    second = run_ppo("--resume", path, "--total-timesteps", 4096, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    s = summary(tmp_path / "runs" / "ck")
    assert s["steps"] == 4096 and s["env_num"] == 64 and s["env"] == "Pendulum"
    assert len(s["evals"]) == 2 and s["evals"][0][1] == 2048 and s["evals"][1][1] == 4096
    assert s["evals"][1][0] > s["evals"][0][0]  # wall seconds carry on from the first run
    resumed = torch.load(path, weights_only=True)
    assert not torch.equal(resumed["agent"]["critic.0.weight"], state["agent"]["critic.0.weight"])

    evaluation = run_ppo("--checkpoint", path, "--eval-only", "--eval-times", 3, cwd=tmp_path)
    assert evaluation.returncode == 0, evaluation.stderr
    result = json.loads(evaluation.stdout.strip().splitlines()[-1])
    assert result["episodes"] == 3 and result["env"] == "Pendulum" and -2000 < result["eval_return"] < 0


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("args, fragments", [
    (["--env-num", "0"], ["--env-num must be positive"]),
    (["--env-num", "-3"], ["--env-num must be positive"]),
    (["--env-name", "Nope"], ["unknown env 'Nope'", "pendulum"]),
    (["--env-name", "Pendulum", "--env-num", "10", "--horizon", "4", "--batch-size", "7"], ["must divide", "40"]),
    (["--env-name", "Ant", "--backend", "isaacgym"], ["Isaac Gym is not installed", "--backend brax"]),
    (["--eval-only"], ["--eval-only needs --checkpoint"]),
    (["--resume", "no/such/checkpoint.pt"], ["not found"]),
    (["--device", "tpu9"], ["not a torch device"]),
])
def test_bad_input_gets_one_line(tmp_path, args, fragments):
    assert_one_line_error(run_ppo(*args, cwd=tmp_path), *fragments)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_gpu(tmp_path):
    assert_one_line_error(run_ppo("--env-name", "Pendulum", "--device", "cuda", cwd=tmp_path), "no CUDA GPU")


def test_brax_missing(tmp_path):
    fake = tmp_path / "no_brax" / "brax"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'brax'\", name='brax')\n")
    result = run_ppo("--env-name", "Ant", "--backend", "brax", cwd=tmp_path, extra_path=[str(fake.parent)])
    assert_one_line_error(result, "Brax is not installed", "pip install brax")


def test_corrupt_and_mismatched_checkpoints(tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x80\x04 this is not a checkpoint")
    assert_one_line_error(run_ppo("--resume", corrupt, cwd=tmp_path), "corrupt")
    assert_one_line_error(run_ppo("--checkpoint", corrupt, "--eval-only", cwd=tmp_path), "corrupt")
    not_ours = tmp_path / "not_ours.pt"
    torch.save({"weights": torch.zeros(3)}, not_ours)
    assert_one_line_error(run_ppo("--resume", not_ours, cwd=tmp_path), "not a ppo_isaac.py checkpoint")
    made = run_ppo("--env-name", "Pendulum", "--env-num", 16, "--total-timesteps", 256, "--run-name", "p",
                   cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    path = tmp_path / "runs" / "p" / "checkpoint.pt"
    assert_one_line_error(run_ppo("--resume", path, "--env-name", "CartPole", cwd=tmp_path),
                          "made for Pendulum with obs 3 / act 1", "CartPole has obs 4 / act 1")
    assert_one_line_error(run_ppo("--resume", path, "--net-dim", 128, cwd=tmp_path), "does not fit this network")


# ---------------------------------------------------------------------------------------------- NaN guard
@pytest.mark.parametrize("poisoned", ["obs", "reward"])
def test_nan_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, poisoned):
    # 16 envs x horizon 16: iteration k covers env steps 16(k-1)+1 .. 16k. NaN from step 53: iteration 4.
    result = run_ppo("--env-name", "Pendulum", "--env-num", 16, "--horizon", 16, "--total-timesteps", 16 * 16 * 8,
                     "--save-gap", 0, "--run-name", "nan", cwd=tmp_path, script=os.path.join("tests", "nan_run.py"),
                     extra_env={"NAN_AT_STEP": "53", "NAN_IN": poisoned})
    assert_one_line_error(result, "non-finite", "at iteration 4 ", "last good checkpoint")
    state = torch.load(tmp_path / "runs" / "nan" / "checkpoint.pt", weights_only=True)
    assert state["global_step"] == 3 * 256
    assert all(torch.isfinite(t).all() for t in state["agent"].values())
    assert not os.path.exists(tmp_path / "runs" / "nan" / "checkpoint.pt.tmp")


# ---------------------------------------------------------------------------------------------- seeding
def first_iteration_losses(tmp_path, seed, name):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = run_ppo("--env-name", "Pendulum", "--env-num", 64, "--total-timesteps", 1024, "--seed", seed,
                     "--run-name", name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    events = EventAccumulator(str(tmp_path / "runs" / name))
    events.Reload()
    tags = ["losses/policy_loss", "losses/value_loss", "losses/entropy", "losses/approx_kl"]
    return [events.Scalars(tag)[0].value for tag in tags]


def test_same_seed_same_first_iteration_losses(tmp_path):
    a = first_iteration_losses(tmp_path, 7, "a")
    b = first_iteration_losses(tmp_path, 7, "b")
    c = first_iteration_losses(tmp_path, 8, "c")
    assert a == b
    assert a != c  # and the comparison can fail


# ---------------------------------------------------------------------------------------------- signals
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_saves_checkpoint_and_summary(tmp_path, sig):
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "ppo_isaac.py"), "--env-name", "Pendulum",
                                "--env-num", "64", "--total-timesteps", "1000000000", "--run-name", "stop",
                                "--save-gap", "0"], cwd=str(tmp_path), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    first_checkpoint = tmp_path / "runs" / "stop" / "checkpoint.pt"
    deadline = time.time() + 120
    while not first_checkpoint.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.2)  # wait until at least one iteration has trained and been saved
    assert first_checkpoint.exists(), process.stderr.read() if process.poll() is not None else "timed out"
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    s = summary(tmp_path / "runs" / "stop")
    assert s["status"] == "interrupted" and s["steps"] > 0
    state = torch.load(tmp_path / "runs" / "stop" / "checkpoint.pt", weights_only=True)
    assert state["global_step"] == s["steps"]
