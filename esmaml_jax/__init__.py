"""esmaml-jax: ES-MAML (Song et al., ICLR 2020) as one fused, jit-compiled JAX program.

We MAXIMISE return everywhere (optax minimises: the algorithms pass it the negated ES gradient).
"""

from esmaml_jax import (
    adaptation,
    compiler,
    estimators,
    normalization,
    pg,
    policies,
    serialization,
    shaping,
)
from esmaml_jax.algorithms import Algorithm, MetaState, first_order, pg_maml, zero_order
from esmaml_jax.compiler import compiler_options, jit
from esmaml_jax.objectives import (
    Objective,
    blackbox_objective,
    regression_objective,
    rl_objective,
)

serialization.register()  # jax.export can serialize a meta-step with no user registration

__all__ = [
    "Algorithm",
    "MetaState",
    "Objective",
    "adaptation",
    "blackbox_objective",
    "compiler",
    "compiler_options",
    "estimators",
    "first_order",
    "jit",
    "normalization",
    "pg",
    "pg_maml",
    "policies",
    "regression_objective",
    "rl_objective",
    "shaping",
    "zero_order",
]
