"""First-order ES-MAML (A.1, Alg. 5): the "MAML of the smoothing".

For each of n tasks (Alg. 5): d1 = ESGRAD(f_T, theta, K, sigma); H = ESHESS(f_T, theta, K_H, sigma)
from its OWN directions, drawn independently of d1's; theta' = theta + alpha d1;
d2 = ESGRAD(f_T, theta', K, sigma); then theta <- theta + beta/n sum_i (I + alpha H_i) d2_i (Eq. 9).
``hessian=False`` is FO-NoHessian (H = 0). (I + alpha H) d2 is computed from the samples without
forming H (O(K D)).

Why the samples must be independent: theta' (so d2) is a function of d1's directions. If H is
built from the same directions, E[H d2] != E[H] E[d2]: the product picks up a correlation term
that depends on the returns' absolute level (a constant added to every return changes the mean
meta-gradient) and on z-scoring (measured: the step along the true gradient grows 4x at D = 162
where it must shrink). With independent H the estimate of (I + alpha grad^2 f~) grad f~(theta')
is unbiased whenever its parts are (tests/test_first_order.py checks both against autodiff).
``hessian_samples="shared"`` keeps the authors' released code's form (d1 uses the first K of the
Hessian's K_H directions) for comparison; it is biased.

Values are shaped per query set (each z-scored together with its centre, as the reference
first-order code normalizes each task's rewards), so d1, H and d2 are in the same units as the
zero-order algorithm's inner step. Query cost per task: (K + 1) for d1, (K + 1) for d2, and for H
K_H (MC) or 2 K_H + 1 (antithetic, with its own centre) when independent; with shared samples
(K_H + 1) + (K + 1), plus K_H for antithetic. f(theta) and f(theta') are among these queries, so
pre/post returns cost nothing extra.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from esmaml_jax import estimators, paper
from esmaml_jax import shaping as shaping_lib
from esmaml_jax.adaptation import es_gradient
from esmaml_jax.algorithms import base
from esmaml_jax.algorithms.base import Algorithm, MetaState
from esmaml_jax.objectives import Objective, query_batch

HESSIAN_ESTIMATORS = ("mc", "antithetic")
HESSIAN_SAMPLES = ("independent", "shared")


def first_order(objective: Objective, *, num_tasks: int = 50,
                num_queries: int = paper.NUM_QUERIES, sigma: float = paper.SIGMA,
                step_size: float = paper.INNER_STEP_SIZE, hessian: bool = True,
                hessian_estimator: str = "mc", hessian_queries: int | None = None,
                hessian_samples: str = "independent",
                optimizer: optax.GradientTransformation | None = None,
                shaping: shaping_lib.Shaper = shaping_lib.zscore) -> Algorithm:
    """Build first-order ES-MAML (Alg. 5).

    Args:
      num_tasks: n tasks per meta-step.
      num_queries: K directions for each ES gradient.
      sigma, step_size: the smoothing radius and alpha (traced, in ``state.hparams["adapt"]``).
      hessian: FO-Hessian (True) or FO-NoHessian (False).
      hessian_estimator: "mc" (Alg. 4) or "antithetic" (theta +- sigma g, centre f(theta)).
      hessian_queries: K_H directions for the Hessian (default ``num_queries``; H's noise
        grows like sqrt(D / K_H) alpha / sigma^2).
      hessian_samples: "independent" (Alg. 5 as stated: H has its own directions and key)
        or "shared" (the authors' code: d1 reuses the first K of H's; biased, see above).
      optimizer: optax transformation for the outer update (default SGD 0.01); one taking
        extra arguments (``optax.contrib.reduce_on_plateau``) gets ``value=`` the negated mean
        post-adaptation return of the step's tasks (a loss: optax minimises).
    """
    n = base.check_positive_int("num_tasks", num_tasks)
    k = base.check_positive_int("num_queries", num_queries)
    base.check_sigma(sigma)
    for name, value, known in (("Hessian estimator", hessian_estimator, HESSIAN_ESTIMATORS),
                               ("hessian_samples", hessian_samples, HESSIAN_SAMPLES)):
        if value not in known:
            raise ValueError(f"unknown {name} {value!r}; known: {', '.join(known)}")
    shaper = shaping
    estimators.checked(estimators.forward_fd, shaper)
    optimizer = optimizer or base.default_optimizer()
    # Test-time adaptation is the same one-step ES-gradient operator (Alg. 5, line 6).
    adaptation = es_gradient(num_queries=k, sigma=sigma, step_size=step_size, shaping=shaping)
    kh = k if hessian_queries is None else base.check_positive_int("hessian_queries",
                                                                    hessian_queries)
    shared = hessian_samples == "shared"
    if hessian and shared and kh < k:
        raise ValueError(f"with shared samples hessian_queries ({kh}) must be at least "
                         f"num_queries ({k}): d1 uses the first K of the Hessian's directions")
    antithetic_h = hessian and hessian_estimator == "antithetic"
    plan = _Plan(n, k, kh, hessian, shared, antithetic_h, shaper)
    queries = plan.queries_per_task()

    def init(key) -> MetaState:
        return base.init_state(objective, adaptation, optimizer, key, {})

    def step(state: MetaState, key) -> tuple[MetaState, dict]:
        k_task, k_run = jax.random.split(key)
        tasks = objective.sample_train_tasks(k_task, n)
        grads, ok, pre, post, aux = _per_task(objective, plan, state, tasks,
                                              jax.random.split(k_run, n))
        num_valid = jnp.sum(ok)
        grad = jnp.sum(jnp.where(ok[:, None], grads, 0.0), 0) / jnp.maximum(num_valid, 1)
        good = num_valid > 0
        new_params, opt_state = base.outer_update(optimizer, state, grad, base.finite_mean(post),
                                                  good)
        norm, norm_skipped = base.update_norm(objective, state.norm, aux)
        new_state = state.replace(params=new_params, opt_state=opt_state, norm=norm,
                                  step=state.step + 1)
        metrics = {
            "pre_return": base.finite_mean(pre),
            "post_return": base.finite_mean(post),
            "num_valid_directions": num_valid.astype(jnp.int32),
            "num_nonfinite": (n - num_valid).astype(jnp.int32),
            "skipped_update": ~good,
            "norm_skipped": norm_skipped,
            "grad_norm": jnp.linalg.norm(grad),
        }
        return new_state, metrics

    rollouts = n * queries
    return Algorithm(init=init, step=step,
                     evaluate=functools.partial(base.evaluate, objective, adaptation),
                     objective=objective, adaptation=adaptation, rollouts_per_step=rollouts,
                     env_steps_per_step=rollouts * objective.steps_per_query,
                     adapt=base.adapter(objective, adaptation),
                     rollout_batches=base.batch_counts((n * (queries - k - 1), 1),
                                                       (n * (k + 1), 1)))


class _Plan(NamedTuple):
    """The step's static choices: n tasks, K and K_H queries, FO-Hessian or not, shared
    samples, the antithetic Hessian, the fitness shaping."""
    n: int
    k: int
    kh: int
    hessian: bool
    shared: bool
    antithetic_h: bool
    shaper: Callable

    def queries_per_task(self) -> int:
        """Rollouts per task and meta-step: d1's set, H's (unless shared with d1's), d2's."""
        k, kh = self.k, self.kh
        if not self.hessian:
            return 2 * (k + 1)
        if self.shared:
            return kh + 1 + k + 1 + (kh if self.antithetic_h else 0)
        return 2 * (k + 1) + (2 * kh + 1 if self.antithetic_h else kh)


def _fd(c: _Plan, values, center, eps, sig):
    """(d [D], valid []) of one forward-FD gradient from its shaped query set."""
    d, num_valid = estimators.estimate(values, eps, sig, estimators.forward_fd, c.shaper, center)
    return d, (num_valid == eps.shape[0]) & jnp.isfinite(center)


def _hessian_vp(c: _Plan, plus, minus, center, eps, sig, vector):
    """(H v [D], valid []) for the ES Hessian from the directions ``eps`` and the values at
    theta + sigma eps (and theta - sigma eps and the centre when antithetic, or the centre
    alone when given with MC: the shared form's set)."""
    if c.antithetic_h:
        sh, val = c.shaper(jnp.concatenate([plus, minus, center[None]]))
        m = eps.shape[0]
        hv = estimators.hessian_vector_product(sh[:2 * m].reshape(2, m), eps, sig, vector,
                                               center=sh[2 * m])
    else:
        vals = plus if center is None else jnp.concatenate([plus, center[None]])
        sh, val = c.shaper(vals)
        hv = estimators.hessian_vector_product(sh[:eps.shape[0]], eps, sig, vector)
    return hv, jnp.all(val)


def _with_center(theta, eps, sig, minus=False):
    """theta + sig eps [M], (theta - sig eps [M]), theta: one query set's points."""
    parts = [theta + sig * eps] + ([theta - sig * eps] if minus else []) + [theta[None]]
    return jnp.concatenate(parts)


def _first_queries(c: _Plan, theta, key, sig):
    """Every query at theta of one task (Alg. 5, lines 4-5): d1's set and H's, which do not
    depend on each other, as one list: (keys [Q1], points [Q1, D], draws)."""
    k1, k2, kh_key, e1, e2, eh = jax.random.split(key, 6)
    dim = theta.shape[0]
    share = lambda kk, m: jnp.broadcast_to(kk, (m, *kk.shape))
    if c.hessian and c.shared:  # the released code: d1 from the first K of H's directions
        eps1 = jax.random.normal(e1, (c.kh, dim))
        points = _with_center(theta, eps1, sig, minus=c.antithetic_h)
        keys = share(k1, points.shape[0])
        eps_h = eps1
    else:
        eps1 = jax.random.normal(e1, (c.k, dim))
        points, keys = _with_center(theta, eps1, sig), share(k1, c.k + 1)
        eps_h = jax.random.normal(eh, (c.kh, dim))
        if c.hessian:  # line 5: ESHESS with its own directions and rollout key
            h_points = (_with_center(theta, eps_h, sig, minus=True) if c.antithetic_h
                        else theta + sig * eps_h)
            points = jnp.concatenate([points, h_points])
            keys = jnp.concatenate([keys, share(kh_key, h_points.shape[0])])
    return keys, points, (eps1, eps_h, k2, e2)


def _adapted_queries(c: _Plan, theta, values, draws, sig, alpha):
    """d1 from the first set (line 4), theta' = theta + alpha d1 (line 6) and d2's query set
    at theta' (line 7): (keys [K + 1], points [K + 1, D], d1 valid, f(theta))."""
    eps1, _, k2, e2 = draws
    k, kh = c.k, c.kh
    if c.hessian and c.shared:
        v_plus, v0 = values[:kh], values[kh + (kh if c.antithetic_h else 0)]
        sh, valid = c.shaper(jnp.concatenate([v_plus, v0[None]]))
        d1, _ = estimators.estimate(sh[:k], eps1[:k], sig, estimators.forward_fd,
                                    center=sh[kh])
        ok1 = jnp.all(valid)
    else:
        v0 = values[k]
        d1, ok1 = _fd(c, values[:k], v0, eps1, sig)
    theta_adapted = theta + alpha * d1
    eps2 = jax.random.normal(e2, (k, theta.shape[0]))
    points = _with_center(theta_adapted, eps2, sig)
    return jnp.broadcast_to(k2, (k + 1, *k2.shape)), points, (ok1, v0, eps2)


def _meta_gradient(c: _Plan, values1, values2, draws, second, sig, alpha):
    """(I + alpha H) d2 (line 9; d2 alone for FO-NoHessian), valid, f(theta'), per task."""
    _, eps_h, _, _ = draws
    ok1, _, eps2 = second
    k, m = c.k, c.kh
    d2, ok2 = _fd(c, values2[:k], values2[k], eps2, sig)
    ok = ok1 & ok2
    if not c.hessian:
        return d2, ok, values2[k]
    if c.shared:
        plus, center = values1[:m], values1[-1]
        minus = values1[m:2 * m] if c.antithetic_h else None
        hv, ok_h = _hessian_vp(c, plus, minus, center, eps_h, sig, d2)
    else:
        h = values1[k + 1:]
        if c.antithetic_h:
            hv, ok_h = _hessian_vp(c, h[:m], h[m:2 * m], h[2 * m], eps_h, sig, d2)
        else:
            hv, ok_h = _hessian_vp(c, h, None, None, eps_h, sig, d2)
    return d2 + alpha * hv, ok & ok_h, values2[k]


def _per_task(objective: Objective, c: _Plan, state: MetaState, tasks, keys):
    """The n tasks' meta-gradients: two flat batches of queries (the first set at theta, then
    d2's at each task's theta')."""
    hp = state.hparams["adapt"]
    sig, alpha = hp["sigma"], hp["step_size"]
    query = query_batch(objective, tasks, state.norm)
    theta = jnp.broadcast_to(state.params, (c.n, state.params.shape[0]))
    qkeys, points, draws = jax.vmap(functools.partial(_first_queries, c), (0, 0, None))(
        theta, keys, sig)
    values1, aux1 = query(qkeys, points)
    qkeys, points, second = jax.vmap(functools.partial(_adapted_queries, c),
                                     (0, 0, 0, None, None))(theta, values1, draws, sig, alpha)
    values2, aux2 = query(qkeys, points)
    grads, ok, post = jax.vmap(functools.partial(_meta_gradient, c), (0, 0, 0, 0, None, None))(
        values1, values2, draws, second, sig, alpha)
    return grads, ok, second[1], post, base.sum_aux((aux1, 0), (aux2, 0))
