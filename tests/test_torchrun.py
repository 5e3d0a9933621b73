"""Training on several processes with torchrun (one per GPU on a GPU machine), here with two gloo ranks on a CPU,
through the real command line: identical weights on every rank, output from rank 0 alone, learning, Ctrl-C,
--resume, and a failing rank that ends the whole run."""

import glob
import os
import signal
import subprocess
import sys
import time

import torch
from conftest import ROOT
from test_cli import PENDULUM_THRESHOLD, TINY_SAC, summary


def torchrun_command(*args, nproc=2):
    # --standalone: a rendezvous on a free local port, so that tests may run side by side
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc)] + [
        str(a) for a in args
    ]


def run_env():
    return dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")


def outputs(tmp_path):
    """Every file written under tmp_path/runs, relative to it."""
    root = tmp_path / "runs"
    return sorted(
        os.path.relpath(p, root) for p in glob.glob(str(root / "**" / "*"), recursive=True) if os.path.isfile(p)
    )


def assert_ranks_agree(s, ranks=2):
    assert s["world_size"] == ranks and s["total_env_num"] == ranks * s["env_num"]
    # each rank's own checksum of its weights and normalisers, gathered at the end: identical ranks, equal sums
    assert len(s["rank_checksums"]) == ranks and len(set(s["rank_checksums"])) == 1, s["rank_checksums"]


def test_ppo_on_two_ranks_learns_with_identical_weights_and_one_output(tmp_path):
    # The CPU demo split over two ranks: 2 x 32 envs, the same 64 envs in all as the single-process test
    # (tests/test_cli.py), two thirds of its steps, and the same bar, which a random policy misses by far.
    result = subprocess.run(
        torchrun_command(
            os.path.join(ROOT, "ppo_isaac.py"),
            "--env-name",
            "Pendulum",
            "--env-num",
            32,
            "--device",
            "cpu",
            "--run-name",
            "learn",
            "--total-timesteps",
            200_000,
        ),
        cwd=str(tmp_path),
        env=run_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    s = summary(tmp_path / "runs" / "learn")
    assert_ranks_agree(s)
    assert s["status"] == "completed" and s["steps"] >= 200_000 and s["env_num"] == 32
    assert s["final_eval_return"] > PENDULUM_THRESHOLD, s
    files = outputs(tmp_path)  # rank 0 alone writes: one folder, one summary, one TensorBoard file
    assert [f for f in files if not f.startswith("learn/events.")] == [
        "learn/best.pt",
        "learn/checkpoint.pt",
        "learn/summary.json",
    ], files
    assert len([f for f in files if f.startswith("learn/events.")]) == 1, files
    assert result.stdout.count("run: runs/learn") == 1 and result.stdout.count("env: Pendulum") == 1, result.stdout


def test_sac_on_two_ranks_stops_on_ctrl_c_with_one_checkpoint_then_resumes(tmp_path):
    command = torchrun_command(
        os.path.join(ROOT, "sac_isaac.py"),
        "--env-name",
        "Pendulum",
        "--env-num",
        16,
        "--device",
        "cpu",
        "--total-timesteps",
        10**9,
        "--run-name",
        "stop",
        *TINY_SAC,
    )
    process = subprocess.Popen(
        command, cwd=str(tmp_path), env=run_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    for line in process.stdout:  # rank 0 prints this at its third iteration: training is under way on both ranks
        if line.startswith("note: on a CPU this run needs about"):
            break
    else:
        raise AssertionError("the run ended early: " + process.stderr.read())
    process.send_signal(signal.SIGINT)  # Ctrl-C reaches torchrun, which passes it on to every rank
    _, stderr = process.communicate(timeout=120)
    s = summary(tmp_path / "runs" / "stop")
    assert s["status"] == "interrupted" and s["steps"] > 0, stderr
    assert_ranks_agree(s)
    assert s["evals"] and s["evals"][-1][1] == s["steps"]  # rank 0 evaluated once on the way out
    state = torch.load(tmp_path / "runs" / "stop" / "checkpoint.pt", weights_only=True)
    assert state["global_step"] == s["steps"]
    assert [f for f in outputs(tmp_path) if not f.startswith("stop/events.")] == [
        "stop/best.pt",
        "stop/checkpoint.pt",
        "stop/summary.json",
    ]

    # --resume under torchrun: both ranks start from the checkpoint and go on to the new step budget
    target = s["steps"] + 2 * 8 * 2 * 16  # two more iterations of 8 steps of 2 x 16 envs
    result = subprocess.run(
        torchrun_command(
            os.path.join(ROOT, "sac_isaac.py"),
            "--resume",
            os.path.join("runs", "stop", "checkpoint.pt"),
            "--total-timesteps",
            target,
        ),
        cwd=str(tmp_path),
        env=run_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    resumed = summary(tmp_path / "runs" / "stop")
    assert resumed["status"] == "completed" and resumed["steps"] == target
    assert_ranks_agree(resumed)


def test_a_failing_rank_ends_the_whole_run_at_once(tmp_path):
    # Rank 1 gets a checkpoint path that does not exist; rank 0 a good command line, on which it would wait for
    # rank 1 to join. torchrun runs each rank's command through the shell, where $RANK picks the path.
    script = os.path.join(ROOT, "ppo_isaac.py")
    rank_1_only = '$([ "$RANK" = 1 ] && echo --resume missing.pt)'
    shell = 'exec "{}" "{}" --env-name Pendulum --env-num 8 --device cpu {}'.format(sys.executable, script, rank_1_only)
    start = time.time()
    result = subprocess.run(
        torchrun_command("--no-python", "sh", "-c", shell),
        cwd=str(tmp_path),
        env=run_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert time.time() - start < 60, "the run should end within seconds of the failure, not hang"
    assert "ppo_isaac.py: error: checkpoint missing.pt not found" in result.stderr, result.stderr
    assert not os.path.exists(tmp_path / "runs")  # rank 0 never started training


RANK_SCRIPT = """
import sys
import torch
import torch.distributed as dist
sys.path.insert(0, {root!r})
import ppo_isaac

dist.init_process_group("gloo")
rank = dist.get_rank()
batches = [torch.randn(50 + 30 * r, 3, generator=torch.Generator().manual_seed(r)) * (r + 1) + r for r in range(2)]
merged = ppo_isaac.RunningMeanStd((3,))
for transform in (lambda x: x, lambda x: x * 2, lambda x: x + 1):  # each rank updates with its own batch only
    merged.update(transform(batches[rank]))
grads = [torch.full((2, 2), float(rank)), torch.full((3,), 10.0 * rank)]
ppo_isaac.average_over_ranks(grads)
if rank == 0:
    dist.destroy_process_group()  # the reference below, in one process, must not all-reduce
    alone = ppo_isaac.RunningMeanStd((3,))
    for transform in (lambda x: x, lambda x: x * 2, lambda x: x + 1):
        alone.update(torch.cat([transform(b) for b in batches]))
    for name in ("mean", "var", "count"):
        assert torch.allclose(getattr(merged, name), getattr(alone, name), rtol=1e-9, atol=1e-9), name
    assert torch.equal(grads[0], torch.full((2, 2), 0.5)) and torch.equal(grads[1], torch.full((3,), 5.0))
    print("ranks agree")
else:
    dist.destroy_process_group()
"""


def test_normalisers_merge_every_ranks_batch_and_gradients_average(tmp_path):
    # With two ranks, each normaliser update merges both ranks' batches: the same statistics as one process that
    # sees both batches at once (counts added, not averaged); gradients are the ranks' means.
    path = tmp_path / "ranks.py"
    path.write_text(RANK_SCRIPT.format(root=ROOT))
    result = subprocess.run(
        torchrun_command(path), cwd=str(tmp_path), env=run_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and "ranks agree" in result.stdout, result.stdout + result.stderr
