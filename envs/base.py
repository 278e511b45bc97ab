"""The task-family contract: a Brax env whose state carries the task, plus task distributions.

A *task* is a pytree of arrays (e.g. a goal position). Batches of tasks carry a leading axis.
Environments never know about ES: they map (state, action) to (state, reward) for the task
stored in ``state.info["task"]``, so one compiled program serves every task.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import io
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

# Importing Brax pulls in mujoco.mjx, which prints a notice when the optional `warp` GPU package is
# absent; keep that noise out of our CLI output.
with contextlib.redirect_stdout(io.StringIO()):
    from brax.envs.base import Env, State

Task = Any  # pytree of arrays
TaskSampler = Callable[[jax.Array, int], Task]


class TaskEnv(Env):
    """A `brax.envs.Env` whose reset takes the task explicitly.

    ``reset(rng)`` (the plain Brax contract) samples a task from the family's distribution;
    ``reset_task(rng, task)`` starts an episode of a given task. The task lives in
    ``state.info["task"]`` for the whole episode.

    ``rollout_unroll``: how many env steps one iteration of the rollout loop runs
    (``lax.scan(unroll=...)``; the numbers are the same). The default 1 suits an env nothing is
    known about: an expensive physics step compiles once per unrolled copy (halfcheetah: 2 runs
    the step about 1.2x faster but compiles about 1.3x longer). A cheap pure-JAX step is
    dominated by the loop's per-iteration cost on a CPU, so the point-mass envs and CartPole
    set 2 (four corners, linear meta-step about 1.2x faster, 7 interleaved rounds).
    """

    rollout_unroll: int = 1

    def reset(self, rng: jax.Array) -> State:
        k_task, k_reset = jax.random.split(rng)
        task = jax.tree.map(lambda x: x[0], self.sample_tasks(k_task, 1))
        return self.reset_task(k_reset, task)

    @abc.abstractmethod
    def reset_task(self, rng: jax.Array, task: Task) -> State:
        """Start an episode of ``task`` (one task, no leading axis)."""

    @abc.abstractmethod
    def sample_tasks(self, key: jax.Array, num: int) -> Task:
        """``num`` tasks from the family's distribution, stacked on a leading axis."""

    @property
    def backend(self) -> str:
        return "jax"


def _take(tasks: Task, idx: jax.Array) -> Task:
    return jax.tree.map(lambda x: x[idx], tasks)


def num_tasks(tasks: Task) -> int:
    """Size of the leading axis of a task batch."""
    return int(jax.tree.leaves(tasks)[0].shape[0])


@dataclasses.dataclass(frozen=True)
class Recommended:
    """Settings a task family suggests, as plain data in its own terms (every field optional;
    None: no suggestion). The app (`esmaml_jax.app.build`) applies each to the setting it
    describes when the user has not set that one, and says so."""

    horizon: int | None = None  # episode length
    policy: str | None = None  # "linear", "mlp" or "regressor"
    hidden_sizes: tuple[int, ...] | None = None
    operator: str | None = None  # adaptation operator name
    inner_step_size: float | None = None  # the adaptation step alpha
    num_queries: int | None = None  # K
    num_shots: int | None = None  # supervised: data points per query
    num_perturbations: int | None = None  # P
    tasks_per_perturbation: int | None = None
    normalize_observations: bool | None = None
    meta_steps: int | None = None
    steps_per_log: int | None = None
    eval_repeats: int | None = None


@dataclasses.dataclass(frozen=True)
class TaskFamily:
    """A distribution over tasks and the environment that runs them.

    Attributes:
      name: registry name.
      env: a `TaskEnv` (Brax `Env`) with ``reset_task(rng, task)``.
      horizon: default episode length (fixed-length rollouts).
      train_tasks: optional fixed finite training set (leading axis N); ``None`` means tasks are
        drawn from ``env.sample_tasks`` every meta-step.
      test_tasks: optional fixed held-out set used by ``evaluate``.
      recommended: settings this family suggests to whoever trains on it (`Recommended`).
    """

    name: str
    env: TaskEnv
    horizon: int
    observation_size: int
    action_size: int
    train_tasks: Task | None = None
    test_tasks: Task | None = None
    recommended: Recommended | None = None

    def reset(self, key: jax.Array, task: Task) -> State:
        return self.env.reset_task(key, task)

    def sample_train_tasks(self, key: jax.Array, num: int) -> Task:
        """``num`` training tasks: [num, ...].

        With a fixed finite set of N tasks they are drawn without replacement (A.7.2), cycling
        through a fresh permutation when num > N; otherwise from the task distribution.
        """
        if self.train_tasks is None:
            return self.env.sample_tasks(key, num)
        n = num_tasks(self.train_tasks)
        reps = -(-num // n)
        perms = jax.vmap(lambda k: jax.random.permutation(k, n))(jax.random.split(key, reps))
        return _take(self.train_tasks, perms.reshape(-1)[:num])

    def sample_test_tasks(self, key: jax.Array, num: int | None = None) -> Task:
        """The fixed test set if the family has one (``num`` None: all of it), else ``num`` fresh
        tasks from the distribution."""
        if self.test_tasks is not None:
            if num is None or num == num_tasks(self.test_tasks):
                return self.test_tasks
            n = num_tasks(self.test_tasks)
            return _take(self.test_tasks, jnp.arange(num) % n)
        return self.env.sample_tasks(key, 20 if num is None else num)
