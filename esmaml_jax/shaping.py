"""Fitness shaping: maps raw returns to the weights an ES estimator uses.

Every shaper takes ``values [N]`` and returns ``(shaped [N], valid [N] bool)``. Non-finite values
(NaN/inf returns from a diverging policy) are excluded from the statistics and come back as 0 with
``valid`` False, so they never reach an update.

- ``zscore``: (v - mean) / std over the valid values; the reference ("fitness normalization")
  z-scores the perturbed values together with the current value, which callers do by appending it.
- ``centered_rank``: ranks mapped linearly onto [-0.5, 0.5] (Salimans et al., 2017).
- ``none``: values unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp

from esmaml_jax.types import Array

Shaper = Callable[[Array], tuple[Array, Array]]
ZSCORE_EPS = 1e-8


def _valid(values: Array) -> Array:
    return jnp.isfinite(values)


def none(values: Array) -> tuple[Array, Array]:
    """Values unchanged (non-finite ones zeroed and marked invalid): ([N], [N] bool)."""
    valid = _valid(values)
    return jnp.where(valid, values, 0.0), valid


def zscore(values: Array) -> tuple[Array, Array]:
    """(v - mean) / std over the finite values: ([N], [N] bool)."""
    valid = _valid(values)
    n = jnp.maximum(jnp.sum(valid), 1)
    v = jnp.where(valid, values, 0.0)
    mean = jnp.sum(v) / n
    var = jnp.sum(jnp.where(valid, (v - mean) ** 2, 0.0)) / n
    # All-equal values carry no signal: the shaped values are 0 rather than 0/0.
    shaped = (v - mean) / jnp.maximum(jnp.sqrt(var), ZSCORE_EPS)
    return jnp.where(valid, shaped, 0.0), valid


def centered_rank(values: Array) -> tuple[Array, Array]:
    """Ranks of the finite values mapped linearly onto [-0.5, 0.5]: ([N], [N] bool)."""
    valid = _valid(values)
    num_valid = jnp.sum(valid)
    # Invalid values sort first; subtracting their count gives ranks 0..num_valid-1 to the rest.
    order = jnp.argsort(jnp.where(valid, values, -jnp.inf))
    ranks = jnp.empty_like(order).at[order].set(jnp.arange(values.shape[0]))
    ranks = ranks - (values.shape[0] - num_valid)
    shaped = ranks / jnp.maximum(num_valid - 1, 1) - 0.5
    return jnp.where(valid, shaped, 0.0), valid
