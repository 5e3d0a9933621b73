"""What only a GPU can show. Skipped without one, as in CI; on a GPU machine: python -m pytest tests/test_gpu.py"""

import collections

import pytest
import torch

import isaac_env

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (CI has none)")


class WatchedLent(collections.deque):
    """The Brax adapter's queue of arrays lent to torch, each with the event of torch's stream recorded when it was
    handed over: counts how many hand-overs torch's stream had not yet passed at each new one (how far it lagged),
    and the arrays let go before torch's stream had passed their hand-over."""

    def __init__(self, items):
        super().__init__(items)
        self.most_behind, self.early = 0, 0

    def append(self, item):
        self.most_behind = max(self.most_behind, sum(not event.query() for _, event in self))
        super().append(item)

    def popleft(self):
        self.early += not self[0][1].query()
        return super().popleft()


def test_arrays_lent_to_torch_outlive_a_lagging_torch_stream():
    """The Brax adapter's lifetime guard (BraxEnv._lend): torch's stream is held back by a long kernel while the host
    steps a Brax env 3 x LENT_STEPS times, with the pool's periodic sync switched off (as a change removing it would
    leave it). No array handed to torch may be let go before torch's stream has passed the point where it was handed
    over, and what torch reads stays finite. Where the host could not run ahead of torch's stream (JAX waited at the
    hand-over), the guard had nothing to guard, and the test says so by skipping: on an H200 (2026-12-02, torch
    2.11, jax 0.11.2) it did, its asserts held, and torch's stream was never 2 hand-overs behind the host (likely: JAX's
    step waits for torch's actions, and handing JAX's outputs to torch waits for that step)."""
    env = isaac_env.make_env("Ant", 64, "brax", "cuda", seed=0)
    env.FRESH_EVERY = 10**9  # (the pool's refresh syncs torch's stream: it would hide the lag)
    env.compile()
    env.reset()
    env._lent = lent = WatchedLent(env._lent)
    actions = torch.zeros(env.num_envs, env.act_dim, device=env.device)
    torch.cuda._sleep(2 * 10**9)  # about a second of torch's stream
    reads = []
    for _ in range(3 * env.LENT_STEPS):
        obs, reward, terminated, truncated, info = env.step(actions)
        reads.append(obs.sum() + info["final_obs"].sum())  # torch reads each step's outputs, behind the sleep
    torch.cuda.synchronize()
    assert lent.early == 0
    assert all(torch.isfinite(r) for r in reads)
    if lent.most_behind < 2:
        pytest.skip("torch's stream never fell 2 hand-overs behind the host: nothing for the guard to guard here")
