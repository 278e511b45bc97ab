"""Point-mass navigation tasks (Sec. 4.1, A.4): navigation_2d, four_corners, six_circles.

Common dynamics: the state is the position p in R^2, starting at the origin; the action is clipped
per axis to [-0.1, 0.1]; p <- clip(p + a); the reward is computed after the move; the observation
is the position only, so the agent must find its task from rewards.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from brax.envs.base import State

from envs.base import Task, TaskEnv, TaskFamily

ACTION_BOUND = 0.1
# Zones of radius 2 (squared distance 4) around every goal: four_corners / six_circles.
ZONE_SQ = 4.0
WRONG_GOAL_PENALTY = 10000.0
VISIT_SQ = 0.01

# NumPy constants: importing this module must not start JAX (jax.distributed.initialize() has to
# remain possible after `import envs`).
CORNERS = np.array([[2.0, 2.0], [-2.0, 2.0], [-2.0, -2.0], [2.0, -2.0]], np.float32)
SIX_GOALS = np.array(
    [[math.sqrt(8) * math.cos(2 * math.pi * i / 6), math.sqrt(8) * math.sin(2 * math.pi * i / 6)]
     for i in range(6)], np.float32
)


class _PointEnv(TaskEnv):
    """Shared point-mass dynamics; subclasses define the reward and the task."""

    pos_bound: float = 5.0
    rollout_unroll = 2  # a cheap step: the loop's per-iteration cost dominates (TaskEnv)

    @property
    def observation_size(self) -> int:
        return 2

    @property
    def action_size(self) -> int:
        return 2

    def _extra_info(self, task: Task) -> dict:
        return {}

    def reset_task(self, rng: jax.Array, task: Task) -> State:
        del rng  # deterministic start
        pos = jnp.zeros(2)
        info = {"task": task, "pos": pos, **self._extra_info(task)}
        zero = jnp.zeros(())
        return State(pipeline_state=None, obs=pos, reward=zero, done=zero, metrics={}, info=info)

    def step(self, state: State, action: jax.Array) -> State:
        a = jnp.clip(action, -ACTION_BOUND, ACTION_BOUND)
        pos = jnp.clip(state.info["pos"] + a, -self.pos_bound, self.pos_bound)
        info = dict(state.info, pos=pos)
        reward, done, info = self._reward(pos, info)
        return state.replace(obs=pos, reward=reward, done=done.astype(jnp.float32), info=info)


class Navigation2D(_PointEnv):
    """Goal ~ U([-1, 1]^2); p clipped to [-1, 1]; r = -|p - g|^2; the episode ends at r >= -0.01."""

    pos_bound = 1.0

    def sample_tasks(self, key, num):
        return jax.random.uniform(key, (num, 2), minval=-1.0, maxval=1.0)

    def _reward(self, pos, info):
        r = -jnp.sum((pos - info["task"]) ** 2)
        return r, r >= -0.01, info


def _sparse_goal_reward(d_sq):
    # -4 everywhere, rising to 0 at the goal, signal only within radius 2.
    return -4.0 + jnp.maximum(0.0, ZONE_SQ - d_sq)


def _wrong_goal_penalty(d_sq):
    return WRONG_GOAL_PENALTY * jnp.minimum(0.0, d_sq - ZONE_SQ)


class FourCorners(_PointEnv):
    """Goal: one of the corners (+-2, +-2); p clipped to [-5, 5]; never ends.

    r = -4 + max(0, 4 - |p - g|^2). With ``penalized`` (Fig. 1b) each wrong corner adds
    10000 * min(0, d^2 - 4) inside its radius-2 zone. The task is the corner index (int32).
    """

    def __init__(self, penalized: bool = False):
        self.penalized = penalized

    def sample_tasks(self, key, num):
        return jax.random.randint(key, (num,), 0, 4)

    def _extra_info(self, task):
        return {"goal": jnp.asarray(CORNERS)[task]}

    def _reward(self, pos, info):
        # The goal's own distance from its coordinates (kept in the state): computing all four
        # distances and masking costs 4x the whole rollout of a linear policy on a CPU.
        r = _sparse_goal_reward(jnp.sum((info["goal"] - pos) ** 2))
        if self.penalized:
            d_sq = jnp.sum((CORNERS - pos) ** 2, axis=-1)  # [4]
            correct = jnp.arange(4) == info["task"]
            r = r + jnp.sum(jnp.where(correct, 0.0, _wrong_goal_penalty(d_sq)))
        return r, jnp.zeros((), bool), info


class SixCircles(_PointEnv):
    """Six goals at radius sqrt(8); a task marks 2 of them correct (a [6] bool mask).

    Per step: each wrong goal adds 10000 * min(0, d^2 - 4); each correct goal not yet visited adds
    -4 + max(0, 4 - d^2). A correct goal becomes visited (and adds 0 from then on, this step
    included) once d^2 < 0.01. The visited set lives in the env state, not in the observation.
    """

    def sample_tasks(self, key, num):
        keys = jax.random.split(key, num)
        pick = jax.vmap(lambda k: jax.random.choice(k, 6, (2,), replace=False))(keys)
        return jnp.zeros((num, 6), bool).at[jnp.arange(num)[:, None], pick].set(True)

    def _extra_info(self, task):
        return {"visited": jnp.zeros(6, bool)}

    def _reward(self, pos, info):
        d_sq = jnp.sum((SIX_GOALS - pos) ** 2, axis=-1)
        correct = info["task"]
        visited = info["visited"] | (correct & (d_sq < VISIT_SQ))
        pending = correct & ~visited
        r = jnp.sum(jnp.where(pending, _sparse_goal_reward(d_sq), 0.0))
        r = r + jnp.sum(jnp.where(correct, 0.0, _wrong_goal_penalty(d_sq)))
        return r, jnp.zeros((), bool), dict(info, visited=visited)


def _all_pairs_of_six() -> jax.Array:
    pairs = [(i, j) for i in range(6) for j in range(i + 1, 6)]
    return jnp.zeros((15, 6), bool).at[jnp.arange(15)[:, None], jnp.array(pairs)].set(True)


def navigation_2d(horizon: int = 100, num_test_tasks: int = 20, test_seed: int = 1234):
    """Dense-reward navigation (Finn et al., 2017). Training goals are drawn fresh each meta-step;
    the test set is a fixed seeded sample of ``num_test_tasks`` goals."""
    env = Navigation2D()
    test = env.sample_tasks(jax.random.PRNGKey(test_seed), num_test_tasks)
    return TaskFamily("navigation_2d", env, horizon, 2, 2, None, test)


def four_corners(horizon: int = 100, penalized: bool = False):
    """Sparse four corners (Rothfuss et al., 2019); N = 4 tasks, train = test = all (A.7.2)."""
    tasks = jnp.arange(4)
    name = "four_corners_penalized" if penalized else "four_corners"
    return TaskFamily(name, FourCorners(penalized), horizon, 2, 2, tasks, tasks)


def six_circles(horizon: int = 100):
    """Six circles (Fig. 2); N = 15 goal pairs, train = test = all of them."""
    tasks = _all_pairs_of_six()
    return TaskFamily("six_circles", SixCircles(), horizon, 2, 2, tasks, tasks)
