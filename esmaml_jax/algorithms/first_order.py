"""First-order ES-MAML (A.1, Alg. 5): the "MAML of the smoothing".

For each of n tasks: d1 = ESGRAD(f_T, theta, K, sigma) and H = ESHESS(f_T, theta, K, sigma) from
the same K queries around theta; theta' = theta + alpha d1; d2 = ESGRAD(f_T, theta', K, sigma);
then theta <- theta + beta/n sum_i (I + alpha H_i) d2_i (Eq. 9). ``hessian=False`` is
FO-NoHessian (H = 0). (I + alpha H) d2 is computed from the samples without forming H (O(K D)).

Values are shaped per task (z-scored together with the centre, as the reference first-order code
normalizes each task's rewards), so d1, H and d2 are in the same units as the zero-order
algorithm's inner step. Query cost per task: 2 (K + 1), plus K when the Hessian uses antithetic
samples. f(theta) and f(theta') are among these queries, so pre/post returns cost nothing extra.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from esmaml_jax import estimators
from esmaml_jax import shaping as shaping_lib
from esmaml_jax.adaptation import es_gradient
from esmaml_jax.algorithms import base
from esmaml_jax.algorithms.base import Algorithm, MetaState
from esmaml_jax.objectives import Objective

HESSIAN_ESTIMATORS = ("mc", "antithetic")


def first_order(objective: Objective, *, num_tasks: int = 50, num_queries: int = 20,
                sigma: float = 0.1, step_size: float = 0.05, hessian: bool = True,
                hessian_estimator: str = "mc", hessian_queries: int | None = None,
                optimizer: optax.GradientTransformation | None = None,
                shaping: str = "zscore") -> Algorithm:
    """Build first-order ES-MAML (Alg. 5).

    Args:
      num_tasks: n tasks per meta-step.
      num_queries: K directions for each ES gradient / Hessian.
      sigma, step_size: the smoothing radius and alpha (traced, in ``state.hparams["adapt"]``).
      hessian: FO-Hessian (True) or FO-NoHessian (False).
      hessian_estimator: "mc" (Alg. 4, shares d1's K queries) or "antithetic" (K more queries
        at theta - sigma g, symmetric differences with the centre as control variate).
      hessian_queries: directions at theta for the Hessian (default ``num_queries``). H's
        noise grows like sqrt(D / hessian_queries) * alpha / sigma^2, so it needs more queries
        than the gradient; d1 uses the first ``num_queries`` of them.
    """
    n = base.check_positive_int("num_tasks", num_tasks)
    k = base.check_positive_int("num_queries", num_queries)
    base.check_sigma(sigma)
    if hessian_estimator not in HESSIAN_ESTIMATORS:
        raise ValueError(f"unknown Hessian estimator {hessian_estimator!r}; known: "
                         f"{', '.join(HESSIAN_ESTIMATORS)}")
    shaper = shaping_lib.get(shaping)
    optimizer = optimizer or base.default_optimizer()
    # Test-time adaptation is the same one-step ES-gradient operator (Alg. 5, line 6).
    adaptation = es_gradient(num_queries=k, sigma=sigma, step_size=step_size, shaping=shaping)
    kh = k if hessian_queries is None else base.check_positive_int("hessian_queries",
                                                                    hessian_queries)
    kh = kh if hessian else k
    if kh < k:
        raise ValueError(f"hessian_queries ({kh}) must be at least num_queries ({k})")
    antithetic_h = hessian and hessian_estimator == "antithetic"
    queries = kh + 1 + k + 1 + (kh if antithetic_h else 0)

    def init(key) -> MetaState:
        return base.init_state(objective, adaptation, optimizer, key, {})

    def per_task(state: MetaState, task, key):
        hp = state.hparams["adapt"]
        sig, alpha = hp["sigma"], hp["step_size"]
        f = lambda kk, p: objective.evaluate(kk, p, task, state.norm)
        k1, k2, e1, e2 = jax.random.split(key, 4)
        dim = state.params.shape[0]
        theta = state.params

        def query(kk, points):
            return jax.vmap(lambda p: f(kk, p))(points)

        eps1 = jax.random.normal(e1, (kh, dim))
        v_plus, aux1 = query(k1, theta + sig * eps1)
        v0, aux0 = f(k1, theta)
        shaped, valid = shaper(jnp.concatenate([v_plus, v0[None]]))
        d1, _ = estimators.estimate(shaped[:k], eps1[:k], sig, "forward_fd",
                                    center=shaped[kh])  # Alg. 5, line 4
        theta_adapted = theta + alpha * d1  # line 6
        eps2 = jax.random.normal(e2, (k, dim))
        v2, aux2 = query(k2, theta_adapted + sig * eps2)
        v2c, aux2c = f(k2, theta_adapted)
        d2, _ = estimators.estimate(v2, eps2, sig, "forward_fd", shaper, v2c)  # line 7
        aux = base.sum_aux((aux1, 1), (aux2, 1), (aux0, 0), (aux2c, 0))
        ok = jnp.all(valid) & jnp.all(jnp.isfinite(v2)) & jnp.isfinite(v2c)
        if not hessian:
            return d2, ok, v0, v2c, aux
        if antithetic_h:
            v_minus, aux_m = query(k1, theta - sig * eps1)
            aux = base.sum_aux((aux, 0), (aux_m, 1))
            sh, val = shaper(jnp.concatenate([v_plus, v_minus, v0[None]]))
            ok = ok & jnp.all(val)
            hv = estimators.hessian_vector_product(sh[:2 * kh].reshape(2, kh), eps1, sig, d2,
                                                   center=sh[2 * kh])
        else:
            hv = estimators.hessian_vector_product(shaped[:kh], eps1, sig, d2)
        return d2 + alpha * hv, ok, v0, v2c, aux  # (I + alpha H) d2, line 9

    def step(state: MetaState, key) -> tuple[MetaState, dict]:
        k_task, k_run = jax.random.split(key)
        tasks = objective.sample_train_tasks(k_task, n)
        grads, ok, pre, post, aux = jax.vmap(functools.partial(per_task, state))(
            tasks, jax.random.split(k_run, n))
        num_valid = jnp.sum(ok)
        grad = jnp.sum(jnp.where(ok[:, None], grads, 0.0), 0) / jnp.maximum(num_valid, 1)
        updates, opt_state = optimizer.update(-grad, state.opt_state, state.params)
        new_params = optax.apply_updates(state.params, updates)
        good = num_valid > 0
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(good, a, b), new, old)
        norm, norm_skipped = base.update_norm(objective, state.norm, base.sum_aux((aux, 1)))
        new_state = state.replace(params=keep(new_params, state.params),
                                  opt_state=keep(opt_state, state.opt_state), norm=norm,
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
                     env_steps_per_step=rollouts * objective.steps_per_query)
