"""What only a GPU can show. Skipped without one, as in CI; on a GPU machine: python -m pytest tests/test_gpu.py"""

import collections
import time

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


def sleep_kernel_seconds(cycles: int) -> float:
    start = time.time()
    torch.cuda._sleep(cycles)
    torch.cuda.synchronize()
    return time.time() - start


def test_torch_cannot_fall_behind_the_arrays_lent_to_it():
    """Where the adapter's lifetime guard stands (BraxEnv._lend). Its hand-over waits both ways: JAX's step waits for
    torch's actions, and torch.from_dlpack of the step's outputs returns once JAX has produced them. So a torch stream
    held back by a slow kernel holds the host back at the next step (it does not queue steps ahead of torch), and
    torch's stream is never more than one hand-over behind: the guard's LENT_STEPS (32) of arrays kept, and its event
    synchronised before one is let go, are a margin that no step needs today, kept for a JAX that stopped waiting. The
    pool's periodic sync is off here (as a change removing it would leave it)."""
    env = isaac_env.make_env("Ant", 64, "brax", "cuda", seed=0)
    env.FRESH_EVERY = 10**9
    env.compile()
    env.reset()
    env._lent = lent = WatchedLent(env._lent)
    actions = torch.zeros(env.num_envs, env.act_dim, device=env.device)
    slow = sleep_kernel_seconds(2 * 10**9)  # about a second
    waits = []
    for _ in range(3 * env.LENT_STEPS):
        torch.cuda._sleep(2 * 10**7)  # a slow consumer: about 10 ms of torch's stream before each step's actions
        start = time.time()
        obs, reward, terminated, truncated, info = env.step(actions)
        waits.append(time.time() - start)
        _ = obs.sum() + info["final_obs"].sum()  # torch reads each step's outputs
    torch.cuda._sleep(2 * 10**9)  # then a long one: the next step waits for it
    start = time.time()
    env.step(actions)
    held_back = time.time() - start
    torch.cuda.synchronize()
    assert held_back > 0.5 * slow, (held_back, slow)
    assert lent.most_behind <= 1, lent.most_behind
    assert lent.early == 0
    assert min(waits) > 0.5 * slow / 100  # every step waited for its 10 ms of torch's stream
