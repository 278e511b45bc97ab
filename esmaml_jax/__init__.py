"""esmaml-jax: ES-MAML (Song et al., ICLR 2020) as one fused, jit-compiled JAX program.

We MAXIMISE return everywhere (optax minimises: the algorithms pass it the negated ES gradient).
"""

from esmaml_jax import adaptation, estimators, memory, normalization, pg, policies, shaping
from esmaml_jax.algorithms import Algorithm, MetaState, first_order, pg_maml, zero_order
from esmaml_jax.objectives import (
    Objective,
    blackbox_objective,
    regression_objective,
    rl_objective,
)

__all__ = [
    "Algorithm",
    "MetaState",
    "Objective",
    "adaptation",
    "blackbox_objective",
    "estimators",
    "first_order",
    "memory",
    "normalization",
    "pg",
    "pg_maml",
    "policies",
    "regression_objective",
    "rl_objective",
    "shaping",
    "zero_order",
]
