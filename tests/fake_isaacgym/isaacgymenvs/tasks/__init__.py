import torch


class FakeVecTask:
    num_obs = num_actions = 0
    max_episode_length = 1000
    dt = 0.05

    def __init__(self, num_envs, sim_device, rl_device):
        self.num_envs, self.device, self.rl_device = num_envs, torch.device(sim_device), torch.device(rl_device)
        self.clip_obs, self.clip_actions = 5.0, 1.0
        n, d = num_envs, self.num_actions
        self.obs_buf = torch.zeros(n, self.num_obs, device=self.device)
        self.rew_buf = torch.zeros(n, device=self.device)
        self.reset_buf = torch.ones(n, dtype=torch.long, device=self.device)
        self.timeout_buf = torch.zeros(n, dtype=torch.long, device=self.device)
        self.progress_buf = torch.zeros(n, dtype=torch.long, device=self.device)
        self.pos = torch.zeros(n, d, device=self.device)
        self.vel = torch.zeros(n, d, device=self.device)
        self.actions = torch.zeros(n, d, device=self.device)
        self.force = torch.zeros(n, device=self.device)  # a "force sensor": read before resets, so stale after one
        self.extras, self.obs_dict = {}, {}

    def reset(self):
        self.obs_dict["obs"] = torch.clamp(self.obs_buf, -self.clip_obs, self.clip_obs).to(self.rl_device)
        return self.obs_dict

    def step(self, actions):
        self.actions = torch.clamp(actions, -self.clip_actions, self.clip_actions).to(self.device)
        self.vel += self.actions * self.dt  # "physics" runs first, also for envs waiting for their reset
        self.pos += self.vel * self.dt
        self.post_physics_step()
        self.timeout_buf = torch.where(
            self.progress_buf >= self.max_episode_length - 1,
            torch.ones_like(self.timeout_buf),
            torch.zeros_like(self.timeout_buf),
        )
        self.extras["time_outs"] = self.timeout_buf.to(self.rl_device)
        self.obs_dict["obs"] = torch.clamp(self.obs_buf, -self.clip_obs, self.clip_obs).to(self.rl_device)
        return self.obs_dict, self.rew_buf.to(self.rl_device), self.reset_buf.to(self.rl_device), self.extras

    def post_physics_step(self):
        self.progress_buf += 1
        self.force = self.vel.norm(dim=1)
        env_ids = self.reset_buf.nonzero(as_tuple=False).squeeze(-1)
        if len(env_ids) > 0:
            self.reset_idx(env_ids)
        self.compute_observations()
        self.compute_reward()

    def reset_idx(self, env_ids):
        shape = (len(env_ids), self.num_actions)
        self.pos[env_ids] = (torch.rand(shape, device=self.device) - 0.5) * 0.2  # torch's global generator
        self.vel[env_ids] = (torch.rand(shape, device=self.device) - 0.5) * 0.2
        self.progress_buf[env_ids] = 0
        self.reset_buf[env_ids] = 0

    def compute_observations(self):
        d = self.num_actions
        self.obs_buf[:, :d] = self.pos
        self.obs_buf[:, d : 2 * d] = self.vel
        self.obs_buf[:, 2 * d : 3 * d] = self.actions
        self.obs_buf[:, 3 * d] = self.progress_buf.float() / self.max_episode_length
        self.obs_buf[:, 3 * d + 1] = self.force

    def compute_reward(self):
        fell = self.pos[:, 1:].abs().max(dim=1).values > 1.0
        self.rew_buf[:] = self.vel[:, 0] + 0.5 - 0.01 * (self.actions**2).sum(dim=1)
        self.reset_buf[:] = torch.where(
            fell | (self.progress_buf >= self.max_episode_length - 1), torch.ones_like(self.reset_buf), self.reset_buf
        )


class Ant(FakeVecTask):
    num_obs, num_actions = 60, 8


class Humanoid(FakeVecTask):
    num_obs, num_actions = 108, 21


isaacgym_task_map = {"Ant": Ant, "Humanoid": Humanoid}
