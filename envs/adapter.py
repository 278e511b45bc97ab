"""Any env with the Brax `Env` API as a task family: an MJX model, a MuJoCo Playground-style env,
or a Brax env of your own.

`from_brax(name, env, sample_tasks, reward, horizon)` wraps ``env`` (``reset(rng) -> State``,
``step(state, action) -> State``, ``action_size``) so that the task rides in
``state.info["task"]`` and ``reward(task, state, next_state, action) -> []`` replaces the env's
own reward. The env's physics, observations and ``done`` are kept. Its defaults suit an env
nothing is known about: one env step per iteration of the rollout loop (an expensive physics
step compiles once per unrolled copy) and the batch-first layout. Sizes are checked when it is
built: the reward must be a scalar per step and the task sampler must stack ``num`` tasks on a
leading axis, or it is a one-line error; the policy's sizes are checked against the family's
by `esmaml_jax.rl_objective`.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from envs.base import Recommended, State, Task, TaskEnv, TaskFamily, TaskSampler

Reward = Callable[[Task, State, State, jax.Array], jax.Array]


class BraxAdapterEnv(TaskEnv):
    """A Brax-API env with a task in its state and a task-dependent reward."""

    rollout_unroll = 1

    def __init__(self, env, sample_tasks: TaskSampler, reward: Reward):
        self.base, self._sample, self._reward = env, sample_tasks, reward
        key = jax.random.PRNGKey(0)
        state = jax.eval_shape(env.reset, key)  # shapes only: nothing runs
        if state.obs.ndim != 1:
            raise ValueError(f"the env's observation must be a vector, got shape "
                             f"{state.obs.shape}")
        self._obs_size = int(state.obs.shape[0])
        tasks = jax.eval_shape(lambda k: sample_tasks(k, 3), key)
        leading = {x.shape[0] if x.ndim else None for x in jax.tree.leaves(tasks)}
        if leading != {3}:
            raise ValueError(f"sample_tasks(key, num) must stack num tasks on a leading axis; "
                             f"sample_tasks(key, 3) gave shapes "
                             f"{[x.shape for x in jax.tree.leaves(tasks)]}")
        task = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), tasks)
        action = jax.ShapeDtypeStruct((env.action_size,), jnp.float32)
        nxt = jax.eval_shape(env.step, state, action)
        r = jax.eval_shape(reward, task, state, nxt, action)
        if getattr(r, "shape", None) != ():
            raise ValueError(f"reward(task, state, next_state, action) must be a scalar per "
                             f"step, got shape {getattr(r, 'shape', type(r).__name__)}")

    @property
    def observation_size(self) -> int:
        return self._obs_size

    @property
    def action_size(self) -> int:
        return int(self.base.action_size)

    @property
    def backend(self) -> str:
        return str(getattr(self.base, "backend", "jax"))

    def sample_tasks(self, key, num):
        return self._sample(key, num)

    def reset_task(self, rng, task):
        s = self.base.reset(rng)
        return s.replace(reward=jnp.zeros(()), info=dict(s.info, task=task))

    def step(self, state, action):
        task = state.info["task"]
        nxt = self.base.step(state, action)
        reward = jnp.asarray(self._reward(task, state, nxt, action), jnp.float32)
        return nxt.replace(reward=reward, info=dict(nxt.info, task=task))


def from_brax(name: str, env, sample_tasks: TaskSampler, reward: Reward, horizon: int, *,
              train_tasks: Task | None = None, test_tasks: Task | None = None,
              recommended: Recommended | None = None) -> TaskFamily:
    """A `TaskFamily` over ``env`` (Brax `Env` API) with tasks from ``sample_tasks(key, num)``
    and the reward ``reward(task, state, next_state, action)``; optional fixed task sets as in
    `TaskFamily`. Register it with ``envs.register(name, lambda **kw: from_brax(...))`` to train
    it from configs and the CLI."""
    if not isinstance(horizon, int) or isinstance(horizon, bool) or horizon < 1:
        raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}")
    task_env = BraxAdapterEnv(env, sample_tasks, reward)
    return TaskFamily(name, task_env, horizon, task_env.observation_size, task_env.action_size,
                      train_tasks=train_tasks, test_tasks=test_tasks, recommended=recommended)


__all__ = ["BraxAdapterEnv", "from_brax"]
