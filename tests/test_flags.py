"""Options that cannot act in the mode chosen get one readable line, before any simulator is built; --help shows
each option's real default. In-process through each script's parse_args (no simulator is needed for any of it)."""

import importlib.util
import os
import shutil
from dataclasses import asdict

import pytest
import torch

import ppo_isaac
import sac_isaac

MODULES = {"ppo_isaac.py": ppo_isaac, "sac_isaac.py": sac_isaac}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A Pendulum checkpoint of each script, as parse_args sees one: its settings, task, sizes and progress (the
    weights themselves are only read later, by Run)."""
    paths = {}
    for script, module in MODULES.items():
        args = module.Args(env_name="Pendulum", env_num=16, total_timesteps=4096, net_dim=256)
        state = {part: {} for part in module.CHECKPOINT_PARTS}
        state.update(
            args=asdict(args), env_name="Pendulum", obs_dim=3, act_dim=1, global_step=2048, evals=[[5.0, 2048, -900.0]]
        )
        folder = tmp_path_factory.mktemp(script[:3])
        paths[script] = str(folder / "checkpoint.pt")
        torch.save(state, paths[script])
    return paths


def error_of(script, argv):
    with pytest.raises(SystemExit) as stop:
        MODULES[script].parse_args([str(a) for a in argv])
    message = str(stop.value.code)
    assert message.startswith(script + ": error: ") and "\n" not in message, message
    return message


CKPT = "<ckpt>"
COMBINATIONS = [  # (scripts, arguments, fragments of the one-line error)
    (["ppo_isaac.py", "sac_isaac.py"], ["--checkpoint", CKPT], ["--eval-only", "--resume PATH continues"]),
    (["ppo_isaac.py", "sac_isaac.py"], ["--eval-only"], ["--checkpoint PATH --eval-only evaluates"]),
    (["ppo_isaac.py", "sac_isaac.py"], ["--resume", CKPT, "--checkpoint", CKPT, "--eval-only"], ["one of them"]),
    (
        ["ppo_isaac.py", "sac_isaac.py"],
        ["--checkpoint", CKPT, "--eval-only", "--total-timesteps", "100", "--run-name", "x"],
        ["--total-timesteps, --run-name cannot act with --eval-only"],
    ),
    (
        ["ppo_isaac.py", "sac_isaac.py"],
        ["--checkpoint", CKPT, "--eval-only", "--env-num", "8"],
        ["--env-num cannot act with --eval-only"],
    ),
    (
        ["ppo_isaac.py", "sac_isaac.py"],
        ["--checkpoint", CKPT, "--eval-only", "--target-return=5"],
        ["--target-return cannot act with --eval-only"],
    ),
    (
        ["ppo_isaac.py", "sac_isaac.py"],
        ["--checkpoint", CKPT, "--eval-only", "--cudagraphs"],
        ["--cudagraphs cannot act"],
    ),
    (["sac_isaac.py"], ["--checkpoint", CKPT, "--eval-only", "--bf16", "--compile"], ["--bf16, --compile cannot act"]),
    (
        ["ppo_isaac.py", "sac_isaac.py"],
        ["--export", "policy.onnx"],
        ["--export PATH writes the policy of --checkpoint"],
    ),
    (["ppo_isaac.py", "sac_isaac.py"], ["--checkpoint", CKPT, "--eval-only", "--track"], ["--track cannot act"]),
    (
        ["ppo_isaac.py", "sac_isaac.py"],
        ["--resume", CKPT, "--run-name", "elsewhere"],
        ["--run-name cannot act with --resume"],
    ),
    (
        ["ppo_isaac.py", "sac_isaac.py"],
        ["--resume", CKPT, "--learning-rate", "1e-3", "--total-timesteps", "9000"],
        ["--learning-rate cannot act with --resume (it goes on from the checkpoint's state"],
    ),
    (["ppo_isaac.py"], ["--resume", CKPT, "--init-noise-std", "0.5"], ["--init-noise-std cannot act with --resume"]),
    (["sac_isaac.py"], ["--resume", CKPT, "--init-alpha=0.01"], ["--init-alpha cannot act with --resume"]),
    (
        ["ppo_isaac.py", "sac_isaac.py"],
        ["--resume", CKPT, "--env-name", "cart-pole", "--total-timesteps", "9000"],
        ["has --env-name Pendulum, not cart-pole: leave it out"],
    ),
    (
        ["ppo_isaac.py", "sac_isaac.py"],
        ["--checkpoint", CKPT, "--eval-only", "--env-name", "Ant"],
        ["has --env-name Pendulum, not Ant"],
    ),
    (
        ["ppo_isaac.py", "sac_isaac.py"],
        ["--resume", CKPT, "--net-dim", "128", "--total-timesteps", "9000"],
        ["--net-dim 256, not 128"],
    ),
    (["ppo_isaac.py", "sac_isaac.py"], ["--resume", "no/such/checkpoint.pt"], ["not found"]),
    (["ppo_isaac.py", "sac_isaac.py"], ["--env-num", "0"], ["--env-num must be positive"]),
    (["ppo_isaac.py", "sac_isaac.py"], ["--eval-times", "0"], ["--eval-times must be positive"]),
    (["ppo_isaac.py", "sac_isaac.py"], ["--episode-length", "0"], ["--episode-length must be positive, got 0"]),
    (
        ["ppo_isaac.py", "sac_isaac.py"],
        ["--env-name", "Pendulum", "--device", "cpu", "--cudagraphs"],
        ["--cudagraphs is a GPU fast path; --device cpu runs the eager code"],
    ),
    (
        ["ppo_isaac.py"],
        ["--env-name", "Pendulum", "--env-num", "10", "--horizon", "4", "--minibatches", "7"],
        ["--minibatches 7 must divide env_num * horizon, 40"],
    ),
    (
        ["ppo_isaac.py"],
        ["--env-name", "Pendulum", "--init-noise-std", "0"],
        ["--init-noise-std must be positive, got 0"],
    ),
    (
        ["sac_isaac.py"],
        ["--env-name", "Pendulum", "--env-num", "64", "--buffer-size", "256"],
        ["holds 4 steps per env"],
    ),
    (["sac_isaac.py"], ["--env-name", "Pendulum", "--batch-size", "0"], ["--batch-size must be positive"]),
]


@pytest.mark.parametrize("script, argv, fragments", [(s, a, f) for scripts, a, f in COMBINATIONS for s in scripts])
def test_a_flag_that_cannot_act_gets_one_line(checkpoints, script, argv, fragments):
    message = error_of(script, [checkpoints[script] if a == CKPT else a for a in argv])
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize("script", MODULES)
def test_corrupt_and_foreign_checkpoints(tmp_path, script):
    corrupt, foreign, other = tmp_path / "corrupt.pt", tmp_path / "foreign.pt", tmp_path / "other.pt"
    corrupt.write_bytes(b"\x80\x04 this is not a checkpoint")
    torch.save({"weights": torch.zeros(3)}, foreign)
    assert "is corrupt or not a torch file" in error_of(script, ["--resume", corrupt])
    assert "is corrupt" in error_of(script, ["--checkpoint", corrupt, "--eval-only"])
    assert "is not a {} checkpoint".format(script) in error_of(script, ["--resume", foreign])
    other_script = "sac_isaac.py" if script == "ppo_isaac.py" else "ppo_isaac.py"  # the other script's checkpoint
    state = {part: {} for part in MODULES[other_script].CHECKPOINT_PARTS}
    torch.save(dict(state, args={}, obs_dim=3, act_dim=1), other)
    assert "is not a {} checkpoint".format(script) in error_of(script, ["--resume", other])


@pytest.mark.parametrize("script", MODULES)
def test_options_that_act_with_a_checkpoint_are_taken(checkpoints, script):
    args, ckpt = MODULES[script].parse_args(
        [
            "--checkpoint",
            checkpoints[script],
            "--eval-only",
            "--eval-times",
            "3",
            "--seed",
            "4",
            "--device",
            "cpu",
            "--env-name",
            "PENDULUM",
        ]
    )
    assert (args.eval_times, args.seed, args.env_num, ckpt["global_step"]) == (3, 4, 16, 2048)
    args, _ = MODULES[script].parse_args(["--resume", checkpoints[script], "--total-timesteps", "9000"])
    assert (args.env_name, args.env_num, args.total_timesteps) == ("Pendulum", 16, 9000)  # the rest is the checkpoint's


@pytest.mark.parametrize("script", MODULES)
def test_a_run_folder_stands_for_its_checkpoint_and_a_resume_says_from_where(checkpoints, script, capsys, tmp_path):
    folder = os.path.dirname(checkpoints[script])
    args, ckpt = MODULES[script].parse_args(["--checkpoint", folder, "--eval-only"])
    assert args.checkpoint == checkpoints[script] and ckpt["global_step"] == 2048
    args, _ = MODULES[script].parse_args(["--resume", folder, "--total-timesteps", "9000"])
    assert args.resume == checkpoints[script] and args.checkpoint is None
    assert "resuming from step 2048 of {}\n".format(checkpoints[script]) in capsys.readouterr().out
    best = str(tmp_path / "best.pt")  # another file of the folder: this run's checkpoints replace checkpoint.pt
    shutil.copy(checkpoints[script], best)
    MODULES[script].parse_args(["--resume", best, "--total-timesteps", "9000"])
    assert "its folder's checkpoint.pt will be replaced by this run's" in capsys.readouterr().out


@pytest.mark.parametrize("script", MODULES)
def test_track_without_wandb_gets_one_line_also_when_it_comes_from_a_resumed_checkpoint(tmp_path, script, monkeypatch):
    module = MODULES[script]
    args = module.Args(env_name="Pendulum", env_num=16, total_timesteps=4096, net_dim=256, track=True)
    state = {part: {} for part in module.CHECKPOINT_PARTS}
    state.update(args=asdict(args), env_name="Pendulum", obs_dim=3, act_dim=1, global_step=2048, evals=[])
    path = str(tmp_path / "tracked.pt")
    torch.save(state, path)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else find_spec(name, *a))
    for argv in (["--env-name", "Pendulum", "--track"], ["--resume", path]):  # given, or the checkpoint's setting
        assert error_of(script, argv) == script + ": error: --track needs wandb: pip install wandb"
    module.parse_args(["--checkpoint", path, "--eval-only"])  # evaluating a tracked run's checkpoint needs no wandb


@pytest.mark.parametrize("script", MODULES)
def test_resuming_a_finished_run_changes_nothing(checkpoints, script, capsys):
    with pytest.raises(SystemExit) as stop:
        MODULES[script].parse_args(["--resume", checkpoints[script], "--total-timesteps", "2048"])
    assert stop.value.code == 0
    assert "has finished (2048 of 2048 steps" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # a target already reached also counts as finished
        MODULES[script].parse_args(["--resume", checkpoints[script], "--target-return", "-950"])


@pytest.mark.parametrize("script", MODULES)
def test_help_shows_the_per_task_defaults(script, capsys):
    with pytest.raises(SystemExit):
        MODULES[script].parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    defaults = MODULES[script].TASK_DEFAULTS
    assert text.count("(per task: ") == len(defaults["other"])  # each option whose default depends on the task
    for name in ("learning-rate", "gamma", "horizon"):
        help_of_option = text.split("--" + name + " ")[1].split(" --")[0]
        assert (
            "(default: None)" not in help_of_option
            and "pendulum {}".format(defaults["pendulum"][name.replace("-", "_")]) in help_of_option
        ), help_of_option
