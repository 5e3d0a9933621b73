"""Pieces of ppo_isaac.py checked against hand-computed values."""

import torch

import ppo_isaac


def test_gae_bootstraps_through_truncation_and_stops_at_termination():
    # Two envs, three steps, gamma 0.9, lambda 0.5. Env 0 is truncated at t=1 (bootstraps from V(final_obs) = 4.0,
    # but no advantage flows back across the boundary); env 1 terminates at t=1 (no bootstrap at all: its
    # next_value 9.0 must be ignored).
    rewards = torch.tensor([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0]])
    values = torch.tensor([[0.5, 0.2], [1.0, 0.4], [1.5, 0.6]])
    next_values = torch.tensor([[1.0, 0.4], [4.0, 9.0], [2.0, 0.8]])
    terminated = torch.tensor([[False, False], [False, True], [False, False]])
    dones = torch.tensor([[False, False], [True, True], [False, False]])
    valid = torch.ones_like(dones)
    advantages, returns = ppo_isaac.compute_gae(rewards, values, next_values, terminated, dones, valid, 0.9, 0.5)
    # env 0: t2: 3 + .9*2 - 1.5 = 3.3;  t1: 2 + .9*4 - 1 = 4.6 (episode ends);  t0: 1 + .9*1 - .5 + .45*4.6 = 3.47
    # env 1: t2: 1 + .9*.8 - .6 = 1.12;  t1: 1 - .4 = 0.6 (terminal);            t0: 1 + .9*.4 - .2 + .45*.6 = 1.43
    expected = torch.tensor([[3.47, 1.43], [4.6, 0.6], [3.3, 1.12]])
    assert torch.allclose(advantages, expected, atol=1e-6)
    assert torch.allclose(returns, expected + values, atol=1e-6)


def test_gae_stops_before_a_blown_up_simulation():
    # One env, four steps, gamma 0.9, lambda 0.5. At t=2 the Brax adapter restarted a simulation that blew up:
    # truncated, reward 0, final_obs zeros, whose value (-500, as a trained critic might say) must not reach t=1 and
    # t=0. t=1 then ends as if truncated, bootstrapping from the state it reached (next_values[1] = V(obs at t=2)).
    rewards = torch.tensor([[1.0], [2.0], [0.0], [3.0]])
    values = torch.tensor([[0.5], [1.0], [1.5], [2.0]])
    next_values = torch.tensor([[1.0], [1.5], [-500.0], [2.5]])
    terminated = torch.zeros(4, 1, dtype=torch.bool)
    dones = torch.tensor([[False], [False], [True], [False]])
    valid = torch.tensor([[True], [True], [False], [True]])
    advantages, returns = ppo_isaac.compute_gae(rewards, values, next_values, terminated, dones, valid, 0.9, 0.5)
    # t3: 3 + .9*2.5 - 2 = 3.25; t2: 0 (not learned from); t1: 2 + .9*1.5 - 1 = 2.35; t0: 1 + .9 - .5 + .45*2.35
    expected = torch.tensor([[2.4575], [2.35], [0.0], [3.25]])
    assert torch.allclose(advantages, expected, atol=1e-6) and torch.allclose(returns, expected + values)
    # the check can fail: without valid, the blown-up step's -500 reaches both earlier advantages
    leaked, _ = ppo_isaac.compute_gae(rewards, values, next_values, terminated, dones, torch.ones_like(valid), 0.9, 0.5)
    assert leaked[0, 0] < -80 and leaked[1, 0] < -200  # (-88.9 and -200.8)


def test_running_mean_std_matches_the_whole_batch():
    torch.manual_seed(0)
    data = torch.randn(1000, 5) * torch.tensor([1.0, 2.0, 0.5, 10.0, 3.0]) + torch.tensor([0.0, 1.0, -3.0, 5.0, 2.0])
    rms = ppo_isaac.RunningMeanStd((5,))
    for chunk in data.split(137):
        rms.update(chunk)
    assert torch.allclose(rms.mean.float(), data.mean(0), atol=1e-4)
    assert torch.allclose(rms.var.float(), data.var(0, unbiased=False), rtol=1e-3)
    normalized = rms.normalize(data)
    assert torch.allclose(normalized.mean(0), torch.zeros(5), atol=1e-3)
    assert torch.allclose(rms.denormalize(normalized), data, atol=1e-4)
    assert rms.normalize(data * 100, clip=5.0).abs().max() <= 5.0


def test_running_mean_std_leaves_out_rows_of_weight_zero():
    """One huge finite observation (a simulation on its way to blowing up) among normal ones: with weight 0 (not
    learned from) the statistics are those of the other rows; with weight 1 it would set the std to about 1000."""
    torch.manual_seed(1)
    data = torch.randn(1000, 3)
    data[10] = 1e6
    weight = torch.ones(1000)
    weight[10] = 0.0
    weighted, kept, poisoned = (ppo_isaac.RunningMeanStd((3,)) for _ in range(3))
    weighted.update(data, weight)
    kept.update(torch.cat([data[:10], data[11:]]))
    poisoned.update(data)
    assert torch.allclose(weighted.mean, kept.mean) and torch.allclose(weighted.var, kept.var)
    assert poisoned.var.sqrt().min() > 1000 and weighted.var.sqrt().max() < 2
    nothing = ppo_isaac.RunningMeanStd((3,))
    nothing.update(data, torch.zeros(1000))  # no rows at all: nothing changes, nothing turns NaN
    assert torch.equal(nothing.mean, torch.zeros(3, dtype=torch.float64)) and torch.equal(
        nothing.var, torch.ones(3, dtype=torch.float64)
    )


def test_agent_shapes_and_initial_policy():
    agent = ppo_isaac.Agent(obs_dim=7, act_dim=3, net_dim=64)
    obs = torch.randn(10, 7)
    dist, mean = agent.policy(obs)
    assert mean.shape == (10, 3) and dist.sample().shape == (10, 3)
    assert agent.value(obs).shape == (10,)
    assert mean.abs().max() < 0.1  # the actor's last layer starts near zero (orthogonal init, std 0.01)
    assert "obs_rms.mean" in agent.state_dict() and "value_rms.var" in agent.state_dict()


def test_the_initial_action_noise_is_the_tasks_unless_given():
    """Ant's policy starts with noise of std 0.6 (a smaller start learnt sooner in steps: the Ant sweep of
    2026-12-03), every other task's with 1; --init-noise-std sets it, and training learns it from there."""
    stds = {}
    for argv in (
        ["--env-name", "Ant"],
        ["--env-name", "Humanoid"],
        ["--env-name", "Pendulum", "--init-noise-std", "0.3"],
    ):
        args, _ = ppo_isaac.parse_args(argv)
        agent = ppo_isaac.Agent(obs_dim=5, act_dim=4, net_dim=64, init_noise_std=args.init_noise_std)
        dist, _ = agent.policy(torch.zeros(2, 5))
        assert agent.actor_logstd.requires_grad
        stds[argv[1]] = dist.stddev
    for task, std in (("Ant", 0.6), ("Humanoid", 1.0), ("Pendulum", 0.3)):
        assert torch.allclose(stds[task], torch.full((2, 4), std)), (task, stds[task])


def test_ppo_loss_ignores_transitions_of_weight_zero():
    """Isaac Gym's cross-episode steps get weight 0: whatever their advantages, returns or old log-probabilities, the
    loss and its statistics are those of the other transitions alone (and the gradient with them)."""
    torch.manual_seed(0)
    agent = ppo_isaac.Agent(obs_dim=4, act_dim=2, net_dim=32)
    args = ppo_isaac.Args(clip_coef=0.2, vf_coef=2.0, ent_coef=0.01, bounds_coef=1e-4)
    obs, actions = torch.randn(8, 4), torch.randn(8, 2)
    old_logp, adv, old_values, returns = torch.randn(8), torch.randn(8), torch.randn(8), torch.randn(8)
    weight = torch.tensor([1.0, 1, 0, 1, 0, 1, 1, 0])
    junk = weight == 0
    loss, stats = ppo_isaac.ppo_loss(agent, args, obs, actions, old_logp, adv, old_values, returns, weight)
    changed = [x.clone() for x in (old_logp, adv, old_values, returns)]
    for x in changed:
        x[junk] = 1e6
    loss_2, stats_2 = ppo_isaac.ppo_loss(agent, args, obs, actions, *changed, weight)
    kept = ppo_isaac.ppo_loss(
        agent,
        args,
        obs[~junk],
        actions[~junk],
        old_logp[~junk],
        adv[~junk],
        old_values[~junk],
        returns[~junk],
        torch.ones(5),
    )
    assert torch.allclose(loss, loss_2) and torch.allclose(stats, stats_2)
    assert torch.allclose(loss, kept[0]) and torch.allclose(stats, kept[1])
    # the check can fail: with every weight 1 the junk counts
    loss_3, _ = ppo_isaac.ppo_loss(agent, args, obs, actions, *changed, torch.ones(8))
    assert not torch.allclose(loss, loss_3)
