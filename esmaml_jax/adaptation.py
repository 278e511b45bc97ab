"""Adaptation operators U(theta, T) (Sec. 3.3): pure functions, built by factories.

Like an optax transformation, an operator is a NamedTuple of pure functions made by a factory that
closes over static choices (number of queries K, estimator type). Continuous settings (sigma,
step size) live in a ``hparams`` dict that the algorithm keeps in its state, so a sweep can vmap
over them without recompiling.

``adapt(key, params [D], f, hparams, op_state) -> (adapted [D], info)`` where
``f(key, params) -> (value, aux)`` is one query of the task objective (task and normalizer bound).
``info`` has ``pre_value`` (f at the unadapted params when the operator measured it, else NaN) and
``aux`` (summed additive statistics of its queries, or None when it made none).
``num_queries`` is the static number of objective evaluations one call spends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from esmaml_jax import estimators
from esmaml_jax import shaping as shaping_lib
from esmaml_jax.types import Array, Key, Params, PyTree

QueryFn = Callable[[Key, Params], tuple[Array, PyTree]]


class Adaptation(NamedTuple):
    name: str
    adapt: Callable[[Key, Params, QueryFn, dict, PyTree], tuple[Params, dict]]
    init_hparams: Callable[[], dict]
    num_queries: int
    init_state: Callable[[int], PyTree] = lambda num_params: ()
    update_state: Callable[[PyTree, Any], PyTree] = lambda state, infos: state


def _sum_leading(tree: PyTree) -> PyTree:
    return jax.tree.map(lambda x: jnp.sum(x, axis=0), tree)


def _check_positive(name: str, value, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value}")


def _check_count(name: str, value) -> int:
    if int(value) != value or int(value) < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value}")
    return int(value)


def identity() -> Adaptation:
    """U(theta, T) = theta: plain ES on the average task (no queries)."""

    def adapt(key, params, f, hparams, state):
        return params, {"pre_value": jnp.full((), jnp.nan), "aux": None}

    return Adaptation("identity", adapt, lambda: {}, 0)


def es_gradient(num_queries: int = 20, sigma: float = 0.1, step_size: float = 0.05,
                estimator: str = "forward_fd", shaping: str = "zscore",
                sampler: str = "gaussian", num_steps: int = 1) -> Adaptation:
    """U(theta, T) = theta + alpha * ESGRAD(f_T, theta, K, sigma) (Alg. 3, lines 4-5).

    ``num_steps`` > 1 repeats the step from the adapted point (a ``lax.scan``). All queries of one
    step share the rollout key (common random numbers). Query cost per call:
    ``num_steps * (K + 1)`` for forward_fd (the +1 is the centre f(theta)), ``num_steps * K``
    otherwise; antithetic needs an even K (K/2 directions).
    """
    k = _check_count("num_queries (K)", num_queries)
    num_steps = _check_count("num_steps", num_steps)
    _check_positive("inner sigma", sigma)
    _check_positive("step size (alpha)", step_size, allow_zero=True)
    estimators.check_estimator(estimator)
    n = estimators.num_directions(estimator, k)
    shaper = shaping_lib.get(shaping)
    sample = estimators.get_sampler(sampler)
    use_center = estimator == "forward_fd"

    def adapt(key, params, f, hparams, state):
        dim = params.shape[0]

        def one_step(theta, step_key):
            k_eps, k_eval = jax.random.split(step_key)
            eps = sample(k_eps, n, dim)
            points = estimators.perturbed_points(theta, eps, hparams["sigma"], estimator)
            values, aux = jax.vmap(lambda p: f(k_eval, p))(points.reshape(-1, dim))
            aux = _sum_leading(aux)
            center = None
            if use_center:
                center, center_aux = f(k_eval, theta)
                aux = jax.tree.map(jnp.add, aux, center_aux)
            grad, _ = estimators.estimate(values.reshape(points.shape[:-1]), eps,
                                          hparams["sigma"], estimator, shaper, center)
            pre = center if use_center else jnp.full((), jnp.nan)
            return theta + hparams["step_size"] * grad, (pre, aux)  # Alg. 3, line 5

        adapted, (pre, aux) = jax.lax.scan(one_step, params, jax.random.split(key, num_steps))
        return adapted, {"pre_value": pre[0], "aux": _sum_leading(aux)}

    cost = num_steps * (k + (1 if use_center else 0))
    return Adaptation("es_gradient", adapt,
                      lambda: {"sigma": jnp.float32(sigma), "step_size": jnp.float32(step_size)},
                      cost)


_FACTORIES: dict[str, Callable[..., Adaptation]] = {
    "es_gradient": es_gradient,
    "identity": identity,
}


def register(name: str, factory: Callable[..., Adaptation]) -> None:
    _FACTORIES[name] = factory


def names() -> list[str]:
    return sorted(_FACTORIES)


def make(name: str, **kwargs) -> Adaptation:
    """Build a registered operator; options the operator does not take are an error."""
    import inspect

    if name not in _FACTORIES:
        raise ValueError(f"unknown adaptation operator {name!r}; known: {', '.join(names())}")
    factory = _FACTORIES[name]
    accepted = inspect.signature(factory).parameters
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"adaptation {name!r} takes no option(s) {unknown}; "
                         f"it takes {sorted(accepted)}")
    return factory(**kwargs)
