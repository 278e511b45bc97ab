"""Active-subspace ES (ASEBO, A.3.1) as an adaptation operator."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from esmaml_jax import estimators, linalg, paper
from esmaml_jax import shaping as shaping_lib
from esmaml_jax.adaptation.core import (
    Adaptation,
    check_count,
    check_positive,
    hparam,
    nan,
    shared_key,
)
from esmaml_jax.types import Array


class AseboState(NamedTuple):
    """Gradient history (ring buffer) [H, D], entries filled [], previous estimate [D]."""

    history: Array
    count: Array  # type: ignore[assignment]  # (a field named like tuple.count)
    last_grad: Array


def _active_subspace(history: Array, count: Array, explained: float) -> tuple[Array, Array]:
    """Orthonormal basis [D, H] (masked: unused columns zero) of the top principal directions of
    the filled history rows (uncentered: the gradients' second moment) that explain
    ``explained`` of their energy, and its rank r [] (fixed shapes for jit)."""
    rows = jnp.arange(history.shape[0]) < count
    g = jnp.where(rows[:, None], history, 0.0)
    lam, v = linalg.eigh(g @ g.T)  # ascending, [H]
    lam, v = lam[::-1], v[:, ::-1]
    lam = jnp.maximum(lam, 0.0)
    cum = jnp.cumsum(lam) / jnp.maximum(jnp.sum(lam), 1e-30)
    keep = (jnp.concatenate([jnp.zeros(1), cum[:-1]]) < explained) & (lam > 1e-12 * lam[0])
    u = (g.T @ v) / jnp.sqrt(jnp.maximum(lam, 1e-30))  # [D, H] orthonormal where kept
    return u * keep, jnp.sum(keep)


ASEBO_FORMS = ("published", "projection")


def asebo(num_queries: int = paper.NUM_QUERIES, sigma: float = paper.SIGMA,
          step_size: float = paper.INNER_STEP_SIZE,
          history: int = 32, explained_variance: float = 0.95, min_mix: float = 0.05,
          warmup: int = 4, per_step: int = 4, shaping: shaping_lib.Shaper = shaping_lib.zscore,
          form: str = "published",
          adaptive_samples: bool = True, min_samples: int = 2) -> Adaptation:
    """Active-subspace ES (ASEBO, Choromanski et al., 2019; A.3.1) as an adaptation operator.

    U (rank r) spans the principal directions of recent gradient estimates that explain
    ``explained_variance`` of their energy; a in [min_mix, 1] is the isotropic share.

    - ``form="published"``: directions ~ N(0, C), C = a I + (1 - a) (D / r) U U^T (ASEBO's
      (a/D) I + ((1 - a)/r) U U^T, scaled by D so that a = 1 is the isotropic ES of
      `es_gradient` at the same sigma); a = |g_perp| / |g_U| from the last estimate's split
      (clipped); with ``adaptive_samples`` the estimate uses only the first
      max(r, min_samples) of the K directions (ASEBO's samples-follow-the-rank rule). The
      forward-FD estimate is then C grad f (the published preconditioned direction).
    - ``form="projection"``: our earlier variant, C = P + a (I - P) with P = U U^T and
      a = |g_perp|^2 / |g|^2; the subspace part of the gradient is estimated without bias and
      the rest shrunk by a; always all K directions.

    Forward-FD, shaped values; K + 1 queries per call either way (static shapes: the fused
    program evaluates all K, ``info["num_used"]`` says how many the estimate used). The history
    is operator state carried across meta-steps: after each meta-step ``update_state`` appends
    ``per_step`` of the step's inner gradient estimates. Until ``warmup`` entries exist,
    sampling is isotropic with all K directions.
    """
    k = check_count("num_queries (K)", num_queries)
    check_positive("asebo sigma", sigma)
    hist = check_count("history", history)
    per_step = min(check_count("per_step", per_step), hist)
    min_samples = check_count("min_samples", min_samples)
    if not 0 < explained_variance <= 1 or not 0 < min_mix <= 1:
        raise ValueError("explained_variance and min_mix must be in (0, 1]")
    if form not in ASEBO_FORMS:
        raise ValueError(f"unknown ASEBO form {form!r}; known: {', '.join(ASEBO_FORMS)}")
    shaper = shaping
    estimators.checked(estimators.forward_fd, shaper)

    def init_state(num_params):
        return AseboState(jnp.zeros((hist, num_params)), jnp.zeros((), jnp.int32),
                          jnp.zeros(num_params))

    directions = functools.partial(
        _directions, k=k, published=form == "published", warmup=warmup, min_mix=min_mix,
        explained_variance=explained_variance, adaptive_samples=adaptive_samples,
        min_samples=min_samples)

    def start(key, params, hparams, state):
        return {"theta": params, "key": key, "eps": jnp.zeros((k, params.shape[0])),
                "used": jnp.int32(k), "grad": jnp.zeros_like(params), "pre": nan()}

    def ask(carry, r, hparams, state):
        theta = carry["theta"]
        k_eps, k_eval = jax.random.split(carry["key"])
        eps, used = directions(k_eps, state, theta.shape[0])
        points = jnp.concatenate([theta + hparams["sigma"] * eps, theta[None]])
        return ({**carry, "eps": eps, "used": jnp.asarray(used, jnp.int32)},
                shared_key(k_eval, k + 1), points)

    def tell(carry, r, values, grads, hparams, state):
        center, values = values[k], values[:k]
        values = jnp.where(jnp.arange(k) < carry["used"], values, jnp.nan)  # unused: dropped
        grad, _ = estimators.estimate(values, carry["eps"], hparams["sigma"],
                                      estimators.forward_fd, shaper, center)
        return {**carry, "theta": carry["theta"] + hparams["step_size"] * grad, "grad": grad,
                "pre": center}

    def finish(carry, hparams, state):
        return carry["theta"], {"pre_value": carry["pre"], "grad": carry["grad"],
                                "num_used": carry["used"]}

    return Adaptation("asebo", start, ask, tell, finish,
                      init_hparams=lambda: {"sigma": hparam(sigma),
                                            "step_size": hparam(step_size)},
                      num_rounds=1, round_size=k + 1, init_state=init_state,
                      update_state=functools.partial(_update_history, per_step, hist))


def _directions(key, state: AseboState, dim: int, *, k: int, published: bool, warmup: int,
                min_mix: float, explained_variance: float, adaptive_samples: bool,
                min_samples: int):
    """(eps [K, D], number of directions the estimate uses [])."""
    basis, rank = _active_subspace(state.history, state.count, explained_variance)
    g = state.last_grad
    inside = basis @ (basis.T @ g)
    warm = state.count >= warmup
    k_iso, k_sub = jax.random.split(key)
    z = jax.random.normal(k_iso, (k, dim))
    r = jnp.maximum(rank, 1).astype(jnp.float32)
    if published:
        ratio = jnp.linalg.norm(g - inside) / jnp.maximum(jnp.linalg.norm(inside), 1e-30)
        mix = jnp.where(warm, jnp.clip(ratio, min_mix, 1.0), 1.0)
        w = jax.random.normal(k_sub, (k, basis.shape[1]))
        eps = jnp.sqrt(mix) * z + jnp.sqrt((1.0 - mix) * dim / r) * (w @ basis.T)
        used = jnp.where(warm & adaptive_samples,
                         jnp.clip(jnp.maximum(rank, min_samples), 1, k), k)
        return eps, used
    outside = jnp.sum((g - inside) ** 2) / jnp.maximum(jnp.sum(g**2), 1e-30)
    mix = jnp.where(warm, jnp.clip(outside, min_mix, 1.0), 1.0)
    zp = (z @ basis) @ basis.T * warm
    return zp + jnp.sqrt(mix) * (z - zp), jnp.int32(k)


def _update_history(per_step: int, hist: int, state: AseboState, infos) -> AseboState:
    """The history after a meta-step: ``per_step`` of its finite inner gradient estimates
    appended (a ring buffer of ``hist`` entries)."""
    grads = infos["grad"].reshape(-1, state.history.shape[1])[:per_step]
    finite = jnp.all(jnp.isfinite(grads), axis=1)
    grads = jnp.where(finite[:, None], grads, 0.0)
    history = jnp.roll(state.history, grads.shape[0], axis=0).at[: grads.shape[0]].set(grads)
    count = jnp.minimum(state.count + grads.shape[0], hist)
    return AseboState(history, count, grads.mean(0))
