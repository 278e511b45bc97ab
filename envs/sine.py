"""Sine regression (Finn et al., 2017; ES-MAML A.6): a supervised task family, not an MDP.

A task is a sine curve y = A sin(x - phase) with A ~ U(0.1, 5), phase ~ U(0, pi); data points have
x ~ U(-5, 5). The objective the algorithms see is minus the mean squared error on K points
(esmaml_jax.objectives.regression_objective); the task "need not even be an MDP" (Sec. 3.2).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from envs.base import Recommended

AMPLITUDE = (0.1, 5.0)
PHASE = (0.0, math.pi)
X_RANGE = (-5.0, 5.0)


def sample_tasks(key: jax.Array, num: int) -> dict:
    """{"amplitude": [num], "phase": [num]}."""
    k_a, k_p = jax.random.split(key)
    return {"amplitude": jax.random.uniform(k_a, (num,), minval=AMPLITUDE[0], maxval=AMPLITUDE[1]),
            "phase": jax.random.uniform(k_p, (num,), minval=PHASE[0], maxval=PHASE[1])}


def target(task: dict, x: jax.Array) -> jax.Array:
    return task["amplitude"] * jnp.sin(x - task["phase"])


def sample_data(key: jax.Array, task: dict, num: int) -> tuple[jax.Array, jax.Array]:
    """``num`` points of one task: x [num, 1], y [num, 1]."""
    x = jax.random.uniform(key, (num, 1), minval=X_RANGE[0], maxval=X_RANGE[1])
    return x, target(task, x)


@dataclasses.dataclass(frozen=True)
class SineFamily:
    """The sine task distribution with a fixed seeded test set.

    ``num_shots`` is K, the number of (x, y) pairs one query of the objective sees.
    """

    name: str = "sine"
    num_shots: int = 10
    num_test_tasks: int = 100
    test_seed: int = 4321
    observation_size: int = 1
    action_size: int = 1
    recommended: Recommended = Recommended(
        operator="autodiff_gradient", inner_step_size=0.01, policy="regressor",
        hidden_sizes=(40, 40), meta_steps=500, tasks_per_perturbation=5)

    def sample_train_tasks(self, key, num):
        return sample_tasks(key, num)

    def sample_data(self, key, task, num):
        return sample_data(key, task, num)

    def sample_test_tasks(self, key, num=None):
        tasks = sample_tasks(jax.random.PRNGKey(self.test_seed), self.num_test_tasks)
        if num is None:
            return tasks
        return jax.tree.map(lambda x: x[jnp.arange(num) % self.num_test_tasks], tasks)


def sine(num_shots: int = 10, num_test_tasks: int = 100) -> SineFamily:
    if num_shots < 1:
        raise ValueError(f"num_shots must be >= 1, got {num_shots}")
    return SineFamily(num_shots=num_shots, num_test_tasks=num_test_tasks)
