"""Perturbation samplers and Monte Carlo ES-gradient estimators (Sec. 3.1, Alg. 1).

The gradient of the Gaussian smoothing f~(theta) = E_g f(theta + sigma g) (Eq. 4) is estimated
from n directions g_i by one of:

- ``vanilla``     1/(n sigma) sum_i f(theta + sigma g_i) g_i                        (Alg. 1)
- ``forward_fd``  1/(n sigma) sum_i (f(theta + sigma g_i) - f(theta)) g_i
- ``antithetic``  1/(2 n sigma) sum_i (f(theta + sigma g_i) - f(theta - sigma g_i)) g_i

Values pass through fitness shaping first; directions whose value is non-finite are dropped and
the sum is divided by the number of valid directions. Query costs: vanilla n, forward_fd n + 1
(the centre), antithetic 2n.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from esmaml_jax import shaping as shaping_lib
from esmaml_jax.types import Array, Key

ESTIMATORS = ("vanilla", "forward_fd", "antithetic")
Sampler = Callable[[Key, int, int], Array]


def gaussian(key: Key, num: int, dim: int) -> Array:
    """i.i.d. N(0, I) directions: [num, dim]."""
    return jax.random.normal(key, (num, dim))


def orthogonal(key: Key, num: int, dim: int) -> Array:
    """Orthogonal Gaussian directions (Choromanski et al., 2018): [num, dim].

    Blocks of up to ``dim`` exactly orthogonal directions (QR of a Gaussian matrix) whose lengths
    are redrawn from the chi distribution, so each direction is still marginally N(0, I) while
    directions within a block never overlap (lower-variance, QMC-style).
    """
    num_blocks = -(-num // dim)
    k_q, k_norm = jax.random.split(key)

    def block(k):
        q, r = jnp.linalg.qr(jax.random.normal(k, (dim, dim)))
        return (q * jnp.sign(jnp.diagonal(r))).T  # rows orthonormal, Haar-distributed

    rows = jax.vmap(block)(jax.random.split(k_q, num_blocks)).reshape(num_blocks * dim, dim)[:num]
    norms = jnp.linalg.norm(jax.random.normal(k_norm, (num, dim)), axis=-1, keepdims=True)
    return rows * norms


SAMPLERS: dict[str, Sampler] = {"gaussian": gaussian, "orthogonal": orthogonal}


def get_sampler(name: str) -> Sampler:
    if name not in SAMPLERS:
        raise ValueError(f"unknown perturbation sampler {name!r}; known: {', '.join(SAMPLERS)}")
    return SAMPLERS[name]


def check_estimator(name: str) -> str:
    if name not in ESTIMATORS:
        raise ValueError(f"unknown ES estimator {name!r}; known: {', '.join(ESTIMATORS)}")
    return name


def num_directions(estimator: str, num_queries: int) -> int:
    """Directions that ``num_queries`` evaluations buy (antithetic spends two per direction)."""
    if estimator == "antithetic":
        if num_queries % 2:
            raise ValueError(f"the antithetic estimator needs an even number of queries, "
                             f"got {num_queries}")
        return num_queries // 2
    return num_queries


def perturbed_points(theta: Array, eps: Array, sigma: Array, estimator: str) -> Array:
    """theta + sigma eps: [n, D], or [2, n, D] (plus, minus) for antithetic."""
    plus = theta + sigma * eps
    if estimator == "antithetic":
        return jnp.stack([plus, theta - sigma * eps])
    return plus


def estimate(values: Array, eps: Array, sigma: Array, estimator: str,
             shaper: shaping_lib.Shaper = shaping_lib.none,
             center: Array | None = None) -> tuple[Array, Array]:
    """ES-gradient estimate from evaluated perturbations.

    Args:
      values: [n] returns at theta + sigma eps_i, or [2, n] (plus, minus) for antithetic.
      eps: [n, D] directions.
      sigma: smoothing radius.
      estimator: one of ESTIMATORS.
      shaper: fitness shaping applied to the values (with ``center`` appended when given, as the
        reference z-scores the current value together with the perturbed ones).
      center: f(theta), required by forward_fd.
    Returns:
      (gradient [D], number of valid directions [] int32).
    """
    n = eps.shape[0]
    flat = values.reshape(-1)
    if center is not None:
        flat = jnp.concatenate([flat, jnp.reshape(center, (1,))])
    shaped, valid = shaper(flat)
    if estimator == "antithetic":
        s = shaped[: 2 * n].reshape(2, n)
        ok = valid[: 2 * n].reshape(2, n).all(axis=0)
        weights = (s[0] - s[1]) / 2.0
    elif estimator == "forward_fd":
        if center is None:
            raise ValueError("forward_fd needs the centre value f(theta)")
        ok = valid[:n] & valid[n]
        weights = shaped[:n] - shaped[n]
    else:
        ok = valid[:n]
        weights = shaped[:n]
    weights = jnp.where(ok, weights, 0.0)
    num_valid = jnp.sum(ok)
    grad = weights @ eps / (jnp.maximum(num_valid, 1) * sigma)  # Alg. 1, line 3
    return grad, num_valid.astype(jnp.int32)


def es_gradient(key: Key, f: Callable[[Array], Array], theta: Array, num_directions: int,
                sigma: Array, estimator: str = "antithetic",
                shaper: shaping_lib.Shaper = shaping_lib.none,
                sampler: Sampler = gaussian) -> tuple[Array, Array]:
    """Alg. 1 end to end for a scalar function ``f([D]) -> []``: returns (gradient [D], valid)."""
    eps = sampler(key, num_directions, theta.shape[0])
    points = perturbed_points(theta, eps, sigma, estimator)
    values = jax.vmap(f)(points.reshape(-1, theta.shape[0])).reshape(points.shape[:-1])
    center = f(theta) if estimator == "forward_fd" else None
    return estimate(values, eps, sigma, estimator, shaper, center)
