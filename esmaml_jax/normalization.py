"""Running observation statistics (A.7.1: global state normalization shared by all workers).

Rollouts return additive `Moments` (count, sum, sum of squares) of the raw observations they saw;
the algorithm sums them over every rollout of a meta-step and merges them into `RunningStats`
after the step. During a meta-step the statistics are frozen, so every rollout of the step sees
the same normalizer.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from esmaml_jax.types import Array

STD_FLOOR = 1e-2


class Moments(NamedTuple):
    """Additive sufficient statistics: count [], sum [O], sum of squares [O]."""

    count: Array  # type: ignore[assignment]  # (a field named like tuple.count)
    total: Array
    total_sq: Array

    @staticmethod
    def zeros(size: int) -> Moments:
        return Moments(jnp.zeros(()), jnp.zeros(size), jnp.zeros(size))

    def add(self, obs: Array, weight: Array) -> Moments:
        return Moments(self.count + weight, self.total + weight * obs,
                       self.total_sq + weight * obs**2)


class RunningStats(NamedTuple):
    """Welford-style running mean and sum of squared deviations: count [], mean [O], m2 [O]."""

    count: Array  # type: ignore[assignment]
    mean: Array
    m2: Array

    @staticmethod
    def zeros(size: int) -> RunningStats:
        return RunningStats(jnp.zeros(()), jnp.zeros(size), jnp.zeros(size))

    def merge(self, m: Moments) -> RunningStats:
        """Chan et al.'s parallel combination of two sets of moments."""
        n_b = m.count
        safe_n_b = jnp.maximum(n_b, 1.0)
        mean_b = m.total / safe_n_b
        m2_b = jnp.maximum(m.total_sq - n_b * mean_b**2, 0.0)
        n = self.count + n_b
        safe_n = jnp.maximum(n, 1.0)
        delta = mean_b - self.mean
        mean = self.mean + delta * n_b / safe_n
        m2 = self.m2 + m2_b + delta**2 * self.count * n_b / safe_n
        return RunningStats(n, mean, m2)

    @property
    def std(self) -> Array:
        # Before two observations the std is undefined: use 1 (identity normalization).
        var = self.m2 / jnp.maximum(self.count, 1.0)
        return jnp.where(self.count > 1, jnp.maximum(jnp.sqrt(var), STD_FLOOR), 1.0)

    def normalize(self, obs: Array) -> Array:
        return (obs - self.mean) / self.std
