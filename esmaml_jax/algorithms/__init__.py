"""ES-MAML algorithms: zero-order (Alg. 2/3) and first-order (Alg. 5); PG-MAML baselines."""

from esmaml_jax.algorithms.base import Algorithm, MetaState
from esmaml_jax.algorithms.first_order import first_order
from esmaml_jax.algorithms.pg_maml import pg_maml
from esmaml_jax.algorithms.zero_order import zero_order

__all__ = ["Algorithm", "MetaState", "first_order", "pg_maml", "zero_order"]
