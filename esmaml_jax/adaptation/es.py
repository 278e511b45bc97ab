"""The ES-gradient step (Alg. 3), DPP-ES, hill climbing, the autodiff step and the identity."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from esmaml_jax import estimators, paper
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
    no_queries,
    shared_key,
)


def identity() -> Adaptation:
    """U(theta, T) = theta: plain ES on the average task (no queries)."""
    return Adaptation(
        "identity",
        start=lambda key, params, hparams, state: params,
        ask=no_queries("identity"), tell=no_queries("identity"),
        finish=lambda params, hparams, state: (params, {"pre_value": nan()}),
        init_hparams=lambda: {}, num_rounds=0, round_size=0)


def es_gradient(num_queries: int = paper.NUM_QUERIES, sigma: float = paper.SIGMA,
                step_size: float = paper.INNER_STEP_SIZE,
                estimator: estimators.Estimator = estimators.forward_fd,
                shaping: shaping_lib.Shaper = shaping_lib.zscore,
                sampler: estimators.Sampler = estimators.gaussian, num_steps: int = 1,
                corrupt_fraction: float = 0.0,
                corrupt_scale: float = 1e3) -> Adaptation:
    """U(theta, T) = theta + alpha * ESGRAD(f_T, theta, K, sigma) (Alg. 3, lines 4-5).

    ``num_steps`` > 1 repeats the step from the adapted point (one round each). All queries of
    one step share the rollout key (common random numbers). Query cost per call:
    ``num_steps * (K + 1)`` for forward_fd (the +1 is the centre f(theta), evaluated in the same
    batch), ``num_steps * K`` otherwise; antithetic needs an even K (K/2 directions).
    ``corrupt_fraction`` > 0 simulates noisy data as A.3.3 does: that fraction of the queries
    f(theta + sigma g) (never the centre) gets additive noise of scale ``corrupt_scale``
    (`corrupt_queries`).
    """
    k = check_count("num_queries (K)", num_queries)
    num_steps = check_count("num_steps", num_steps)
    check_positive("inner sigma", sigma)
    check_positive("step size (alpha)", step_size, allow_zero=True)
    estimators.checked(estimator, shaping, sampler)
    n = estimators.num_directions(estimator, k)
    shaper, sample, use_center = shaping, sampler, estimator.uses_center
    check_corruption(corrupt_fraction, corrupt_scale)
    per_round = k + (1 if use_center else 0)

    def draw(key, dim, hparams):
        """Every step's directions [num_steps, n, D]: from the key alone (`Adaptation.draw`:
        the two points of an antithetic outer pair share them, drawn once)."""
        return jax.vmap(lambda k: sample(jax.random.split(k)[0], n, dim, hparams["sigma"]))(
            jax.random.split(key, num_steps))

    def start(key, params, hparams, state, drawn=None):
        drawn = draw(key, params.shape[0], hparams) if drawn is None else drawn
        return {"theta": params, "keys": jax.random.split(key, num_steps),
                "eps": drawn.astype(params.dtype), "pre": nan()}

    def ask(carry, r, hparams, state):
        theta = carry["theta"]
        k_eval = jax.random.split(carry["keys"][r])[1]
        points = estimators.perturbed_points(theta, carry["eps"][r], hparams["sigma"],
                                             estimator)
        points = points.reshape(-1, theta.shape[0])
        if use_center:  # the centre rides in the same batch (one call site)
            points = jnp.concatenate([points, theta[None]])
        return carry, shared_key(k_eval, per_round), points

    def tell(carry, r, values, grads, hparams, state):
        center = values[-1] if use_center else None
        values = values[:-1] if use_center else values
        values = corrupt_queries(values, jax.random.fold_in(carry["keys"][r], CORRUPT_STREAM),
                                 corrupt_fraction, corrupt_scale)
        eps = carry["eps"][r]
        grad, _ = estimators.estimate(values, eps, hparams["sigma"], estimator, shaper, center)
        pre = jnp.where(r == 0, center, carry["pre"]) if use_center else carry["pre"]
        return {**carry, "theta": carry["theta"] + hparams["step_size"] * grad,  # line 5
                "pre": pre}

    return Adaptation(
        "es_gradient", start, ask, tell,
        finish=lambda carry, hparams, state: (carry["theta"], {"pre_value": carry["pre"]}),
        init_hparams=lambda: {"sigma": hparam(sigma), "step_size": hparam(step_size)},
        num_rounds=num_steps, round_size=per_round, draw=draw)


HILL_CLIMB_MODES = ("average", "batch")


def hill_climb(num_queries: int = paper.NUM_QUERIES, sigma: float = paper.SIGMA,
               parallel_evaluations: int = 1,
               mode: str = "average") -> Adaptation:
    """Hill climbing (Sec. 3.3.2): U(theta, T) ~ argmax of f_T near theta, monotone by design.

    The authors' HillClimbAdaptation, with its query accounting: the pivot theta, then K
    iterations (a ``lax.scan``), each spending E = ``parallel_evaluations`` queries:

    - ``mode="average"`` (the reference's default): one candidate best + sigma g, evaluated E
      times (rollout keys of its own each) and scored by the mean; the pivot is scored the same
      way. E > 1 averages out rollout noise in stochastic tasks.
    - ``mode="batch"``: E candidates best + sigma g_j, the best of them competes (the pivot is
      still scored by the mean of E evaluations, as in the reference).

    A candidate replaces the best point only if STRICTLY better (a NaN never wins), so the
    returned policy never scores below the pivot on the queries it saw. Query cost: E (K + 1).
    """
    k = check_count("num_queries (K)", num_queries)
    e = check_count("parallel_evaluations", parallel_evaluations)
    check_positive("hill-climbing sigma", sigma)
    if mode not in HILL_CLIMB_MODES:
        raise ValueError(f"unknown hill-climbing mode {mode!r}; known: "
                         f"{', '.join(HILL_CLIMB_MODES)}")
    average = mode == "average"

    num_candidates = 1 if average else e

    def start(key, params, hparams, state):
        k_pivot, k_iter = jax.random.split(key)
        cand = jnp.zeros((num_candidates, params.shape[0]), params.dtype)
        return {"best": params, "best_value": jnp.full((), -jnp.inf), "pre": nan(),
                "pivot_key": k_pivot, "keys": jax.random.split(k_iter, k), "cand": cand,
                "accepted": jnp.zeros((), jnp.int32)}

    def ask(carry, r, hparams, state):
        """Round 0 scores the pivot (E keys of its own); round i >= 1 is iteration i."""
        best = carry["best"]
        k_eps, k_eval = jax.random.split(carry["keys"][jnp.maximum(r - 1, 0)])
        noise = jax.random.normal(k_eps, (num_candidates, best.shape[0]))
        cand = best + hparams["sigma"] * noise
        if average:  # one candidate, E evaluations with keys of their own
            keys = jax.random.split(jnp.where(r == 0, carry["pivot_key"], k_eval), e)
            points = jnp.broadcast_to(jnp.where(r == 0, best, cand[0]), (e, best.shape[0]))
        else:  # E candidates sharing one key; the pivot still scored by E evaluations
            keys = jnp.where(r == 0, jax.random.split(carry["pivot_key"], e),
                             shared_key(k_eval, e))
            points = jnp.where(r == 0, jnp.broadcast_to(best, cand.shape), cand)
        return {**carry, "cand": cand}, keys, points

    def tell(carry, r, values, grads, hparams, state):
        if average:
            values = jnp.mean(values, keepdims=True)
        pivot = jnp.mean(values)
        i = jnp.argmax(jnp.where(jnp.isfinite(values), values, -jnp.inf))
        better = (values[i] > carry["best_value"]) & (r > 0)
        best = jnp.where(better, carry["cand"][i], carry["best"])
        best_value = jnp.where(better, values[i], carry["best_value"])
        first = jnp.where(jnp.isfinite(pivot), pivot, -jnp.inf)
        return {**carry, "best": best,
                "best_value": jnp.where(r == 0, first, best_value),
                "pre": jnp.where(r == 0, pivot, carry["pre"]),
                "accepted": carry["accepted"] + better.astype(jnp.int32)}

    def finish(carry, hparams, state):
        return carry["best"], {"pre_value": carry["pre"], "best_value": carry["best_value"],
                               "num_accepted": carry["accepted"]}

    return Adaptation("hill_climb", start, ask, tell, finish,
                      init_hparams=lambda: {"sigma": hparam(sigma)}, num_rounds=k + 1,
                      round_size=e)


def autodiff_gradient(step_size: float = 0.01, num_steps: int = 1) -> Adaptation:
    """U(theta, T) = theta + alpha * grad f_T(theta) by ``jax.grad``, ``num_steps`` times, for
    differentiable objectives ("when gradients are available, use them", A.6). All steps use the
    same query key, i.e. the same K-shot data in the supervised case (the MAML convention).
    Query cost: ``num_steps`` gradient evaluations. The returned ``pre_value`` is f_T(theta).
    """
    num_steps = check_count("num_steps", num_steps)
    check_positive("step size (alpha)", step_size, allow_zero=True)

    def start(key, params, hparams, state):
        return {"theta": params, "key": key, "pre": nan()}

    def ask(carry, r, hparams, state):
        return carry, carry["key"][None], carry["theta"][None]

    def tell(carry, r, values, grads, hparams, state):
        return {**carry, "theta": carry["theta"] + hparams["step_size"] * grads[0],
                "pre": jnp.where(r == 0, values[0], carry["pre"])}

    return Adaptation("autodiff_gradient", start, ask, tell,
                      finish=lambda carry, hparams, state: (carry["theta"],
                                                            {"pre_value": carry["pre"]}),
                      init_hparams=lambda: {"step_size": hparam(step_size)},
                      num_rounds=num_steps, round_size=1, uses_gradients=True)


def dpp_es(num_queries: int = paper.NUM_QUERIES, sigma: float = paper.SIGMA,
           step_size: float = paper.INNER_STEP_SIZE,
           estimator: estimators.Estimator = estimators.forward_fd,
           shaping: shaping_lib.Shaper = shaping_lib.zscore, radial: str = "chi") -> Adaptation:
    """DPP-ES (Sec. 3.3.1): the ES-gradient step with directions chosen by a k-DPP with the
    authors' kernel (`estimators.dpp`). ``radial="chi"`` redraws the chosen directions' lengths
    so the estimator stays unbiased; ``"selected"`` uses the chosen candidates as the reference
    does (the gradient is then overestimated by E[|g|^2] / D, 1.33x at D = 6, sigma = 0.1)."""
    if radial not in ("chi", "selected"):
        raise ValueError(f"unknown DPP radial mode {radial!r}; known: chi, selected")
    sampler = estimators.dpp if radial == "chi" else estimators.dpp_reference
    op = es_gradient(num_queries, sigma, step_size, estimator, shaping, sampler=sampler)
    return op._replace(name="dpp_es")
