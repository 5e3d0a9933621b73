"""--export: a checkpoint's deterministic policy as ONNX, run by onnxruntime on the CPU, against the torch policy."""

import copy
import sys
from dataclasses import asdict

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

import ppo_isaac
import sac_isaac

MODULES = {"ppo_isaac.py": ppo_isaac, "sac_isaac.py": sac_isaac}


def checkpoint(tmp_path, module):
    """A Pendulum checkpoint with random weights large enough to push PPO's action means past [-1, 1], and an
    observation normaliser far from the identity (so that a policy without it, or without its clipping, differs)."""
    torch.manual_seed(0)
    if module is ppo_isaac:
        agent = ppo_isaac.Agent(3, 1, 32)
        networks, rms = agent.actor_mean, agent.obs_rms
        parts = dict(agent=agent, optimizer=torch.optim.Adam(agent.parameters()))
        policy = lambda obs: agent.actor_mean(agent.normalize_obs(obs)).clamp(-1.0, 1.0)  # noqa: E731
    else:
        actor, critic = sac_isaac.Actor(3, 1, 32), sac_isaac.Critic(3, 1, 32, torch.zeros(sac_isaac.Args().num_atoms))
        log_alpha = torch.zeros((), requires_grad=True)
        networks, rms = actor.net, actor.obs_rms
        parts = dict(
            actor=actor,
            critic=critic,
            critic_target=copy.deepcopy(critic),
            log_alpha=log_alpha,
            actor_opt=torch.optim.Adam(actor.parameters()),
            critic_opt=torch.optim.Adam(critic.parameters()),
            alpha_opt=torch.optim.Adam([log_alpha]),
        )
        policy = lambda obs: actor.deterministic(actor.normalize_obs(obs))  # noqa: E731
    with torch.no_grad():
        for p in networks.parameters():  # (SAC's: the weight matrices, around LayerNorms left as they start)
            p.normal_(0.0, 0.3) if module is ppo_isaac else p.normal_(0.0, 0.5) if p.dim() == 2 else None
        rms.mean.copy_(torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64))
        rms.var.copy_(torch.tensor([0.25, 4.0, 1.0], dtype=torch.float64))
    state = {
        name: part.detach().clone() if isinstance(part, torch.Tensor) else part.state_dict()
        for name, part in parts.items()
    }
    state.update(
        args=asdict(module.Args(env_name="Pendulum", net_dim=32)),
        env_name="Pendulum",
        backend="torch",
        obs_dim=3,
        act_dim=1,
        global_step=0,
        evals=[],
    )
    path = str(tmp_path / "checkpoint.pt")
    torch.save(state, path)
    return path, policy


@pytest.mark.parametrize("script", list(MODULES))
def test_export_runs_in_onnxruntime_as_the_torch_policy_does(tmp_path, script, capsys):
    module = MODULES[script]
    path, policy = checkpoint(tmp_path, module)
    out = str(tmp_path / "policy.onnx")
    module.main(
        *module.parse_args(
            ["--checkpoint", path, "--eval-only", "--export", out, "--eval-times", "1", "--device", "cpu"]
        )
    )
    assert "exported {}: obs [batch, 3] -> actions [batch, 1]".format(out) in capsys.readouterr().out
    session = onnxruntime.InferenceSession(out, providers=["CPUExecutionProvider"])
    obs = torch.randn(512, 3) * 6 + torch.tensor([2.0, -1.0, 0.5])  # many beyond the normaliser's clip of 5
    with torch.no_grad():
        expected = policy(obs).numpy()
    for batch in (obs, obs[:1]):  # any batch size
        actions = session.run(["actions"], {"obs": batch.numpy()})[0]
        assert actions.shape == (len(batch), 1)
        np.testing.assert_allclose(actions, expected[: len(batch)], rtol=0, atol=1e-5)
    # the comparison can fail: the actions depend on the observation, and PPO's clip to [-1, 1] acts on some of them
    assert expected.std() > 0.1
    assert module is sac_isaac or (np.abs(expected) == 1.0).any() and (np.abs(expected) < 1.0).any()
    metadata = {p.key: p.value for p in onnx.load(out).metadata_props}
    assert (metadata["task"], metadata["obs_dim"], metadata["act_dim"], metadata["script"]) == (
        "Pendulum",
        "3",
        "1",
        script,
    )


def test_export_without_onnx_says_what_to_install(tmp_path, monkeypatch):
    path, _ = checkpoint(tmp_path, ppo_isaac)
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if it were not installed
    with pytest.raises(SystemExit) as stop:  # before any simulator is built: parse_args says it
        ppo_isaac.parse_args(
            [
                "--checkpoint",
                path,
                "--eval-only",
                "--export",
                str(tmp_path / "p.onnx"),
                "--eval-times",
                "1",
                "--device",
                "cpu",
            ]
        )
    assert str(stop.value.code) == "ppo_isaac.py: error: --export needs onnx: pip install onnx onnxscript"


def test_a_checkpoint_of_other_networks_is_one_line(tmp_path):  # e.g. one of SAC before its LayerNorm actor
    path, _ = checkpoint(tmp_path, sac_isaac)
    state = torch.load(path, weights_only=True)
    del state["actor"]["net.1.weight"]
    torch.save(state, path)
    with pytest.raises(SystemExit) as stop:
        sac_isaac.main(*sac_isaac.parse_args(["--checkpoint", path, "--eval-only", "--device", "cpu"]))
    assert "does not fit this network (--net-dim 32), or an earlier sac_isaac.py made it" in str(stop.value.code)
    assert 'Missing key(s) in state_dict: "net.1.weight"' in str(stop.value.code)
