"""Adaptation operators U(theta, T) (Sec. 3.3): pure functions, built by factories.

Like an optax transformation, an operator is a NamedTuple of pure functions made by a factory that
closes over static choices (number of queries K, estimator type). Continuous settings (sigma,
step size) live in a ``hparams`` dict that the algorithm keeps in its state, so a sweep can vmap
over them without recompiling.

An operator is an ask/tell loop of ``num_rounds`` rounds of ``round_size`` queries each (static):

- ``start(key, theta [D], hparams, op_state) -> carry``
- ``ask(carry, round, hparams, op_state) -> (carry, keys [Q], points [Q, D])``: the round's
  queries, each with its rollout key (queries that share a key share their randomness: common
  random numbers);
- ``tell(carry, round, values [Q], grads, hparams, op_state) -> carry`` (``grads`` [Q, D] the
  gradients of the values when ``uses_gradients``, else None);
- ``finish(carry, hparams, op_state) -> (adapted [D], info)`` with ``info["pre_value"]`` (f at
  the unadapted theta when the operator measured it, else NaN) and operator-specific entries.

`adapt_batch` runs B operators at once (one per item: a perturbed policy and its task) with each
round's B Q queries evaluated as ONE flat batch, so an algorithm's rollouts never nest under
several ``vmap`` axes (on a CPU a nested batch shape costs up to several times more). The method
``Adaptation.adapt(key, params, f, hparams, op_state)`` is the same for one item with a
one-query function ``f(key, params) -> (value, aux)``: ``(adapted, info)``, ``info["aux"]`` the
summed additive statistics of its queries (None when it made none). ``num_queries`` is the
static number of objective evaluations one call spends.

An optional ``draw(key, num_params, hparams)`` is the part of a call's randomness that depends
on its key alone; items that share a key share it, computed once (`draws_shared`; the ES step's
directions, whose k-DPP under DPP-ES is an eigendecomposition per draw).
"""

from esmaml_jax.adaptation.asebo import ASEBO_FORMS, AseboState, asebo
from esmaml_jax.adaptation.core import (
    Adaptation,
    BatchQueryFn,
    QueryFn,
    adapt_batch,
    corrupt_queries,
    draws_shared,
    hparam,
)
from esmaml_jax.adaptation.es import (
    HILL_CLIMB_MODES,
    autodiff_gradient,
    dpp_es,
    es_gradient,
    hill_climb,
    identity,
)
from esmaml_jax.adaptation.rbo import RBO_REGRESSIONS, rbo

__all__ = ["ASEBO_FORMS", "Adaptation", "AseboState", "BatchQueryFn", "HILL_CLIMB_MODES",
           "QueryFn", "RBO_REGRESSIONS", "adapt_batch", "asebo", "autodiff_gradient",
           "corrupt_queries", "dpp_es", "draws_shared", "es_gradient", "hill_climb", "hparam",
           "identity", "rbo"]
