"""Pieces of sac_isaac.py checked against hand-computed values."""

import math

import pytest
import torch

import sac_isaac


def filled_buffer(capacity=4, num_envs=3, steps=6):
    """A buffer whose transition at time t for env e has reward 10*t + e and observation [t, e]."""
    buffer = sac_isaac.ReplayBuffer(capacity, num_envs, obs_dim=2, act_dim=1, device=torch.device("cpu"))
    for t in range(steps):
        env_ids = torch.arange(num_envs, dtype=torch.float32)
        obs = torch.stack([torch.full((num_envs,), float(t)), env_ids], dim=1)
        next_obs = torch.stack([torch.full((num_envs,), t + 0.5), env_ids], dim=1)
        buffer.add(
            obs,
            torch.full((num_envs, 1), float(t)),
            10.0 * t + env_ids,
            next_obs,
            torch.zeros(num_envs, dtype=torch.bool),
            torch.zeros(num_envs, dtype=torch.bool),
            torch.ones(num_envs, dtype=torch.bool),
        )
    return buffer


def test_ring_wraps_around_and_keeps_one_ring_per_env():
    buffer = filled_buffer(capacity=4, num_envs=3, steps=6)
    assert buffer.size == 4 and buffer.pos == 2  # steps 0 and 1 were overwritten by 4 and 5
    assert buffer.obs[:, :, 0].tolist() == [[4.0] * 3, [5.0] * 3, [2.0] * 3, [3.0] * 3]
    assert torch.equal(buffer.obs[:, 1, 1], torch.ones(4))  # env 1's column holds env 1 only
    torch.manual_seed(0)
    obs, actions, reward_sum, next_obs, discount, weight = buffer.sample(4096, n_step=1, gamma=0.9)
    assert set(obs[:, 0].tolist()) == {2.0, 3.0, 4.0, 5.0}  # only what is still in the ring
    assert torch.equal(reward_sum, 10 * obs[:, 0] + obs[:, 1]) and torch.equal(actions[:, 0], obs[:, 0])
    assert torch.equal(next_obs[:, 0], obs[:, 0] + 0.5) and torch.equal(next_obs[:, 1], obs[:, 1])
    assert torch.allclose(discount, torch.full((4096,), 0.9)) and torch.equal(weight, torch.ones(4096))


def test_sampling_reads_only_the_rings_position_on_the_device():  # what a CUDA graph of the update replays
    buffer = filled_buffer(capacity=4, num_envs=3, steps=6)
    assert buffer.cursor.tolist() == [buffer.pos, buffer.size] == [2, 4]
    buffer.pos, buffer.size = 0, 0  # the host's copies, for the host's own decisions: sample() must not read them
    torch.manual_seed(1)
    obs, _, _, _, _, _ = buffer.sample(4096, n_step=3, gamma=0.9)
    assert set(obs[:, 0].tolist()) == {2.0, 3.0}


def test_n_step_never_starts_where_its_successors_are_unwritten():
    buffer = filled_buffer(capacity=4, num_envs=3, steps=6)
    torch.manual_seed(1)
    obs, _, _, _, _, _ = buffer.sample(4096, n_step=3, gamma=0.9)
    assert set(obs[:, 0].tolist()) == {2.0, 3.0}  # 4 and 5 lack two successors


def test_n_step_target_bootstraps_through_truncation_and_not_through_termination():
    # One env, gamma 0.5, n = 3. Rewards 1, 2, 4, 8, 16 at t = 0..4; the episode is truncated at t=1 (done, not
    # terminated) and a new one terminates at t=3.
    buffer = sac_isaac.ReplayBuffer(8, 1, obs_dim=1, act_dim=1, device=torch.device("cpu"))
    dones = [False, True, False, True, False]
    terminated = [False, False, False, True, False]
    for t in range(5):
        buffer.add(
            torch.tensor([[float(t)]]),
            torch.zeros(1, 1),
            torch.tensor([2.0**t]),
            torch.tensor([[100.0 + t]]),
            torch.tensor([terminated[t]]),
            torch.tensor([dones[t]]),
            torch.tensor([True]),
        )
    expected = {  # start t: (reward sum, index of the next_obs bootstrapped from, discount)
        0: (1 + 0.5 * 2, 1, 0.25),  # stops after the truncation at t=1, bootstraps from its final obs
        1: (2.0, 1, 0.5),  # the truncated step alone
        2: (4 + 0.5 * 8, 3, 0.0),  # stops at the termination at t=3: no bootstrap
    }
    torch.manual_seed(2)
    obs, _, reward_sum, next_obs, discount, _ = buffer.sample(512, n_step=3, gamma=0.5)
    for start, (total, last, disc) in expected.items():
        rows = obs[:, 0] == start
        assert rows.any()
        assert torch.allclose(reward_sum[rows], torch.tensor(total))
        assert torch.all(next_obs[rows, 0] == 100.0 + last)
        assert torch.allclose(discount[rows], torch.tensor(disc))


def test_n_step_window_ends_before_a_blown_up_simulation():
    # One env, gamma 0.5, n = 3. The Brax adapter's blow-up at t=2: truncated, zero reward, zero next_obs, valid False.
    # A window that reaches it ends at the step before and bootstraps from that step's next_obs (the last good state).
    buffer = sac_isaac.ReplayBuffer(8, 1, obs_dim=1, act_dim=1, device=torch.device("cpu"))
    for t in range(5):
        broken = t == 2
        buffer.add(
            torch.tensor([[float(t)]]),
            torch.zeros(1, 1),
            torch.tensor([0.0 if broken else 2.0**t]),
            torch.tensor([[0.0 if broken else 100.0 + t]]),
            torch.tensor([False]),
            torch.tensor([broken]),
            torch.tensor([not broken]),
        )
    expected = {0: (1 + 0.5 * 2, 101.0, 0.25), 1: (2.0, 101.0, 0.5)}  # start t: (reward sum, next_obs, discount)
    torch.manual_seed(3)
    obs, _, reward_sum, next_obs, discount, weight = buffer.sample(512, n_step=3, gamma=0.5)
    for start, (total, last, disc) in expected.items():
        rows = obs[:, 0] == start
        assert rows.any() and (weight[rows] == 1).all()
        assert torch.allclose(reward_sum[rows], torch.tensor(total))
        assert torch.all(next_obs[rows, 0] == last) and torch.allclose(discount[rows], torch.tensor(disc))


def test_cross_episode_transitions_get_weight_zero():
    # Isaac Gym's deferred resets: env 0 is done at t=1, so its transition at t=2 crosses episodes (valid False).
    buffer = sac_isaac.ReplayBuffer(8, 2, obs_dim=1, act_dim=1, device=torch.device("cpu"))
    for t in range(5):
        done = torch.tensor([t == 1, False])
        buffer.add(
            torch.tensor([[float(t)], [float(t)]]),
            torch.zeros(2, 1),
            torch.ones(2),
            torch.zeros(2, 1),
            torch.zeros(2, dtype=torch.bool),
            done,
            torch.tensor([t != 2, True]),
        )
    torch.manual_seed(5)
    obs, _, reward_sum, _, _, weight = buffer.sample(2048, n_step=2, gamma=0.5)
    cross = (obs[:, 0] == 2) & (weight == 0)
    assert cross.any() and ((weight == 0) == cross).all()  # only env 0's step 2, whatever else it sampled
    assert torch.equal(weight[obs[:, 0] != 2], torch.ones(int((obs[:, 0] != 2).sum())))
    # and an n-step sum stops at the done before it: starting at t=1 env 0 sums one reward
    assert (reward_sum[(obs[:, 0] == 1) & (weight == 1)] >= 1.0).all()


def test_actor_log_prob_matches_the_transformed_distribution():
    torch.manual_seed(3)
    actor = sac_isaac.Actor(obs_dim=5, act_dim=3, net_dim=32)
    obs = torch.randn(2000, 5)
    torch.manual_seed(4)
    actions, log_prob = actor(obs)
    mean, log_std = actor.net(obs).chunk(2, dim=-1)
    reference = torch.distributions.TransformedDistribution(
        torch.distributions.Normal(mean, log_std.clamp(-5, 0).exp()),  # (the actor's own clamp)
        [torch.distributions.TanhTransform(cache_size=1)],
    )
    inside = actions.abs().max(dim=1).values < 0.999  # away from the edge, where atanh is ill-conditioned
    assert inside.float().mean() > 0.9
    assert torch.allclose(log_prob[inside], reference.log_prob(actions[inside]).sum(-1), atol=1e-3)
    assert actions.abs().max() < 1.0
    assert torch.equal(actor.deterministic(obs), torch.tanh(mean))


@pytest.mark.parametrize("clamped", [False, True])
def test_actor_log_prob_stays_finite_for_saturated_actions(clamped):
    actor = sac_isaac.Actor(obs_dim=2, act_dim=2, net_dim=16)
    with torch.no_grad():
        actor.net[-1].bias[:2] = 40.0 if clamped else 8.0  # tanh(mean) rounds to 1.0 in float32
    with torch.no_grad():
        actions, log_prob = actor(torch.zeros(64, 2))
    assert torch.isfinite(log_prob).all() and math.isfinite(float(log_prob.mean()))


def test_c51_projection_matches_hand_computed_distributions():
    support = torch.arange(5.0)  # atoms at returns 0, 1, 2, 3, 4
    one_hot_2, uniform = torch.tensor([[0.0, 0, 1, 0, 0]]), torch.full((1, 5), 0.2)
    cases = [  # (next_probs, reward_sum, discount, expected target)
        (one_hot_2, 0.5, 0.5, [0, 0.5, 0.5, 0, 0]),  # 2 -> 0.5 + 0.5 * 2 = 1.5: half on 1, half on 2
        (uniform, 3.0, 1.0, [0, 0, 0, 0.2, 0.8]),  # 3 + z: 3, then 4, 5, 6, 7 clipped to the last atom
        (uniform, 2.25, 0.0, [0, 0, 0.75, 0.25, 0]),  # terminated: every atom moves to 2.25
        (one_hot_2, -3.0, 0.5, [1, 0, 0, 0, 0]),  # below the support: its first atom
    ]
    for probs, reward, discount, expected in cases:
        target = sac_isaac.project(probs, torch.tensor([reward]), torch.tensor([discount]), support)
        assert torch.allclose(target, torch.tensor([expected], dtype=torch.float)), (reward, discount, target)


def test_c51_projection_keeps_probability_and_the_mean_inside_the_support():
    torch.manual_seed(0)
    support = torch.linspace(-10.0, 30.0, 101)
    probs = torch.rand(256, 101).softmax(-1)
    reward, discount = torch.rand(256) * 5, torch.rand(256) * 0.5  # shifted returns stay in [-10, 30]
    target = sac_isaac.project(probs, reward, discount, support)
    assert torch.allclose(target.sum(-1), torch.ones(256)) and bool((target >= 0).all())
    assert torch.allclose(target @ support, reward + discount * (probs @ support), atol=1e-4)
    critic = sac_isaac.Critic(obs_dim=3, act_dim=1, net_dim=16, support=support)
    logits = critic(torch.zeros(4, 3), torch.zeros(4, 1))[0]
    assert logits.shape == (4, 101) and torch.allclose(critic.q_value(logits), logits.softmax(-1) @ support)


def test_policy_frequency_steps_the_actor_and_temperature_on_every_nth_update(tmp_path, monkeypatch):
    """--policy-frequency 3: every critic update steps the critics, the 1st, 4th, 7th, ... also the actor and alpha
    (counted by their optimisers in the final checkpoint). And the updates of an env step, which run beside the
    simulator's step, sample the replay as it was before it: after the 4 random steps, 4, 5, ... 31 steps in it,
    each twice. One small Pendulum run in this process."""
    import signal

    monkeypatch.chdir(tmp_path)
    sizes, sample = [], sac_isaac.ReplayBuffer.sample
    monkeypatch.setattr(sac_isaac.ReplayBuffer, "sample", lambda self, *a: sizes.append(self.size) or sample(self, *a))
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        sac_isaac.main(
            *sac_isaac.parse_args(
                [
                    "--env-name",
                    "Pendulum",
                    "--env-num",
                    "8",
                    "--total-timesteps",
                    "256",
                    "--eval-env-num",
                    "0",
                    "--net-dim",
                    "32",
                    "--batch-size",
                    "64",
                    "--buffer-size",
                    "1024",
                    "--updates-per-step",
                    "2",
                    "--policy-frequency",
                    "3",
                    "--run-name",
                    "pf",
                ]
            )
        )
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    ckpt = torch.load(str(tmp_path / "runs" / "pf" / "checkpoint.pt"), weights_only=False)
    steps = {name: int(ckpt[name]["state"][0]["step"]) for name in ("critic_opt", "actor_opt", "alpha_opt")}
    assert steps["critic_opt"] == 2 * (256 // 8 - 4)  # two per env step after the 4 random ones
    assert steps["actor_opt"] == steps["alpha_opt"] == math.ceil(steps["critic_opt"] / 3)
    assert sizes == [size for size in range(4, 256 // 8) for _ in range(2)]
