"""Regression-based gradient operator (RBO, A.3.2)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from esmaml_jax import estimators, linalg, paper, vma
from esmaml_jax import shaping as shaping_lib
from esmaml_jax.adaptation.core import (
    CORRUPT_STREAM,
    Adaptation,
    check_corruption,
    check_count,
    check_positive,
    corrupt_queries,
    hparam,
    nan,
    shared_key,
)
from esmaml_jax.types import Array


def _ridge(z: Array, y: Array, lam: Array) -> Array:
    """argmin_g |Z g - y|^2 + lam |g|^2, solved in the smaller of the primal/dual spaces."""
    n, d = z.shape
    if n < d:
        return z.T @ linalg.solve(z @ z.T + lam * jnp.eye(n), y)
    return linalg.solve(z.T @ z + lam * jnp.eye(d), z.T @ y)


def _lasso(z: Array, y: Array, lam: Array, iterations: int) -> Array:
    """argmin_g 0.5 |Z g - y|^2 + lam |g|_1 by ISTA (fixed iterations, jittable)."""
    step = 1.0 / (linalg.spectral_norm(z) ** 2 + 1e-12)

    def body(g, _):
        g = g - step * (z.T @ (z @ g - y))
        return vma.like(jnp.sign(g) * jnp.maximum(jnp.abs(g) - step * lam, 0.0), z, y, lam), None

    g, _ = jax.lax.scan(body, vma.like(jnp.zeros(z.shape[1]), z, y, lam), None,
                        length=iterations)
    return g


RBO_REGRESSIONS = ("ridge", "lasso", "l1")


def rbo(num_queries: int = paper.NUM_QUERIES, sigma: float = paper.SIGMA,
        step_size: float = paper.INNER_STEP_SIZE,
        regression: str = "ridge", regularization: float = 0.01,
        shaping: shaping_lib.Shaper = shaping_lib.zscore,
        iterations: int = 300, corrupt_fraction: float = 0.0,
        corrupt_scale: float = 1e3) -> Adaptation:
    """Regression-based gradient (RBO, A.3.2): f(theta + d) - f(theta) ~ grad . d, so the
    gradient is recovered by regularized regression from the K finite differences.

    ``regression``: "ridge" (L2 loss + L2 penalty, closed form), "lasso" (L2 loss + L1 penalty,
    ISTA) or "l1" (L1 loss, no penalty: the LP decoding of the authors' code, robust to a
    fraction of arbitrarily corrupted queries when K > D; ADMM, see
    `estimators.l1_regression`; ``regularization`` is not used by it). ``iterations`` is the
    ISTA / ADMM iteration count. ``corrupt_fraction`` / ``corrupt_scale``: A.3.3's noisy
    queries, as in `es_gradient` (the pivot is never corrupted).
    U(theta, T) = theta + alpha * g_hat. Query cost: K + 1 (the pivot).
    """
    k = check_count("num_queries (K)", num_queries)
    check_positive("rbo sigma", sigma)
    check_positive("step size (alpha)", step_size, allow_zero=True)
    check_positive("regularization", regularization, allow_zero=True)
    iterations = check_count("iterations", iterations)
    if regression not in RBO_REGRESSIONS:
        raise ValueError(f"unknown RBO regression {regression!r}; known: "
                         f"{', '.join(RBO_REGRESSIONS)}")
    shaper = shaping
    estimators.checked(estimators.forward_fd, shaper)
    check_corruption(corrupt_fraction, corrupt_scale)

    def gradient(z, dy, lam):
        if regression == "ridge":
            return _ridge(z, dy, lam)
        if regression == "lasso":
            return _lasso(z, dy, lam, iterations)
        return estimators.l1_regression(z, dy, iterations)[0]

    def start(key, params, hparams, state):
        return {"theta": params, "key": key, "dirs": jnp.zeros((k, params.shape[0])),
                "grad": jnp.zeros_like(params), "pre": nan()}

    def ask(carry, r, hparams, state):
        theta = carry["theta"]
        k_eps, k_eval = jax.random.split(carry["key"])
        dirs = hparams["sigma"] * jax.random.normal(k_eps, (k, theta.shape[0]))
        points = jnp.concatenate([theta + dirs, theta[None]])  # the pivot rides along
        return {**carry, "dirs": dirs}, shared_key(k_eval, k + 1), points

    def tell(carry, r, values, grads, hparams, state):
        center, values = values[k], values[:k]
        values = corrupt_queries(values, jax.random.fold_in(carry["key"], CORRUPT_STREAM),
                                 corrupt_fraction, corrupt_scale)
        shaped, valid = shaper(jnp.concatenate([values, center[None]]))
        ok = valid[:k] & valid[k]
        dy = jnp.where(ok, shaped[:k] - shaped[k], 0.0)
        z = jnp.where(ok[:, None], carry["dirs"], 0.0)  # dropped rows constrain nothing
        g = gradient(z, dy, hparams["regularization"])
        return {**carry, "theta": carry["theta"] + hparams["step_size"] * g, "grad": g,
                "pre": center}

    def finish(carry, hparams, state):
        return carry["theta"], {"pre_value": carry["pre"], "grad": carry["grad"]}

    return Adaptation("rbo", start, ask, tell, finish,
                      init_hparams=lambda: {"sigma": hparam(sigma),
                                            "step_size": hparam(step_size),
                                            "regularization": hparam(regularization)},
                      num_rounds=1, round_size=k + 1)
